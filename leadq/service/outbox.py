"""Claim due outbox rows for sending and record how each attempt went.

A worker claims a row by setting it to `sending`, counting the attempt
and moving `next_attempt_at` to the end of a lease, all in one short write
transaction. It sends outside any transaction, then records the attempt in
a second one. So no other worker takes the row while it is in flight. If
the worker dies before it records the attempt, the lease expires and the
row is sent again: delivery is at least once, and receivers drop repeats
by the delivery id.

Claims are safe when several workers or processes run at once. On
PostgreSQL the chosen rows are locked with FOR UPDATE SKIP LOCKED, so
concurrent claimers pass over each other's rows instead of waiting. On
SQLite the write transaction holds the database's only write lock. In
both, the claim is a compare-and-set on the attempt count.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, insert, select, update

from leadq.service.webhooks import DELIVERED, FAILED, PENDING, SENDING
from leadq.store.database import Store
from leadq.store.tables import deliveries, outbox, webhook_subscriptions


@dataclass(frozen=True)
class Claim:
    """An outbox row that one worker may send until `lease_until`."""

    outbox_id: int
    subscription_id: int
    delivery_id: str
    event_type: str
    payload: str
    url: str
    secret: str
    attempt: int
    lease_until: int


@dataclass(frozen=True)
class AttemptResult:
    started_at: int
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def has_due_rows(store: Store, now: int) -> bool:
    """Check, without the write lock, whether any row is ready to claim."""
    with store.read() as connection:
        query = (
            select(outbox.c.id)
            .join(
                webhook_subscriptions,
                outbox.c.subscription_id == webhook_subscriptions.c.id,
            )
            .where(_is_due(now), webhook_subscriptions.c.active.is_(True))
            .limit(1)
        )
        return connection.execute(query).first() is not None


def claim_due(store: Store, now: int, limit: int, lease_micros: int) -> list[Claim]:
    """Claim up to `limit` due rows, at most one per subscription.

    Each subscription gets its oldest due row, and none while another of
    its rows is in flight, so one subscription's webhooks go out one at a
    time in outbox order. A row waiting for a retry does not hold back the
    newer rows of its subscription.
    """
    with store.write() as connection:
        rows = connection.execute(_next_rows_query(now, limit)).all()
        claims = [_claim(connection, row, now, now + lease_micros) for row in rows]
    return [claim for claim in claims if claim is not None]


def record_attempt(
    store: Store,
    claim: Claim,
    result: AttemptResult,
    next_status: str,
    next_attempt_at: int,
) -> bool:
    """Log the attempt and move the row to its next state.

    Returns False if the row changed hands meanwhile (its lease expired and
    another worker claimed it, or its subscription was deleted). Then only
    the log row is written.
    """
    with store.write() as connection:
        connection.execute(
            insert(deliveries).values(
                outbox_id=claim.outbox_id,
                attempt=claim.attempt,
                at=result.started_at,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
        values = {"status": next_status, "next_attempt_at": next_attempt_at}
        if next_status == DELIVERED:
            values["delivered_at"] = result.started_at
        changed = connection.execute(
            update(outbox)
            .where(
                outbox.c.id == claim.outbox_id,
                outbox.c.status == SENDING,
                outbox.c.attempts == claim.attempt,
            )
            .values(**values)
        ).rowcount
    return changed == 1


def next_state(result: AttemptResult, attempt: int, max_attempts: int) -> str:
    if result.succeeded:
        return DELIVERED
    if attempt >= max_attempts:
        return FAILED
    return PENDING


def _is_due(now: int):
    return and_(
        outbox.c.status.in_((PENDING, SENDING)), outbox.c.next_attempt_at <= now
    )


def _next_rows_query(now: int, limit: int):
    # The oldest due row of each subscription...
    heads = (
        select(func.min(outbox.c.id))
        .where(_is_due(now))
        .group_by(outbox.c.subscription_id)
    )
    # ...unless another row of that subscription is in flight.
    busy = select(outbox.c.subscription_id).where(
        outbox.c.status == SENDING, outbox.c.next_attempt_at > now
    )
    return (
        select(
            outbox.c.id,
            outbox.c.subscription_id,
            outbox.c.delivery_id,
            outbox.c.event_type,
            outbox.c.payload,
            outbox.c.attempts,
            webhook_subscriptions.c.url,
            webhook_subscriptions.c.secret,
        )
        .join(
            webhook_subscriptions,
            outbox.c.subscription_id == webhook_subscriptions.c.id,
        )
        .where(
            outbox.c.id.in_(heads),
            # Checked again on the locked row: PostgreSQL rereads a row that
            # another claimer changed, and then this condition excludes it.
            _is_due(now),
            outbox.c.subscription_id.not_in(busy),
            webhook_subscriptions.c.active.is_(True),
        )
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(of=outbox, skip_locked=True)
    )


def _claim(connection: Connection, row, now: int, lease_until: int) -> Claim | None:
    attempt = row.attempts + 1
    updated = connection.execute(
        update(outbox)
        .where(outbox.c.id == row.id, outbox.c.attempts == row.attempts, _is_due(now))
        .values(status=SENDING, attempts=attempt, next_attempt_at=lease_until)
    ).rowcount
    if updated != 1:
        return None
    return Claim(
        outbox_id=row.id,
        subscription_id=row.subscription_id,
        delivery_id=row.delivery_id,
        event_type=row.event_type,
        payload=row.payload,
        url=row.url,
        secret=row.secret,
        attempt=attempt,
        lease_until=lease_until,
    )
