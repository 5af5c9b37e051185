"""`leadq serve --workers 2`: two processes serve requests on one store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from sqlalchemy import func, select

from leadq.store.database import open_store
from leadq.store.tables import events, leads, stage_history
from leadq.store.writer_queue import WriterQueue
from tests.conftest import STORE_DIALECTS, database_url
from tests.service.servers import LEADQ, Server, create_key, free_port, leadq
from tests.service.webhook_receiver import Receiver, subscribe, wait_until

MODEL = """
name: worker processes test model
version: 1
key: email
engagement:
  rules:
    - {id: ping, event: ping, points: 1}
stages:
  - {id: sql, sticky: true, when: {score: engagement, at_least: 30}}
  - {id: mql, when: {score: engagement, at_least: 10}}
  - {id: unqualified}
"""


def ping(message_id: str) -> dict:
    return {"userId": "u-many", "event": "ping", "messageId": message_id, "timestamp": "2026-01-05T10:00:00Z"}


@pytest.fixture(params=STORE_DIALECTS)
def served(request, tmp_path):
    """A store with the model and keys, a receiver subscribed to stage changes, and the server."""
    with database_url(request.param, tmp_path) as url:
        model = tmp_path / "model.yaml"
        model.write_text(MODEL, encoding="utf-8")
        done = leadq("model", "activate", str(model), "--database", url)
        assert done.returncode == 0, done.stderr
        store = open_store(url, upgrade=False)
        receiver = Receiver(free_port()).start()
        subscribe(store, receiver.url)
        server = Server(url, free_port(), tmp_path / "serve.log").start("--workers", "2")
        try:
            yield store, create_key(url, "write"), server, receiver
        finally:
            server.stop()
            receiver.stop()
            store.dispose()


def test_two_processes_score_exactly(served):
    store, write_key, server, receiver = served
    main = psutil.Process(server.process.pid)
    processes = [main, *main.children(recursive=True)]
    # uvicorn's supervisor also runs multiprocessing's resource tracker.
    assert len(processes) >= 3
    # 35 distinct messages, some sent twice, spread over both processes.
    ids = [f"many-{index % 35}" for index in range(60)]

    def send(message_id: str) -> int:
        answer = httpx.post(f"{server.base}/v1/track", json=ping(message_id), auth=(write_key, ""), timeout=60)
        return answer.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(send, ids))

    assert statuses == [200] * 60
    with store.read() as connection:
        lead = connection.execute(select(leads).where(leads.c.lead_key == "u-many")).one()
        stored = connection.execute(select(func.count()).select_from(events)).scalar_one()
        history = connection.execute(
            select(stage_history.c.new_stage).where(stage_history.c.lead_id == lead.id).order_by(stage_history.c.id)
        ).scalars().all()
    assert stored == 35
    assert lead.engagement == 35.0
    assert lead.stage == "sql"
    assert history[-1] == "sql"
    # The parent process delivers the webhooks that the worker processes wrote.
    arrived = receiver.wait_for(1)
    assert arrived[-1].signature_error is None
    assert [json.loads(item.body)["data"]["stage"] for item in arrived][-1] == "sql"

    server.stop()
    _, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == []


def test_workers_below_one_rejected(tmp_path):
    done = leadq("serve", "--database", f"sqlite:///{tmp_path / 'leadq.db'}", "--workers", "0")
    assert done.returncode == 2
    assert "--workers 0" in done.stderr
    assert "1 or more" in done.stderr


def test_writer_queue_admits_one_holder(tmp_path):
    queue = WriterQueue(tmp_path / "leadq.db")
    holding, entered, release = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with queue.held():
            holding.set()
            release.wait(30)

    def second() -> None:
        holding.wait(30)
        with queue.held():
            entered.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    holding.wait(30)
    # The second holder cannot enter while the first holds the lock.
    assert not entered.wait(0.3)
    release.set()
    wait_until(entered.is_set, 30.0, "the second holder to enter")
    for thread in threads:
        thread.join(30)
    assert (tmp_path / "leadq.db-lock").exists()


def test_writer_queue_nested_call_returns(tmp_path):
    queue = WriterQueue(tmp_path / "leadq.db")
    with queue.held():
        with queue.held():
            nested = True
    assert nested
    # The outer call released the lock, so another thread takes it.
    done = threading.Event()

    def take() -> None:
        with queue.held():
            done.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert done.wait(30)
    thread.join(30)


def test_killed_parent_ends_its_workers(tmp_path):
    url = f"sqlite:///{tmp_path / 'leadq.db'}"
    port = free_port()
    first = Server(url, port, tmp_path / "first.log").start("--workers", "2")
    main = psutil.Process(first.process.pid)
    children = main.children(recursive=True)
    first.kill()

    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []
    # The port is free again for a new server.
    second = Server(url, port, tmp_path / "second.log").start("--workers", "2")
    try:
        assert httpx.get(f"{second.base}/openapi.json", timeout=10).status_code == 200
    finally:
        second.stop()


def test_writer_queue_nested_across_views(tmp_path):
    # Store.with_artefacts makes a second queue object for the same database.
    first, second = WriterQueue(tmp_path / "leadq.db"), WriterQueue(tmp_path / "leadq.db")
    done = threading.Event()

    def nest() -> None:
        with first.held():
            with second.held():
                done.set()

    # In a thread, so a queue that waits for itself fails the test instead of hanging it.
    thread = threading.Thread(target=nest, daemon=True)
    thread.start()
    assert done.wait(30)


@pytest.mark.parametrize(("dialect", "workers"), [("sqlite", "1"), ("postgresql", "2")])
def test_interrupted_serve_prints_no_leak_report(tmp_path, dialect, workers):
    """Ctrl-C reaches every process of the terminal's process group, the group writers too."""
    with database_url(dialect, tmp_path) as url:
        port = free_port()
        command = [*LEADQ, "serve", "--database", url, "--port", str(port), "--workers", workers]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            wait_until(lambda: _answers(f"http://127.0.0.1:{port}/openapi.json"), 60, "leadq serve to answer")
        finally:
            os.killpg(process.pid, signal.SIGINT)
            output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "leadq serve stopped" in output
    assert "nanobind" not in output


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
