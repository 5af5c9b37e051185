"""The delivery worker against a real receiver on 127.0.0.1."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from sqlalchemy import select
from tests.service.webhook_receiver import QUICK, free_port, stage_change, subscribe, wait_until

from leadq.errors import OptionError
from leadq.service.delivery import (
    DeliverySettings,
    retry_delay,
    settings_from_environment,
)
from leadq.service.webhooks import delete_subscription
from leadq.store.database import now_micros, open_store
from leadq.store.tables import deliveries, outbox


def outbox_rows(store):
    with store.read() as connection:
        return connection.execute(select(outbox).order_by(outbox.c.id)).all()


def attempts(store):
    with store.read() as connection:
        return connection.execute(select(deliveries).order_by(deliveries.c.id)).all()


def wait_for_status(store, status: str, count: int = 1) -> list:
    def reached() -> bool:
        return sum(row.status == status for row in outbox_rows(store)) >= count

    wait_until(reached, 20.0, f"{count} outbox rows to be {status}")
    return outbox_rows(store)


def test_delivery_signed_and_logged(store, receiver, start_worker):
    subscription_id = subscribe(store, receiver.url)
    stage_change(store, lead_id=42)
    start_worker(store)

    arrived = receiver.wait_for(1)[0]
    row = wait_for_status(store, "delivered")[0]
    assert arrived.signature_error is None
    assert arrived.delivery_id == row.delivery_id
    assert arrived.event_type == "lead.stage_changed"
    assert arrived.payload["data"] == {
        "lead_id": 42,
        "old_stage": "mql",
        "new_stage": "sql",
    }
    assert arrived.body == row.payload.encode()
    assert arrived.headers["content-type"] == "application/json"
    assert row.subscription_id == subscription_id
    assert row.attempts == 1
    assert row.delivered_at is not None

    logged = attempts(store)
    assert len(logged) == 1
    assert logged[0].outbox_id == row.id
    assert logged[0].attempt == 1
    assert logged[0].status_code == 200
    assert logged[0].error is None
    assert logged[0].duration_ms > 0


def test_delivery_retries_after_server_error(store, receiver, start_worker):
    receiver.statuses = [500]
    subscribe(store, receiver.url)
    stage_change(store, lead_id=1)
    start_worker(store)

    first, second = receiver.wait_for(2)
    row = wait_for_status(store, "delivered")[0]
    assert first.delivery_id == second.delivery_id == row.delivery_id
    assert first.status == 500
    assert second.status == 200
    assert row.attempts == 2

    logged = attempts(store)
    assert [(item.attempt, item.status_code) for item in logged] == [(1, 500), (2, 200)]
    assert logged[0].error == "no"
    assert logged[1].at - logged[0].at >= QUICK.retry_base_seconds * 1e6


def test_delivery_fails_after_max_attempts(store, receiver, start_worker):
    receiver.statuses = [503] * 10
    subscribe(store, receiver.url)
    stage_change(store, lead_id=1)
    start_worker(store, replace(QUICK, max_attempts=3))

    row = wait_for_status(store, "failed")[0]
    assert row.attempts == 3
    assert [item.status_code for item in attempts(store)] == [503, 503, 503]
    assert len(receiver.received) == 3


def test_delivery_logs_refused_connection(store, start_worker):
    subscribe(store, f"http://127.0.0.1:{free_port()}/closed")
    stage_change(store, lead_id=1)
    start_worker(store, replace(QUICK, max_attempts=1))

    wait_for_status(store, "failed")
    logged = attempts(store)
    assert len(logged) == 1
    assert logged[0].status_code is None
    assert logged[0].error.startswith("ConnectError: ")


def test_delivery_rejected_by_wrong_secret(store, receiver, start_worker):
    subscribe(store, receiver.url, secret="another-secret-of-enough-length")
    stage_change(store, lead_id=1)
    start_worker(store, replace(QUICK, max_attempts=1))

    arrived = receiver.wait_for(1)[0]
    wait_for_status(store, "failed")
    assert (
        arrived.signature_error == "no v1 signature in leadq-signature matches the body"
    )
    assert attempts(store)[0].status_code == 401


def test_delivery_order_per_subscription(store, receiver, start_worker):
    receiver.hold_seconds = 0.02
    first = subscribe(store, receiver.url + "/first")
    second = subscribe(store, receiver.url + "/second")
    for lead_id in range(8):
        stage_change(store, lead_id)
    start_worker(store)

    arrived = receiver.wait_for(16)
    rows = outbox_rows(store)
    for subscription_id, path in ((first, "/hooks/first"), (second, "/hooks/second")):
        expected = [
            row.delivery_id for row in rows if row.subscription_id == subscription_id
        ]
        assert [item.delivery_id for item in arrived if item.path == path] == expected
        assert receiver.max_concurrent[path] == 1


def test_two_workers_never_share_a_row(store, receiver, start_worker):
    receiver.hold_seconds = 0.01
    paths = [f"/s{index}" for index in range(4)]
    for path in paths:
        subscribe(store, receiver.url + path)
    for lead_id in range(10):
        stage_change(store, lead_id)
    # A second store has its own connections, as a second process would.
    other = open_store(store.url, upgrade=False)
    workers = [start_worker(store), start_worker(other)]
    try:
        arrived = receiver.wait_for(40)
        wait_for_status(store, "delivered", 40)
    finally:
        for worker in workers:
            worker.stop()
        other.dispose()

    delivery_ids = [item.delivery_id for item in arrived]
    assert len(delivery_ids) == 40
    assert len(set(delivery_ids)) == 40
    assert len(attempts(store)) == 40
    for path in paths:
        assert receiver.max_concurrent["/hooks" + path] == 1


def test_deleted_subscription_not_delivered(store, receiver, start_worker):
    remaining = subscribe(store, receiver.url + "/kept")
    dropped = subscribe(store, receiver.url + "/dropped")
    stage_change(store, lead_id=1)
    with store.write() as connection:
        delete_subscription(connection, dropped, now_micros())
    start_worker(store)

    arrived = receiver.wait_for(1)
    statuses = {row.subscription_id: row.status for row in outbox_rows(store)}
    assert [item.path for item in arrived] == ["/hooks/kept"]
    assert statuses[dropped] == "cancelled"
    assert remaining in statuses


def test_worker_wakes_for_new_rows(store, receiver, start_worker):
    subscribe(store, receiver.url)
    start_worker(store)
    for lead_id in range(3):
        stage_change(store, lead_id)
        receiver.wait_for(lead_id + 1)
    assert [item.payload["data"]["lead_id"] for item in receiver.received] == [0, 1, 2]


def test_retry_delay_doubles_and_caps():
    settings = DeliverySettings(retry_base_seconds=30, retry_max_delay_seconds=3600)
    rng = random.Random(7)
    for attempt, base in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (40, 3600)]:
        delay = retry_delay(attempt, settings, rng)
        assert base <= delay <= base * 1.2, attempt


def test_default_retries_exceed_day():
    settings = DeliverySettings()
    rng = random.Random(7)
    gaps = [
        retry_delay(attempt, settings, rng)
        for attempt in range(1, settings.max_attempts)
    ]
    assert sum(gaps) > 24 * 3600
    assert max(gaps) <= settings.retry_max_delay_seconds * 1.2


def test_settings_from_environment():
    settings = settings_from_environment(
        {"LEADQ_WEBHOOK_MAX_ATTEMPTS": "3", "LEADQ_WEBHOOK_RETRY_BASE_SECONDS": "0.5"}
    )
    assert settings.max_attempts == 3
    assert settings.retry_base_seconds == 0.5
    assert settings.timeout_seconds == DeliverySettings().timeout_seconds


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"LEADQ_WEBHOOK_MAX_ATTEMPTS": "2.5"},
            "LEADQ_WEBHOOK_MAX_ATTEMPTS must be a whole number, got '2.5'",
        ),
        (
            {"LEADQ_WEBHOOK_TIMEOUT_SECONDS": "soon"},
            "LEADQ_WEBHOOK_TIMEOUT_SECONDS must be a number, got 'soon'",
        ),
        (
            {"LEADQ_WEBHOOK_CONCURRENCY": "0"},
            "LEADQ_WEBHOOK_CONCURRENCY must be greater than 0",
        ),
        (
            {"LEADQ_WEBHOOK_LEASE_SECONDS": "40"},
            "LEADQ_WEBHOOK_LEASE_SECONDS (40) must be more than 4 times "
            "LEADQ_WEBHOOK_TIMEOUT_SECONDS (10), so that a send ends before "
            "another worker may take its webhook",
        ),
    ],
)
def test_settings_from_environment_invalid(environment, message):
    with pytest.raises(OptionError) as raised:
        settings_from_environment(environment)
    assert str(raised.value) == message
