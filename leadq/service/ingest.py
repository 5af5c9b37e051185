"""Store tracking messages and rescore the leads they touch, in one transaction.

`ingest_messages` is the write path of the tracking API. It stores events,
and a repeated message id is stored and counted once. It applies identify
and group calls, then rescores every touched lead as of now with the
active model. All of it is one transaction, retried on a deadlock or a
lock timeout; when the function returns, everything is committed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import DBAPIError

from leadq.service.identity import (
    ANONYMOUS_ID,
    claim_visitor_events,
    find_identity,
    insert_ignoring_conflict,
    lead_with_email,
    lead_with_user_id,
    link,
    normalized_email,
    resolve,
)
from leadq.service.model_versions import ActiveModel, active_model, ensure_active_model
from leadq.service.rescoring import StageChange, lock_leads, rescore
from leadq.store.database import Store, now_micros
from leadq.store.tables import accounts, events, leads

log = logging.getLogger("leadq.service")

PAGE_EVENT = "page_viewed"
RETRIES = 8


@dataclass
class Message:
    """One Segment message, checked: track, page, identify or group."""

    type: str
    message_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    event: str | None = None
    properties: dict = field(default_factory=dict)
    traits: dict = field(default_factory=dict)
    group_id: str | None = None
    timestamp: int | None = None


@dataclass
class IngestResult:
    stored: int = 0
    repeated: int = 0
    created: list[int] = field(default_factory=list)
    changes: list[StageChange] = field(default_factory=list)


def ingest_messages(store: Store, messages: list[Message]) -> IngestResult:
    ensure_active_model(store)
    for attempt in range(RETRIES):
        try:
            with store.write() as connection:
                return apply_messages(connection, active_model(connection), messages, now_micros())
        except DBAPIError as error:
            if attempt == RETRIES - 1 or not is_retryable(error):
                raise
            log.info("retrying a tracking request after %s", type(error.orig).__name__)
            time.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")


def is_retryable(error: DBAPIError) -> bool:
    """Deadlocks, serialization failures, lock timeouts and racing inserts."""
    code = getattr(error.orig, "sqlstate", None)
    if code in ("40P01", "40001", "55P03", "23505"):
        return True
    return "database is locked" in str(error.orig)


def apply_messages(connection: Connection, active: ActiveModel, messages: list[Message], now: int) -> IngestResult:
    """Find each message's lead, lock those leads in id order, then apply.

    Taking the locks before writing events means that a transaction which
    waits for a lead holds nothing another one needs, so requests for one
    lead queue up instead of deadlocking.
    """
    result = IngestResult()
    lead_ids = [_lead_of(connection, message, now, result) for message in messages]
    lock_leads(connection, [lead_id for lead_id in lead_ids if lead_id is not None])
    # Read the clock again once the locks are held. A request that committed
    # while this one waited may have stored events after the first reading,
    # and the rescore below must count them.
    now = max(now, now_micros())
    for message, lead_id in zip(messages, lead_ids):
        _apply(connection, message, lead_id, now, result)
    touched = {resolve(connection, lead_id) for lead_id in lead_ids if lead_id is not None} - {None}
    if touched:
        result.changes = rescore(connection, active, touched, now, "event")
    return result


def _apply(connection: Connection, message: Message, lead_id: int | None, now: int, result: IngestResult) -> None:
    if message.type == "identify":
        _identify(connection, message, lead_id, now)
    elif message.type == "group":
        _group(connection, message, lead_id, now)
    else:
        _track(connection, message, lead_id, now, result)


def _lead_of(connection, message: Message, now: int, result: IngestResult) -> int | None:
    """Return the lead a message is about, creating it for an unknown user id or email."""
    email = normalized_email(message.traits.get("email"))
    lead_id = None
    if message.user_id is not None:
        lead_id = lead_with_user_id(connection, message.user_id, email, now, result.created)
    if email is not None:
        lead_id = lead_with_email(connection, lead_id, email, now, result.created)
    if lead_id is None and message.anonymous_id is not None:
        lead_id = resolve(connection, find_identity(connection, ANONYMOUS_ID, message.anonymous_id))
    elif lead_id is not None and message.anonymous_id is not None:
        holder = link(connection, ANONYMOUS_ID, message.anonymous_id, lead_id, now)
        if holder == lead_id:
            claim_visitor_events(connection, message.anonymous_id, lead_id)
    return lead_id


def _identify(connection, message: Message, lead_id: int | None, now: int) -> None:
    if lead_id is None:
        return
    attributes = json.loads(
        connection.execute(select(leads.c.attributes).where(leads.c.id == lead_id)).scalar_one()
    )
    attributes.update(message.traits)
    values = {"attributes": json.dumps(attributes), "updated_at": now}
    email = normalized_email(message.traits.get("email"))
    if email is not None:
        values["email"] = email
    connection.execute(update(leads).where(leads.c.id == lead_id).values(**values))


def _group(connection, message: Message, lead_id: int | None, now: int) -> None:
    insert_ignoring_conflict(
        connection,
        accounts,
        {"group_id": message.group_id, "traits": "{}", "created_at": now, "updated_at": now},
        ["group_id"],
    )
    account = connection.execute(
        select(accounts.c.id, accounts.c.traits).where(accounts.c.group_id == message.group_id)
    ).one()
    traits = {**json.loads(account.traits), **message.traits}
    connection.execute(
        update(accounts).where(accounts.c.id == account.id).values(traits=json.dumps(traits), updated_at=now)
    )
    if lead_id is not None:
        connection.execute(update(leads).where(leads.c.id == lead_id).values(account_id=account.id))


def _track(connection, message: Message, lead_id: int | None, now: int, result: IngestResult) -> None:
    name = PAGE_EVENT if message.type == "page" else message.event
    stored = insert_ignoring_conflict(
        connection,
        events,
        {
            "message_id": message.message_id,
            "lead_id": lead_id,
            "anonymous_id": message.anonymous_id,
            "event_name": name,
            "ts": message.timestamp if message.timestamp is not None else now,
            "received_at": now,
            "properties": json.dumps(message.properties),
            "source": "api",
        },
        ["message_id"],
    )
    if stored:
        result.stored += 1
    else:
        result.repeated += 1
