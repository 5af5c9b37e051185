"""Claiming outbox rows: leases, one row in flight per subscription, records."""

from __future__ import annotations

from sqlalchemy import select

from leadq.service.outbox import AttemptResult, claim_due, has_due_rows, record_attempt
from leadq.service.webhooks import DELIVERED, PENDING, SENDING, delete_subscription
from leadq.store.database import now_micros
from leadq.store.tables import deliveries, outbox

LEASE = 60_000_000


def rows(store):
    with store.read() as connection:
        return connection.execute(select(outbox).order_by(outbox.c.id)).all()


def later(seconds: float = 1.0) -> int:
    return now_micros() + int(seconds * 1e6)


def test_claim_takes_oldest_row_per_subscription(store, subscribe_two):
    first, second = subscribe_two(store)
    claims = claim_due(store, later(), 10, LEASE)
    by_subscription = {claim.subscription_id: claim for claim in claims}
    assert len(claims) == 2
    assert set(by_subscription) == {first, second}
    outbox_rows = rows(store)
    oldest = {row.subscription_id: row.id for row in reversed(outbox_rows)}
    assert by_subscription[first].outbox_id == oldest[first]
    assert by_subscription[second].outbox_id == oldest[second]


def test_claim_marks_row_sending_with_lease(store, subscribe_two):
    subscribe_two(store)
    now = later()
    claim = claim_due(store, now, 1, LEASE)[0]
    row = next(row for row in rows(store) if row.id == claim.outbox_id)
    assert row.status == SENDING
    assert row.attempts == 1
    assert row.next_attempt_at == now + LEASE
    assert claim.attempt == 1
    assert claim.lease_until == now + LEASE


def test_claim_skips_subscription_in_flight(store, subscribe_two):
    subscribe_two(store)
    now = later()
    assert len(claim_due(store, now, 10, LEASE)) == 2
    assert claim_due(store, now + 1, 10, LEASE) == []


def test_claim_retakes_expired_lease(store, subscribe_two):
    subscribe_two(store)
    now = later()
    first = claim_due(store, now, 1, LEASE)[0]
    again = claim_due(store, now + LEASE, 10, LEASE)
    retaken = [claim for claim in again if claim.outbox_id == first.outbox_id]
    assert len(retaken) == 1
    assert retaken[0].attempt == 2
    assert retaken[0].delivery_id == first.delivery_id


def test_claim_respects_limit(store, subscribe_two):
    subscribe_two(store)
    assert len(claim_due(store, later(), 1, LEASE)) == 1


def test_claim_ignores_rows_not_due(store, subscribe_two):
    subscribe_two(store)
    past = now_micros() - 60_000_000
    assert not has_due_rows(store, past)
    assert claim_due(store, past, 10, LEASE) == []


def test_record_delivered_frees_subscription(store, subscribe_two):
    subscribe_two(store)
    now = later()
    claim = claim_due(store, now, 1, LEASE)[0]
    result = AttemptResult(now, 204, None, 12.5)
    assert record_attempt(store, claim, result, DELIVERED, claim.lease_until)

    row = next(row for row in rows(store) if row.id == claim.outbox_id)
    assert row.status == DELIVERED
    assert row.delivered_at == now
    following = claim_due(store, now + 1, 10, LEASE)
    same_subscription = [
        item for item in following if item.subscription_id == claim.subscription_id
    ]
    assert len(same_subscription) == 1
    assert same_subscription[0].outbox_id > claim.outbox_id


def test_record_after_lost_lease_only_logs(store, subscribe_two):
    subscribe_two(store)
    now = later()
    stale = claim_due(store, now, 1, LEASE)[0]
    claim_due(store, now + LEASE, 10, LEASE)
    result = AttemptResult(now, 200, None, 3.0)
    assert not record_attempt(store, stale, result, DELIVERED, now)

    row = next(row for row in rows(store) if row.id == stale.outbox_id)
    assert row.status == SENDING
    assert row.attempts == 2
    with store.read() as connection:
        logged = connection.execute(select(deliveries)).all()
    assert [(item.outbox_id, item.attempt, item.status_code) for item in logged] == [
        (stale.outbox_id, 1, 200)
    ]


def test_record_retry_sets_next_attempt(store, subscribe_two):
    subscribe_two(store)
    now = later()
    claim = claim_due(store, now, 1, LEASE)[0]
    retry_at = now + 30_000_000
    record_attempt(
        store, claim, AttemptResult(now, 500, "boom", 4.0), PENDING, retry_at
    )

    row = next(row for row in rows(store) if row.id == claim.outbox_id)
    assert row.status == PENDING
    assert row.next_attempt_at == retry_at
    retried = [
        item
        for item in claim_due(store, retry_at, 10, LEASE)
        if item.outbox_id == row.id
    ]
    assert len(retried) == 1
    assert retried[0].attempt == 2


def test_delete_subscription_cancels_rows(store, subscribe_two):
    first, second = subscribe_two(store)
    with store.write() as connection:
        assert delete_subscription(connection, first, now_micros())
        assert not delete_subscription(connection, first, now_micros())
    statuses = {(row.subscription_id, row.status) for row in rows(store)}
    assert statuses == {(first, "cancelled"), (second, PENDING)}
    claims = claim_due(store, later(), 10, LEASE)
    assert [claim.subscription_id for claim in claims] == [second]
