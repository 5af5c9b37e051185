"""Webhooks: subscriptions, the outbox and the delivery log.

`enqueue` runs inside the transaction that changed a lead and writes one
outbox row per active subscription to the event type, so the change and
its webhooks commit together or not at all. `leadq.service.delivery` sends
the rows; this module creates, lists and deletes subscriptions and reads
what was sent.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from sqlalchemy import Connection, insert, select, update

from leadq.errors import LeadqError
from leadq.store.tables import deliveries, outbox, webhook_subscriptions

EVENT_TYPES = ("lead.created", "lead.stage_changed", "lead.merged", "qualification.recorded")

# Outbox row states. A row is `sending` while one worker sends it, and its
# `next_attempt_at` is then the end of that worker's lease.
PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"

SECRET_PREFIX = "whsec_"
MIN_SECRET_LENGTH = 24
MAX_SECRET_LENGTH = 256
MAX_URL_LENGTH = 2048


class SubscriptionError(LeadqError):
    """An invalid subscription request: the field at fault and what to change."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class SubscriptionNotFound(LeadqError):
    """No active webhook subscription has the id given."""

    exit_code = 2

    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"no webhook subscription has id {subscription_id}")
        self.subscription_id = subscription_id


class SubscriptionAlreadyRemoved(LeadqError):
    """A request to remove a webhook subscription that was deleted before."""

    exit_code = 2

    def __init__(self, subscription_id: int, removed_at: str | None) -> None:
        """`removed_at` is the time of the removal as text, or None when it was not recorded."""
        when = f"at {removed_at}" if removed_at is not None else "at a time that leadq did not record"
        super().__init__(
            f"webhook subscription {subscription_id} was already removed {when}; "
            "`leadq webhooks list` shows the active subscriptions"
        )
        self.subscription_id = subscription_id


@dataclass(frozen=True)
class Subscription:
    id: int
    url: str
    event_types: tuple[str, ...]
    active: bool
    created_at: int
    deleted_at: int | None = None


@dataclass(frozen=True)
class Attempt:
    attempt: int
    at: int
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True)
class OutboxEntry:
    """One webhook to send and the attempts made so far, oldest first."""

    id: int
    delivery_id: str
    event_type: str
    status: str
    created_at: int
    next_attempt_at: int
    delivered_at: int | None
    attempts: tuple[Attempt, ...]


def enqueue(connection: Connection, event_type: str, data: dict, now: int) -> int:
    """Write the webhook of `event_type` for each subscriber; return how many."""
    rows = outbox_rows(connection, [(event_type, data)], now)
    if rows:
        connection.execute(insert(outbox), rows)
    return len(rows)


def outbox_rows(connection: Connection, webhooks: list[tuple[str, dict]], now: int) -> list[dict]:
    """Return the outbox rows of each (event type, data) webhook for each subscriber of its type, in order."""
    subscriptions = connection.execute(_ACTIVE_SUBSCRIPTIONS).all()
    subscribed = [(subscription.id, json.loads(subscription.event_types)) for subscription in subscriptions]
    return [
        _outbox_row(subscription_id, event_type, data, now)
        for event_type, data in webhooks
        for subscription_id, event_types in subscribed
        if event_type in event_types
    ]


_ACTIVE_SUBSCRIPTIONS = select(webhook_subscriptions.c.id, webhook_subscriptions.c.event_types).where(
    webhook_subscriptions.c.active.is_(True)
)


def _outbox_row(subscription_id: int, event_type: str, data: dict, now: int) -> dict:
    delivery_id = str(uuid.uuid4())
    body = {"id": delivery_id, "type": event_type, "created_at": now, "data": data}
    return {
        "subscription_id": subscription_id,
        "event_type": event_type,
        "payload": json.dumps(body, separators=(",", ":"), sort_keys=True),
        "delivery_id": delivery_id,
        "created_at": now,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
    }


TEST_EVENT_TYPE = "webhook.test"


def enqueue_test(connection: Connection, subscription_id: int, now: int) -> str:
    """Write a `webhook.test` webhook for one subscription; return its delivery id.

    The worker sends it like any other webhook, signed and retried, so
    its attempts show in the delivery log.
    """
    delivery_id = str(uuid.uuid4())
    data = {"message": "a test webhook sent from the leadq dashboard"}
    body = {"id": delivery_id, "type": TEST_EVENT_TYPE, "created_at": now, "data": data}
    connection.execute(
        insert(outbox).values(
            subscription_id=subscription_id,
            event_type=TEST_EVENT_TYPE,
            payload=json.dumps(body, separators=(",", ":"), sort_keys=True),
            delivery_id=delivery_id,
            created_at=now,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
        )
    )
    return delivery_id


def create_subscription(
    connection: Connection,
    url: str,
    event_types: Iterable[str],
    secret: str | None,
    now: int,
) -> tuple[Subscription, str]:
    """Validate and store a subscription, and return it with its signing secret."""
    url, types, secret = checked_subscription(url, event_types, secret)
    secret = secret if secret is not None else generate_secret()

    subscription_id = connection.execute(
        insert(webhook_subscriptions)
        .values(
            url=url,
            secret=secret,
            event_types=json.dumps(types),
            active=True,
            created_at=now,
        )
        .returning(webhook_subscriptions.c.id)
    ).scalar_one()
    return Subscription(subscription_id, url, tuple(types), True, now), secret


def checked_subscription(
    url: str, event_types: Iterable[str], secret: str | None
) -> tuple[str, list[str], str | None]:
    """Return the URL, event types and secret as checked, or raise SubscriptionError."""
    return check_url(url), check_event_types(event_types), check_secret(secret) if secret is not None else None


def list_subscriptions(connection: Connection) -> list[Subscription]:
    rows = connection.execute(
        select(webhook_subscriptions)
        .where(webhook_subscriptions.c.active.is_(True))
        .order_by(webhook_subscriptions.c.id)
    ).all()
    return [_subscription(row) for row in rows]


def find_subscription(
    connection: Connection, subscription_id: int
) -> Subscription | None:
    """Return the active subscription with this id, or None."""
    row = connection.execute(
        select(webhook_subscriptions).where(
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.active.is_(True),
        )
    ).first()
    return _subscription(row) if row else None


def stored_subscription(connection: Connection, subscription_id: int) -> Subscription | None:
    """Return the subscription with this id, active or deleted, or None."""
    row = connection.execute(
        select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
    ).first()
    return _subscription(row) if row else None


def delete_subscription(connection: Connection, subscription_id: int, now: int) -> bool:
    """Deactivate a subscription as of `now` and cancel its unsent webhooks.

    The row stays, with its outbox rows, so its delivery log stays
    readable. Returns False if no active subscription has the id.
    A webhook in flight still completes, but is not retried.
    """
    deactivated = connection.execute(
        update(webhook_subscriptions)
        .where(
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.active.is_(True),
        )
        .values(active=False, deleted_at=now)
    ).rowcount
    if not deactivated:
        return False
    connection.execute(
        update(outbox)
        .where(
            outbox.c.subscription_id == subscription_id,
            outbox.c.status.in_((PENDING, SENDING)),
        )
        .values(status=CANCELLED)
    )
    return True


def delivery_log(
    connection: Connection,
    subscription_id: int,
    *,
    limit: int,
    before: int | None = None,
    status: str | None = None,
) -> list[OutboxEntry]:
    """Return a subscription's webhooks, newest first, with their attempts.

    `before` is an outbox id from an earlier page: only older rows follow.
    """
    query = select(outbox).where(outbox.c.subscription_id == subscription_id)
    if before is not None:
        query = query.where(outbox.c.id < before)
    if status is not None:
        query = query.where(outbox.c.status == status)
    rows = connection.execute(query.order_by(outbox.c.id.desc()).limit(limit)).all()

    attempts = _attempts_of(connection, [row.id for row in rows])
    return [_outbox_entry(row, attempts.get(row.id, ())) for row in rows]


def retry_delivery(
    connection: Connection, subscription_id: int, delivery_id: str, now: int
) -> str | None:
    """Make a delivered or failed webhook due again now, with its delivery id.

    If that attempt fails, the webhook is retried only while it has attempts
    left. Returns the row's status before the change, or None if the
    subscription has no webhook with this delivery id. Rows in other states
    do not change, and the caller reports them.
    """
    row = connection.execute(
        select(outbox.c.id, outbox.c.status).where(
            outbox.c.subscription_id == subscription_id,
            outbox.c.delivery_id == delivery_id,
        )
    ).first()
    if row is None:
        return None
    if row.status in (DELIVERED, FAILED):
        connection.execute(
            update(outbox)
            .where(outbox.c.id == row.id, outbox.c.status == row.status)
            .values(status=PENDING, next_attempt_at=now)
        )
    return row.status


def check_url(url: str) -> str:
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise SubscriptionError(
            "url",
            f"the URL is {len(text)} characters long; the maximum is {MAX_URL_LENGTH}",
        )
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise SubscriptionError(
            "url", f"{text!r} is not a valid URL: {error}"
        ) from None
    if parsed.scheme not in ("http", "https"):
        raise SubscriptionError(
            "url", f"the URL must start with http:// or https://, got {text!r}"
        )
    if not parsed.host:
        raise SubscriptionError("url", f"the URL {text!r} has no host")
    # httpx parses any integer as the port, including 0, -1 and 99999.
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise SubscriptionError(
            "url",
            f"the URL {text!r} has port {parsed.port}; give a port from 1 to 65535",
        )
    return text


def check_event_types(event_types: Iterable[str]) -> list[str]:
    """Return the event types without repeats, in the order given."""
    valid = ", ".join(EVENT_TYPES)
    types: list[str] = []
    for index, event_type in enumerate(event_types):
        if event_type not in EVENT_TYPES:
            raise SubscriptionError(
                f"event_types.{index}",
                f"unknown event type {event_type!r}; valid types: {valid}",
            )
        if event_type not in types:
            types.append(event_type)
    if not types:
        raise SubscriptionError(
            "event_types", f"name at least one event type; valid types: {valid}"
        )
    return types


def check_secret(secret: str) -> str:
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise SubscriptionError(
            "secret",
            f"the secret is {len(secret)} characters long; it must have "
            f"{MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH}. Leave it out to have "
            "one generated",
        )
    if not secret.isprintable() or secret != secret.strip():
        raise SubscriptionError(
            "secret",
            "the secret must be printable characters, without spaces at either end",
        )
    return secret


def generate_secret() -> str:
    # TODO: rotating a secret needs a second secret column, so that both the
    # old and the new secret sign during a changeover (verify accepts both).
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _subscription(row) -> Subscription:
    return Subscription(
        row.id, row.url, tuple(json.loads(row.event_types)), row.active, row.created_at, row.deleted_at
    )


def _attempts_of(
    connection: Connection, outbox_ids: list[int]
) -> dict[int, tuple[Attempt, ...]]:
    if not outbox_ids:
        return {}
    rows = connection.execute(
        select(deliveries)
        .where(deliveries.c.outbox_id.in_(outbox_ids))
        .order_by(deliveries.c.outbox_id, deliveries.c.id)
    ).all()
    grouped: dict[int, list[Attempt]] = {}
    for row in rows:
        attempt = Attempt(
            row.attempt, row.at, row.status_code, row.error, row.duration_ms
        )
        grouped.setdefault(row.outbox_id, []).append(attempt)
    return {outbox_id: tuple(items) for outbox_id, items in grouped.items()}


def _outbox_entry(row, attempts: tuple[Attempt, ...]) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        delivery_id=row.delivery_id,
        event_type=row.event_type,
        status=row.status,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        attempts=attempts,
    )
