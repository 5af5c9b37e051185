"""`leadq serve` killed with SIGKILL: pending webhooks still arrive after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.service.webhook_receiver import Receiver, free_port, stage_change, subscribe, wait_until

from leadq.store.tables import deliveries, outbox

# A short lease too: the kill may hit a row between its claim and its record.
QUICK_ENVIRONMENT = {
    "LEADQ_WEBHOOK_RETRY_BASE_SECONDS": "0.1",
    "LEADQ_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "0.3",
    "LEADQ_WEBHOOK_MAX_ATTEMPTS": "1000",
    "LEADQ_WEBHOOK_POLL_SECONDS": "0.05",
    "LEADQ_WEBHOOK_TIMEOUT_SECONDS": "0.5",
    "LEADQ_WEBHOOK_LEASE_SECONDS": "2.5",
}


class Server:
    """`leadq serve` as a subprocess, its output kept in a file."""

    def __init__(
        self, database_url: str, log: Path, environment: dict[str, str]
    ) -> None:
        self.port = free_port()
        self.log = log
        command = [sys.executable, "-m", "leadq", "serve", "--database", database_url]
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=os.environ | environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._ready, 30.0, f"leadq serve on port {self.port}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            output = self.log.read_text()
            pytest.fail(f"leadq serve exited with {self.process.returncode}:\n{output}")
        try:
            return (
                httpx.get(f"http://127.0.0.1:{self.port}/openapi.json").status_code
                == 200
            )
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture()
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def start_server(servers: list, store, tmp_path: Path, **environment: str) -> Server:
    server = Server(store.url, tmp_path / "serve.log", QUICK_ENVIRONMENT | environment)
    servers.append(server)
    return server


def outbox_row(store):
    with store.read() as connection:
        return connection.execute(select(outbox)).one()


def logged_attempts(store) -> list[tuple[int, int | None]]:
    with store.read() as connection:
        rows = connection.execute(select(deliveries).order_by(deliveries.c.id)).all()
    return [(row.attempt, row.status_code) for row in rows]


def test_delivery_after_kill_restart(store, tmp_path, servers):
    receiver = Receiver(free_port())
    subscribe(store, receiver.url)
    stage_change(store, lead_id=9)

    # The receiver is down: the server tries, fails and schedules retries.
    first = start_server(servers, store, tmp_path)
    wait_until(lambda: len(logged_attempts(store)) >= 1, 30.0, "a failed attempt")
    first.kill()
    assert outbox_row(store).status in ("pending", "sending")

    receiver.start()
    try:
        start_server(servers, store, tmp_path)
        arrived = receiver.wait_for(1)[0]
        wait_until(
            lambda: outbox_row(store).status == "delivered",
            30.0,
            "the row to be delivered",
        )
    finally:
        receiver.stop()
    row = outbox_row(store)
    assert arrived.signature_error is None
    assert arrived.delivery_id == row.delivery_id
    assert arrived.payload["data"]["lead_id"] == 9
    assert all(status is None for _, status in logged_attempts(store)[:-1])
    assert logged_attempts(store)[-1] == (row.attempts, 200)


def test_in_flight_sent_again(store, tmp_path, servers, receiver):
    # The first request is held past the kill, so its attempt is never recorded.
    receiver.hold_seconds = 3.0
    subscribe(store, receiver.url)
    stage_change(store, lead_id=9)
    # The server must be killed before its 2 s timeout ends the request.
    timing = {
        "LEADQ_WEBHOOK_TIMEOUT_SECONDS": "2",
        "LEADQ_WEBHOOK_LEASE_SECONDS": "8.5",
    }

    first = start_server(servers, store, tmp_path, **timing)
    wait_until(lambda: receiver.started >= 1, 30.0, "the first request")
    first.kill()
    receiver.hold_seconds = 0.0
    assert outbox_row(store).status == "sending"

    start_server(servers, store, tmp_path, **timing)
    wait_until(
        lambda: outbox_row(store).status == "delivered", 30.0, "the row to be delivered"
    )
    row = outbox_row(store)
    arrived = receiver.wait_for(2)
    assert [item.delivery_id for item in arrived] == [row.delivery_id, row.delivery_id]
    assert all(item.signature_error is None for item in arrived)
    assert row.attempts == 2
    assert logged_attempts(store) == [(2, 200)]
