"""Tracking groups written in a child process, as `leadq serve` does on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import pickle
import re
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import func, select, update

from leadq.service.errors import ApiError
from leadq.service.group_process import GroupProcess, GroupProcessError, sendable
from leadq.service.ingest import Message
from leadq.service.keys import create_key, key_hash
from leadq.service.stored_json import DamagedLeadRow
from leadq.service.tracking import screen_requests
from leadq.service.tracking_writer import TrackingRequest, TrackingWriter
from leadq.store.database import open_store
from leadq.store.tables import events, leads
from tests.conftest import database_url
from tests.service.servers import Server, free_port


def ping(user: str, message_id: str) -> Message:
    return Message("track", message_id, user_id=user, event="demo_requested")


def request(key: str, *messages: Message) -> TrackingRequest:
    return TrackingRequest(list(messages), [""] * len(messages), key_hash(key))


def count_events(store) -> int:
    with store.read() as connection:
        return connection.execute(select(func.count()).select_from(events)).scalar_one()


@pytest.fixture()
def write_key(store) -> str:
    with store.write() as connection:
        return create_key(connection, "write", "tracking")


@pytest.fixture()
def group_process(store):
    process = GroupProcess(store.url, str(store.artefacts), screen_requests, os.getpid())
    yield process
    process.stop()


def test_group_written_in_the_child(store, write_key, group_process):
    outcomes = group_process.write(
        [request(write_key, ping("u1", "a-1")), request(write_key, ping("u2", "b-1"), ping("u2", "a-1"))]
    )

    assert [(outcome.stored, outcome.repeated) for outcome in outcomes] == [(1, 0), (1, 1)]
    assert count_events(store) == 2
    assert group_process.pid != os.getpid()


def test_screen_error_reaches_the_parent_whole(store, write_key, group_process):
    outcomes = group_process.write([request("lq_write_revoked", ping("u1", "r-1")), request(write_key, ping("u1", "r-2"))])

    assert isinstance(outcomes[0], ApiError)
    assert (outcomes[0].status, outcomes[0].code) == (401, "unknown_key")
    assert outcomes[1].stored == 1
    assert count_events(store) == 1


def test_killed_child_replaced(store, write_key, group_process):
    group_process.write([request(write_key, ping("u1", "k-1"))])
    os.kill(group_process.pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(group_process.pid)], timeout=30)

    outcomes = group_process.write([request(write_key, ping("u1", "k-2"))])

    assert outcomes[0].stored == 1
    assert count_events(store) == 2


def test_group_error_keeps_type_and_traceback(store, write_key, group_process):
    group_process.write([request(write_key, ping("u-damaged", "d-1"))])
    with store.write() as connection:
        connection.execute(update(leads).where(leads.c.lead_key == "u-damaged").values(attributes="[1, 2]"))

    with pytest.raises(DamagedLeadRow) as raised:
        group_process.write([request(write_key, ping("u-damaged", "d-2"))])

    assert raised.value.lead_id is not None
    assert "are not a JSON object" in str(raised.value)
    assert any("Traceback" in note for note in raised.value.__notes__)
    assert count_events(store) == 1


def test_errors_cross_processes_with_every_field():
    nested = ApiError(400, "invalid_value", "first answer", "answers.budget", 7)
    error = ApiError(410, "webhook_deleted", "gone", "id", 3, [nested], {"deleted_at": "2026-12-01T00:00:00Z"})

    copied = pickle.loads(pickle.dumps(error))

    assert copied.body() == error.body()
    assert copied.status == 410
    damaged = pickle.loads(pickle.dumps(DamagedLeadRow(12, "lead 12 is damaged")))
    assert (damaged.lead_id, str(damaged)) == (12, "lead 12 is damaged")


class Unpicklable(Exception):
    def __init__(self, message: str, handle) -> None:
        super().__init__(message)
        self.handle = handle


def test_unpicklable_error_becomes_a_named_error():
    error = Unpicklable("the socket broke", lambda: None)
    error.add_note("Traceback (most recent call last): ...")

    sent = sendable(error)

    assert isinstance(sent, GroupProcessError)
    assert str(sent) == "Unpicklable: the socket broke"
    assert sent.__notes__ == ["Traceback (most recent call last): ..."]


def test_writer_answers_requests_through_the_child(store, write_key):
    writer = TrackingWriter(store, screen_requests, own_process=True)

    async def send_all():
        sends = [writer.write(request(write_key, ping(f"u{index % 3}", f"w-{index}"))) for index in range(30)]
        return await asyncio.gather(*sends)

    try:
        results = asyncio.run(send_all())
    finally:
        writer.stop()

    assert [result.stored for result in results] == [1] * 30
    assert count_events(store) == 30


def group_writers(server: Server) -> list[psutil.Process]:
    """Return the server's tracking group processes, found by the command line that each shows."""
    return _titled(server, "leadq serve: tracking group process of ")


def _titled(server: Server, title: str) -> list[psutil.Process]:
    children = psutil.Process(server.process.pid).children(recursive=True)
    return [child for child in children if " ".join(child.cmdline()).startswith(title)]


def write_key_of(url: str) -> str:
    store = open_store(url, upgrade=False)
    try:
        with store.write() as connection:
            return create_key(connection, "write", "tracking")
    finally:
        store.dispose()


def wait_for_group_writers(server: Server, count: int) -> list[psutil.Process]:
    """Return the group processes once `count` HTTP processes have each started theirs.

    `leadq serve` accepts requests as soon as one HTTP process is up, while the others may still start.
    """
    deadline = time.monotonic() + 30
    while True:
        writers = group_writers(server)
        if len(writers) == count or time.monotonic() > deadline:
            return writers
        time.sleep(0.1)


def test_serve_child_ends_with_parent(tmp_path: Path):
    with database_url("postgresql", tmp_path) as url:
        server = Server(url, free_port(), tmp_path / "serve.log").start()
        children = psutil.Process(server.process.pid).children(recursive=True)
        try:
            assert len(group_writers(server)) == 1
            assert httpx.get(f"{server.base}/openapi.json", timeout=10).status_code == 200
        finally:
            server.kill()
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []


def test_child_outlasts_a_sigterm_until_the_parent_stops(tmp_path: Path):
    """A service manager's SIGTERM reaches every process, but the parent, not the signal, ends the child."""
    with database_url("postgresql", tmp_path) as url:
        server = Server(url, free_port(), tmp_path / "serve.log").start()
        try:
            key = write_key_of(url)
            [writer] = group_writers(server)
            writer.send_signal(signal.SIGTERM)
            body = {"userId": "u-term", "event": "ping", "messageId": "term-1"}
            answer = httpx.post(f"{server.base}/v1/track", json=body, auth=(key, ""), timeout=30)
            assert answer.status_code == 200, answer.text
            assert writer.is_running()
        finally:
            server.stop()
        psutil.wait_procs([writer], timeout=30)
        assert not writer.is_running()
        log = server.log.read_text()
        assert "leadq serve stopped" in log
        assert "tracking group process ended" not in log


def test_child_that_cannot_open_the_store_is_named(tmp_path: Path):
    missing = tmp_path / "no such folder" / "leadq.db"

    with pytest.raises(GroupProcessError, match=r"failed to start \(exit code 1\)"):
        GroupProcess(f"sqlite:///{missing}", str(tmp_path), screen_requests, os.getpid())


def test_worker_logs_replaced_child(tmp_path: Path):
    with database_url("postgresql", tmp_path) as url:
        server = Server(url, free_port(), tmp_path / "serve.log").start("--workers", "2")
        try:
            key = write_key_of(url)
            writers = wait_for_group_writers(server, 2)
            for writer in writers:
                writer.kill()
            for index in range(20):
                body = {"userId": f"u-{index}", "event": "ping", "messageId": f"replaced-{index}"}
                answer = httpx.post(f"{server.base}/v1/track", json=body, auth=(key, ""), timeout=30)
                assert answer.status_code == 200, answer.text
        finally:
            server.stop()
        lines = [line for line in server.log.read_text().splitlines() if "tracking group process ended" in line]
        assert lines
        # Search, not match: DuckDB's report of leaked objects at a process's
        # exit ends without a newline, so another process's line can follow it.
        for line in lines:
            assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ERROR leadq.service: the tracking group", line), line


def test_spawned_processes_show_leadq_titles(tmp_path: Path):
    with database_url("postgresql", tmp_path) as url:
        server = Server(url, free_port(), tmp_path / "serve.log").start("--workers", "2")
        try:
            writers = wait_for_group_writers(server, 2)
            http = _titled(server, f"leadq serve: HTTP process of {server.process.pid}")
            parents = {writer.ppid() for writer in writers}
        finally:
            server.stop()
    assert len(writers) == 2
    assert len(http) == 2
    assert parents == {process.pid for process in http}
