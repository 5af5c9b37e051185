"""Fixtures of the service tests.

A webhook receiver and delivery workers; a running leadq server over each
test store, API keys and row builders.

The server is the real app under uvicorn, on a free port of 127.0.0.1, in a
thread of the test process. Tests write rows straight into the store with
SQLAlchemy Core, as the ingest and scoring code would.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from sqlalchemy import insert, select, update

from leadq.service.app import create_app
from leadq.service.delivery import DeliverySettings, DeliveryWorker
from leadq.service.keys import create_key
from leadq.store.database import Store
from leadq.store.tables import (
    accounts,
    events,
    identities,
    leads,
    model_versions,
    outbox,
    outcomes,
    qualifications,
    score_snapshots,
    stage_history,
    webhook_subscriptions,
)
from tests.service.webhook_receiver import QUICK, Receiver, free_port, stage_change, subscribe

# 2026-05-01T00:00:00Z in microseconds since the epoch.
T0 = 1_777_593_600_000_000
HOUR = 3_600_000_000


@pytest.fixture()
def server(store: Store) -> Iterator[str]:
    """Run the app on a free port; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(store, workers=False), log_level="warning", ws="none"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]})
    thread.start()
    _wait_until_started(running, thread)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)
    listener.close()


def _wait_until_started(running: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 60
    while not running.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 60 seconds")
        time.sleep(0.01)


@dataclass(frozen=True)
class Keys:
    read: str
    write: str
    admin: str


@pytest.fixture()
def keys(store: Store) -> Keys:
    with store.write() as connection:
        made = {
            kind: create_key(connection, kind, f"{kind} test key")
            for kind in ("read", "write", "admin")
        }
    return Keys(**made)


@pytest.fixture()
def client(server: str, keys: Keys) -> Iterator[httpx.Client]:
    """A client that sends the read key; pass other headers to override it."""
    headers = {"Authorization": f"Bearer {keys.read}"}
    with httpx.Client(
        base_url=server, headers=headers, trust_env=False, timeout=30
    ) as http:
        yield http


class Rows:
    """Insert rows of the service tables with defaults for the other columns."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.numbers = itertools.count(1)

    def _insert(self, table, values: dict) -> int:
        with self.store.write() as connection:
            return connection.execute(
                insert(table).values(**values)
            ).inserted_primary_key[0]

    def lead(self, **values) -> int:
        number = next(self.numbers)
        defaults = {
            "lead_key": f"user-{number:04d}",
            "email": f"person{number:04d}@example.com",
            "attributes": "{}",
            "created_at": T0 + number,
            "updated_at": T0 + number,
            "reached": "[]",
        }
        return self._insert(leads, {**defaults, **values})

    def scored_lead(
        self, fit: float, engagement: float, product: float, **values
    ) -> int:
        scores = {
            "fit": fit,
            "engagement": engagement,
            "product": product,
            "total": fit + engagement + product,
            "grade": "A"
            if fit >= 75
            else "B"
            if fit >= 50
            else "C"
            if fit >= 25
            else "D",
            "stage": "unqualified",
            "scored_at": T0 + HOUR,
        }
        return self.lead(**{**scores, **values})

    def account(self, group_id: str, traits: dict) -> int:
        values = {
            "group_id": group_id,
            "traits": json.dumps(traits),
            "created_at": T0,
            "updated_at": T0,
        }
        return self._insert(accounts, values)

    def model_version(self, body: str, *, active: bool = False) -> int:
        values = {
            "name": "test model",
            "version": "7",
            "body": body,
            "digest": "0" * 64,
            "created_at": T0,
            "activated_at": T0 if active else None,
            "is_active": active,
        }
        if active:
            # One version is active at a time, as activation leaves it; the
            # app activates the built-in model when it starts.
            with self.store.write() as connection:
                connection.execute(update(model_versions).values(is_active=False))
        return self._insert(model_versions, values)

    def event(self, lead_id: int | None, name: str, ts: int, **values) -> int:
        number = next(self.numbers)
        defaults = {
            "message_id": f"message-{number}",
            "lead_id": lead_id,
            "event_name": name,
            "ts": ts,
            "received_at": ts + 1,
            "properties": "{}",
            "source": "track",
        }
        return self._insert(events, {**defaults, **values})

    def identity(self, lead_id: int | None, kind: str, value: str) -> int:
        values = {"kind": kind, "value": value, "lead_id": lead_id, "created_at": T0}
        return self._insert(identities, values)

    def stage_change(
        self, lead_id: int, at: int, old: str | None, new: str, **values
    ) -> int:
        row = {
            "lead_id": lead_id,
            "at": at,
            "old_stage": old,
            "new_stage": new,
            "cause": "event",
        }
        return self._insert(stage_history, {**row, **values})

    def snapshot(self, lead_id: int, at: int, total: float, **values) -> int:
        row = {
            "lead_id": lead_id,
            "at": at,
            "fit": total,
            "engagement": 0.0,
            "product": 0.0,
            "total": total,
            "grade": "A",
            "stage": "mql",
        }
        return self._insert(score_snapshots, {**row, **values})

    def outcome(self, lead_id: int, at: int) -> int:
        row = {
            "lead_id": lead_id,
            "outcome": "converted",
            "at": at,
            "value": 1200.0,
            "source": "import",
        }
        return self._insert(outcomes, row)

    def qualification(
        self, lead_id: int, at: int, answers: dict, result: str = "passed", **values
    ) -> int:
        """Insert a BANT qualification; `answers` maps criteria to values."""
        row = {
            "lead_id": lead_id,
            "framework": "bant",
            "framework_version": "1",
            "answers": json.dumps(
                {name: {"value": value, "note": None} for name, value in answers.items()}
            ),
            "author": "test author",
            "at": at,
            "result": result,
            "reasons": "[]",
            "score": 0.0,
        }
        return self._insert(qualifications, {**row, **values})

    def subscription(self) -> int:
        row = {
            "url": "http://127.0.0.1:9/hook",
            "secret": "test secret",
            "event_types": json.dumps(["lead.stage_changed"]),
            "created_at": T0,
        }
        return self._insert(webhook_subscriptions, row)

    def webhook(self, subscription_id: int, data: dict, status: str = "pending") -> int:
        number = next(self.numbers)
        delivery_id = f"00000000-0000-4000-8000-{number:012d}"
        body = {
            "id": delivery_id,
            "type": "lead.stage_changed",
            "created_at": T0,
            "data": data,
        }
        row = {
            "subscription_id": subscription_id,
            "event_type": "lead.stage_changed",
            "payload": json.dumps(body),
            "delivery_id": delivery_id,
            "created_at": T0,
            "status": status,
            "attempts": 0 if status == "pending" else 1,
            "next_attempt_at": T0,
        }
        return self._insert(outbox, row)

    def record(self, lead_id: int) -> dict:
        with self.store.read() as connection:
            row = connection.execute(select(leads).where(leads.c.id == lead_id)).one()
        return dict(row._mapping)


@pytest.fixture()
def rows(store: Store) -> Rows:
    return Rows(store)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    running = Receiver(free_port()).start()
    yield running
    running.stop()


@pytest.fixture()
def start_worker() -> Iterator[Callable[..., DeliveryWorker]]:
    """Start delivery workers that the test stops, or that stop after it."""
    workers: list[DeliveryWorker] = []

    def start(store: Store, settings: DeliverySettings = QUICK) -> DeliveryWorker:
        worker = DeliveryWorker(store, settings).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture()
def subscribe_two():
    """A factory of two subscriptions with three pending webhooks each."""

    def make(store: Store) -> tuple[int, int]:
        first = subscribe(store, "http://127.0.0.1:9/first")
        second = subscribe(store, "http://127.0.0.1:9/second")
        for lead_id in range(3):
            assert stage_change(store, lead_id) == 2
        return first, second

    return make
