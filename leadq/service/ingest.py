"""Store tracking messages and rescore the leads they touch, in one transaction.

`ingest_requests` is the write path of the tracking API. It stores events,
and a repeated message id is stored and counted once. It applies identify
and group calls, each message id once, then rescores every touched lead
as of now with the active model. All of it is one transaction, retried on
a deadlock or a lock timeout. When the function returns, everything is
committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from leadq.service.event_bindings import bind_stored_events, binds_in_store
from leadq.service.future_events import leads_of_future_rows, note_future_events
from leadq.service.identity import (
    ANONYMOUS_ID,
    Merge,
    claim_visitor_events,
    find_identity,
    lead_with_email,
    lead_with_user_id,
    leads_with_user_ids,
    link,
    normalized_email,
    resolve,
    survivors,
)
from leadq.service.groups import claim_visitor_groups, join_account, store_visitor_group, update_account
from leadq.service.merge_rescoring import rescore_after_merges
from leadq.service.model_versions import ActiveModel, active_or_default_model
from leadq.service.rescoring import StageChange, lock_leads
from leadq.service.retries import write_with_retries
from leadq.service.traits import apply_traits, claim_visitor_traits, store_visitor_traits
from leadq.store.column_writes import insert_rows
from leadq.store.database import Store, now_micros
from leadq.store.tables import applied_calls, events
from leadq.store.value_lists import in_list


PAGE_EVENT = "page_viewed"


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

    def person_email(self) -> str | None:
        """Return the person's email, normalized.

        A group message gives None, because its traits describe a company.
        The tracking API stores the email trait under the key `email` in any
        spelling it arrives in, such as `Email` (leadq.service.tracking).
        """
        if self.type == "group":
            return None
        return normalized_email(self.traits.get("email"))


@dataclass
class IngestResult:
    """Counts of one request's stored events and repeated messages, and its transaction's changes.

    `created` and `changes` belong to the whole transaction, so every request
    written in one group shares them.
    """

    stored: int = 0
    repeated: int = 0
    created: list[int] = field(default_factory=list)
    changes: list[StageChange] = field(default_factory=list)
    # Merges of leads that messages made in this transaction, in order.
    merges: list[Merge] = field(default_factory=list)
    # Per message in order: True a stored event, False a repeated message id,
    # None an identify or group call applied now.
    outcomes: list[bool | None] = field(default_factory=list)

    def counts(self, start: int, stop: int) -> tuple[int, int]:
        """Return how many of messages start..stop-1 were stored and how many repeated."""
        part = self.outcomes[start:stop]
        return part.count(True), part.count(False)


def ingest_messages(store: Store, messages: list[Message]) -> IngestResult:
    """Apply one request's messages in one transaction; see `ingest_requests`."""
    return ingest_requests(store, [messages])[0]


# Returns an error for each request that must not be written, or None.
Screen = Callable[[Connection, ActiveModel], list[Exception | None]]


def ingest_requests(store: Store, requests: list[list[Message]], screen: Screen | None = None) -> list:
    """Apply many requests' messages in one transaction and return each request's outcome.

    `screen` runs inside the transaction, with the active model, and names
    the requests to leave out. Each outcome is the request's IngestResult,
    or the error that the screen gave it. The transaction is retried after
    a deadlock, a lock timeout or another failure that
    leadq.service.retries.is_retryable accepts. When the function returns,
    everything is committed.
    """
    return write_with_retries(
        store, lambda connection: _apply_requests(connection, requests, screen), _messages_named(requests)
    )


def _messages_named(requests: list[list[Message]]) -> str:
    """Name a group's messages for the log of a retry: the first three message ids and a count of the rest."""
    ids = [message.message_id for messages in requests for message in messages]
    if not ids:
        return "tracking requests without messages"
    named = ", ".join(repr(message_id) for message_id in ids[:3])
    rest = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
    return f"the tracking messages {named}{rest}"


def _apply_requests(connection: Connection, requests: list[list[Message]], screen: Screen | None) -> list:
    # Read in the write transaction, so a group costs no transaction of its own.
    active = active_or_default_model(connection)
    outcomes: list = screen(connection, active) if screen is not None else [None] * len(requests)
    accepted = [index for index, error in enumerate(outcomes) if error is None]
    messages = [message for index in accepted for message in requests[index]]
    written = apply_messages(connection, active, messages, now_micros()) if messages else IngestResult()
    start = 0
    for index in accepted:
        stop = start + len(requests[index])
        stored, repeated = written.counts(start, stop)
        outcomes[index] = IngestResult(stored, repeated, written.created, written.changes)
        start = stop
    return outcomes


def apply_messages(connection: Connection, active: ActiveModel, messages: list[Message], now: int) -> IngestResult:
    """Find each message's lead, lock those leads in id order, then apply.

    Taking the locks before writing events means that a transaction which
    waits for a lead holds nothing another one needs, so requests for one
    lead queue up instead of deadlocking.
    """
    result = IngestResult()
    visitors: dict[str, int] = {}
    new_calls = _record_calls(connection, messages, now)
    lead_ids, repeated_calls = _leads_of(connection, messages, new_calls, now, result, visitors)
    locked = lock_leads(connection, [lead_id for lead_id in lead_ids if lead_id is not None])
    # Read the clock again once the locks are held. A request that committed
    # while this one waited may have stored events after the first reading,
    # and the rescore below must count them.
    now = max(now, now_micros())
    survivor_of = _survivors_after_lock(connection, lead_ids, locked)
    lead_ids = [survivor_of.get(lead_id) for lead_id in lead_ids]
    claimed = claim_visitor_traits(connection, visitors, now) | claim_visitor_groups(connection, visitors, now)
    result.outcomes = [None] * len(messages)
    pending = _EventRows()
    for index, (message, lead_id) in enumerate(zip(messages, lead_ids)):
        if index in repeated_calls:
            result.outcomes[index] = False
            continue
        if message.type == "identify":
            _identify(connection, message, lead_id, now)
        elif message.type == "group":
            _group(connection, message, lead_id, now)
        else:
            pending.add(index, _event_row(connection, message, lead_id, now))
    pending.insert(connection, result, active, now)
    touched = {lead_id for lead_id in survivor_of.values() if lead_id is not None}
    if touched:
        unchanged = not claimed and _leaves_rows_unchanged(messages, touched, locked)
        current = locked if unchanged else None
        result.changes = rescore_after_merges(connection, active, touched, result.merges, now, "event", current)
    return result


def _leaves_rows_unchanged(messages: list[Message], touched: set[int], locked) -> bool:
    """Tell whether the rows locked before the writes are still the touched leads' rows.

    Track and page messages add events and change no lead's row, so a
    rescore can use the rows locked for them instead of reading them again.
    """
    if any(message.type in ("identify", "group") for message in messages):
        return False
    return touched == {row.id for row in locked}


def _survivors_after_lock(connection, lead_ids: list[int | None], locked) -> dict[int, int]:
    """Map each lead to its survivor. A later message, or another writer
    before the locks were taken, may have merged a lead.

    The lock skips merged and erased leads. When it returned every lead,
    none of them changed and no query is needed.
    """
    looked_up = {lead_id for lead_id in lead_ids if lead_id is not None}
    if looked_up <= {row.id for row in locked}:
        return {lead_id: lead_id for lead_id in looked_up}
    return survivors(connection, lead_ids)


def _record_calls(connection, messages: list[Message], now: int) -> set[str]:
    """Store the message ids of the identify and group calls, and return those not stored before.

    They are stored before any lead is locked. A concurrent transaction
    with the same message id then waits here until that one ends, and
    finds the id stored if it committed.
    """
    ids = sorted({message.message_id for message in messages if message.type in ("identify", "group")})
    rows = [{"message_id": message_id, "received_at": now} for message_id in ids]
    inserted = insert_rows(connection, applied_calls, rows, conflict_keys=("message_id",), returning=("message_id",))
    return {row.message_id for row in inserted}


def _leads_of(
    connection,
    messages: list[Message],
    new_calls: set[str],
    now: int,
    result: IngestResult,
    visitors: dict[str, int],
) -> tuple[list[int | None], set[int]]:
    """Return each message's lead and the positions of repeated identify and group calls.

    Known user ids are looked up in one query first. Only a message with
    an email can merge two leads, so the looked-up leads are used until
    the first such message and looked up one by one after it. `visitors`
    gets each anonymous id that belongs to its message's lead, mapped to
    that lead. `new_calls` are the message ids of the calls applied now.
    """
    known = leads_with_user_ids(connection, {m.user_id for m in messages if m.user_id is not None})
    stored = _stored_events_that_could_change_leads(connection, messages, known)
    lead_ids = []
    repeated_calls: set[int] = set()
    # Message ids of this group's earlier events, which the group stores
    # first, and of its earlier calls. Events and calls have separate ids.
    earlier_events: set[str] = set()
    earlier_calls: set[str] = set()
    for index, message in enumerate(messages):
        # A repeated message changes nothing: it finds, creates, links and merges no lead.
        if message.type in ("track", "page"):
            repeated = message.message_id in stored or message.message_id in earlier_events
            earlier_events.add(message.message_id)
        else:
            repeated = message.message_id not in new_calls or message.message_id in earlier_calls
            earlier_calls.add(message.message_id)
            if repeated:
                repeated_calls.add(index)
        lead_ids.append(None if repeated else _lead_of(connection, message, now, result, known, visitors))
        if message.person_email() is not None and not repeated:
            known = {}
    return lead_ids, repeated_calls


def _stored_events_that_could_change_leads(connection, messages: list[Message], known: dict[str, int]) -> set[str]:
    """Return the message ids, already stored, of track and page messages whose lead lookup writes.

    Such a message names an unknown user id, an email or an anonymous id.
    Messages for known user ids, the common case, need no query.
    """
    candidates = {
        message.message_id
        for message in messages
        if message.type in ("track", "page")
        and (
            message.user_id not in known
            or message.person_email() is not None
            or message.anonymous_id is not None
        )
    }
    if not candidates:
        return set()
    query = select(events.c.message_id).where(in_list(events.c.message_id, "ids"))
    return set(connection.execute(query, {"ids": sorted(candidates)}).scalars())


def _lead_of(
    connection, message: Message, now: int, result: IngestResult, known: dict[str, int], visitors: dict[str, int]
) -> int | None:
    """Return the lead a message is about, creating it for an unknown user id or email."""
    email = message.person_email()
    lead_id = None
    if message.user_id is not None:
        lead_id = known.get(message.user_id)
        if lead_id is None:
            lead_id = lead_with_user_id(connection, message.user_id, email, now, result.created)
    if email is not None:
        lead_id = lead_with_email(connection, lead_id, email, now, result.created, result.merges)
    if lead_id is None and message.anonymous_id is not None:
        lead_id = resolve(connection, find_identity(connection, ANONYMOUS_ID, message.anonymous_id))
        if lead_id is not None:
            visitors[message.anonymous_id] = lead_id
    elif lead_id is not None and message.anonymous_id is not None:
        holder = link(connection, ANONYMOUS_ID, message.anonymous_id, lead_id, now)
        if holder == lead_id:
            claim_visitor_events(connection, message.anonymous_id, lead_id, now)
            visitors[message.anonymous_id] = lead_id
    return lead_id


def _identify(connection, message: Message, lead_id: int | None, now: int) -> None:
    """Apply an identify call's traits at its event time, or keep a visitor's for later."""
    at = message.timestamp if message.timestamp is not None else now
    if lead_id is None and message.anonymous_id is not None:
        # A later message of this group may have linked the anonymous id to
        # a lead. Its claim of the visitor's traits ran before this message.
        lead_id = resolve(connection, find_identity(connection, ANONYMOUS_ID, message.anonymous_id))
    if lead_id is None:
        store_visitor_traits(connection, message.anonymous_id, message.message_id, message.traits, at, now)
    else:
        apply_traits(connection, lead_id, message.traits, at, now)


def _group(connection, message: Message, lead_id: int | None, now: int) -> None:
    """Update the account and put the lead in it by event time, or keep a visitor's call for later."""
    at = message.timestamp if message.timestamp is not None else now
    if lead_id is None and message.anonymous_id is not None:
        # As in _identify: a later message of this group may have linked the anonymous id.
        lead_id = resolve(connection, find_identity(connection, ANONYMOUS_ID, message.anonymous_id))
    account_id = update_account(connection, message.group_id, message.traits, lead_id, now)
    if lead_id is None:
        store_visitor_group(connection, message.anonymous_id, message.message_id, account_id, at, now)
    else:
        join_account(connection, lead_id, account_id, at, now)


def _event_row(connection, message: Message, lead_id: int | None, now: int) -> dict:
    if lead_id is None and message.anonymous_id is not None:
        # A later message of this group may have linked the anonymous id to
        # a lead. Its claim of the visitor's events ran before this row existed.
        lead_id = resolve(connection, find_identity(connection, ANONYMOUS_ID, message.anonymous_id))
    return {
        "message_id": message.message_id,
        "lead_id": lead_id,
        "anonymous_id": message.anonymous_id,
        "event_name": PAGE_EVENT if message.type == "page" else message.event,
        "ts": message.timestamp if message.timestamp is not None else now,
        "received_at": now,
        "properties": json.dumps(message.properties),
        "source": "api",
    }


class _EventRows:
    """Event rows of one transaction, inserted with one statement.

    A message id that repeats within the rows, or that is already stored,
    is counted as a repeat and stored once.
    """

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.indexes: list[tuple[int, str]] = []

    def add(self, index: int, row: dict) -> None:
        self.indexes.append((index, row["message_id"]))
        self.rows.setdefault(row["message_id"], row)

    def insert(self, connection: Connection, result: IngestResult, active: ActiveModel, now: int) -> None:
        """Insert the rows, count new and repeated ones, and bind the new ones for the active model.

        A new event with a time after `now` is noted on its lead
        (leadq.service.future_events).
        """
        if not self.rows:
            return
        inserted = insert_rows(
            connection, events, list(self.rows.values()), conflict_keys=("message_id",), returning=("id", "message_id")
        )
        if binds_in_store(connection, active.compiled):
            bind_stored_events(connection, active.compiled, [self._bound(row) for row in inserted])
        new = {row.message_id for row in inserted}
        note_future_events(connection, leads_of_future_rows((self.rows[key] for key in new), now), now)
        for index, message_id in self.indexes:
            stored = message_id in new
            new.discard(message_id)
            result.outcomes[index] = stored
            result.stored += stored
            result.repeated += not stored

    def _bound(self, inserted) -> tuple:
        """Return the fields of an inserted event that binding reads.

        These are its stored id, lead id, message id, name, time and properties.
        """
        row = self.rows[inserted.message_id]
        stored = (inserted.id, row["lead_id"], inserted.message_id)
        return (*stored, row["event_name"], row["ts"], row["properties"])
