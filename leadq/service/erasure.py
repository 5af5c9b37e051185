"""Privacy erasure: remove a lead and everything stored about the person.

An erasure removes the lead, the leads merged into it, their identities,
events (with anonymous events and traits of their anonymous ids), stage
history, score snapshots and outcomes. Pending webhooks that name the lead are deleted and
sent or failed ones lose their payload, so no email, key or attribute
stays behind. One row in `erasures` records the time, the lead id and the
counts. One more row for each merged lead records its id and the erased
lead's id, so that the leads API returns 410 Gone for every id that
resolved to the lead. The caller runs it inside one write transaction, so
a failure leaves every table as it was.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from leadq.errors import LeadNotFound, LeadqError, OptionError
from leadq.service.merges import merged_ids, resolve_survivor
from leadq.store.tables import (
    deliveries,
    erasures,
    events,
    identities,
    leads,
    outbox,
    outcomes,
    qualifications,
    score_snapshots,
    stage_history,
    visitor_groups,
    visitor_traits,
)

logger = logging.getLogger(__name__)

# An integer in a webhook payload is a lead id when its key contains one of
# these words. For an `id` key, the key of the enclosing object counts.
LEAD_ID_KEY_WORDS = ("lead", "merged", "survivor")
# Envelope fields of a webhook payload that a redacted payload keeps.
REDACTED_KEEPS = ("id", "type", "created_at")


class ErasureFailed(LeadqError):
    """A database error during an erasure, which the rollback undid."""


@dataclass(frozen=True)
class ErasureRecord:
    """The `erasures` row of one erased lead, and the ids merged into it."""

    lead_id: int
    merged_ids: tuple[int, ...]
    at: int
    leads_removed: int
    events_removed: int
    identities_removed: int
    stage_changes_removed: int
    score_snapshots_removed: int
    outcomes_removed: int
    qualifications_removed: int
    webhooks_removed: int
    webhooks_redacted: int


@dataclass(frozen=True)
class ErasedId:
    """An erased lead id: when, and the erased lead it had been merged into."""

    at: int
    # None for the erased lead itself.
    survivor_id: int | None


@dataclass(frozen=True)
class _Person:
    """The rows of one person: lead ids, emails and keys, identity values."""

    lead_ids: list[int]
    texts: set[str]
    identity_values: list[str]


def erase_email(connection: Connection, email: str, now: int) -> list[ErasureRecord]:
    """Erase every lead with this email. Raise LeadNotFound when no lead has it."""
    normalized = normalize_email(email)
    survivors = find_survivors_by_email(connection, normalized)
    if not survivors:
        raise LeadNotFound(
            f"no lead has the email {normalized!r}; check the spelling, or "
            "list leads with GET /api/leads?q=PREFIX"
        )
    return [erase_lead(connection, survivor, now) for survivor in survivors]


def find_erasure(connection: Connection, lead_id: int) -> int | None:
    """Return the time of the erasure of this lead id, or None."""
    found = find_erased_id(connection, lead_id)
    return found.at if found is not None else None


def find_erased_id(connection: Connection, lead_id: int) -> ErasedId | None:
    """Return the latest erasure of this id, itself or as a merged lead, or None."""
    row = connection.execute(
        select(erasures.c.at, erasures.c.survivor_id)
        .where(erasures.c.lead_id == lead_id)
        .order_by(erasures.c.at.desc(), erasures.c.id.desc())
        .limit(1)
    ).first()
    return ErasedId(row.at, row.survivor_id) if row is not None else None


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if "@" not in normalized:
        raise OptionError(
            f"{email!r} is not an email address; write it as name@example.com"
        )
    return normalized


def find_survivors_by_email(connection: Connection, email: str) -> list[int]:
    """Return the surviving leads of the leads and identities with this email."""
    by_lead = select(leads.c.id).where(func.lower(func.trim(leads.c.email)) == email)
    by_identity = select(identities.c.lead_id).where(
        func.lower(func.trim(identities.c.value)) == email,
        identities.c.lead_id.is_not(None),
    )
    found = {row[0] for row in connection.execute(by_lead.union(by_identity))}
    survivors = {resolve_survivor(connection, lead_id) for lead_id in found}
    return sorted(survivor for survivor in survivors if survivor is not None)


def erase_lead(connection: Connection, survivor_id: int, now: int) -> ErasureRecord:
    """Erase a lead that was merged into no other, and the leads merged into it."""
    person = _collect_person(connection, survivor_id)
    counts = _erase_rows(connection, person)
    merged = tuple(sorted(person.lead_ids[1:]))
    record = ErasureRecord(lead_id=survivor_id, merged_ids=merged, at=now, **counts)
    _record_erasure(connection, record)
    logger.info("erased lead %d: %s", survivor_id, _counts_text(record))
    return record


def _record_erasure(connection: Connection, record: ErasureRecord) -> None:
    """Insert the erased lead's row with the counts, and a row per merged id."""
    row = asdict(record)
    del row["merged_ids"]
    row["survivor_id"] = None
    counts = [name for name in row if name.endswith(("_removed", "_redacted"))]
    merged_rows = [
        {
            **dict.fromkeys(counts, 0),
            "lead_id": merged_id,
            "at": record.at,
            "survivor_id": record.lead_id,
        }
        for merged_id in record.merged_ids
    ]
    connection.execute(insert(erasures), [row, *merged_rows])


def _erase_rows(connection: Connection, person: _Person) -> dict[str, int]:
    ids = person.lead_ids
    removed_webhooks, redacted_webhooks = _erase_webhooks(connection, person)
    _erase_visitor_calls(connection, person)
    counts = {
        "webhooks_removed": removed_webhooks,
        "webhooks_redacted": redacted_webhooks,
        "events_removed": _erase_events(connection, person),
        "identities_removed": _erase_identities(connection, person),
        "stage_changes_removed": _delete_rows(connection, stage_history, ids),
        "score_snapshots_removed": _delete_rows(connection, score_snapshots, ids),
        "outcomes_removed": _delete_rows(connection, outcomes, ids),
        # After stage history, whose rows may name a qualification.
        "qualifications_removed": _delete_rows(connection, qualifications, ids),
    }
    # NOTE: a table added later with a lead_id column must be erased above,
    # or deleting the leads fails on its foreign key.
    counts["leads_removed"] = _delete_leads(connection, ids)
    return counts


def _collect_person(connection: Connection, survivor_id: int) -> _Person:
    ids = [survivor_id, *merged_ids(connection, survivor_id, lock=True)]
    rows = connection.execute(
        select(leads.c.email, leads.c.lead_key).where(leads.c.id.in_(ids))
    ).all()
    texts = {row.lead_key.strip().lower() for row in rows}
    texts |= {row.email.strip().lower() for row in rows if row.email}
    values = connection.execute(
        select(identities.c.value).where(_identity_of(ids, texts))
    ).scalars()
    return _Person(ids, texts, sorted(set(values)))


def _identity_of(ids: list[int], texts: set[str]):
    return or_(
        identities.c.lead_id.in_(ids),
        func.lower(func.trim(identities.c.value)).in_(sorted(texts)),
    )


def _erase_events(connection: Connection, person: _Person) -> int:
    anonymous = events.c.lead_id.is_(None) & events.c.anonymous_id.in_(
        person.identity_values
    )
    condition = or_(events.c.lead_id.in_(person.lead_ids), anonymous)
    return connection.execute(delete(events).where(condition)).rowcount


def _erase_visitor_calls(connection: Connection, person: _Person) -> None:
    """Delete the identify traits and group calls that the person's visitors left waiting.

    Linking a visitor gives its traits and account to the lead and deletes
    their rows, as does any later message of the anonymous id. Rows are
    left only when a visitor's call committed after the link took the
    rows, and no message of that anonymous id came since. They are not
    counted.
    """
    for table in (visitor_traits, visitor_groups):
        condition = table.c.anonymous_id.in_(person.identity_values)
        connection.execute(delete(table).where(condition))


def _erase_identities(connection: Connection, person: _Person) -> int:
    condition = _identity_of(person.lead_ids, person.texts)
    return connection.execute(delete(identities).where(condition)).rowcount


def _delete_rows(connection: Connection, table, ids: list[int]) -> int:
    return connection.execute(delete(table).where(table.c.lead_id.in_(ids))).rowcount


def _delete_leads(connection: Connection, ids: list[int]) -> int:
    # One statement: both databases check the merged_into references
    # among these rows at its end, when all of them are gone.
    return connection.execute(delete(leads).where(leads.c.id.in_(ids))).rowcount


def _erase_webhooks(connection: Connection, person: _Person) -> tuple[int, int]:
    """Delete pending webhooks that name the person; redact sent or failed ones.

    Sent webhooks stay, for the delivery log, but a payload that contains an
    email or key of the person is replaced. A payload that names only a lead
    id contains no personal data, so the search among sent ones starts from
    the emails and keys.
    """
    # NOTE: a pending webhook that the delivery worker sends at this moment
    # may still go out once.
    pending = _webhooks_naming(connection, person, outbox.c.status == "pending")
    if pending:
        connection.execute(
            delete(deliveries).where(deliveries.c.outbox_id.in_(pending))
        )
        connection.execute(delete(outbox).where(outbox.c.id.in_(pending)))
    by_text = or_(
        *(outbox.c.payload.icontains(text, autoescape=True) for text in person.texts)
    )
    done = _webhooks_naming(
        connection, person, (outbox.c.status != "pending") & by_text
    )
    for row_id in done:
        _redact_webhook(connection, row_id)
    return len(pending), len(done)


def _webhooks_naming(connection: Connection, person: _Person, condition) -> list[int]:
    rows = connection.execute(select(outbox.c.id, outbox.c.payload).where(condition))
    return [row.id for row in rows if _payload_names_person(row.payload, person)]


def _payload_names_person(payload: str, person: _Person) -> bool:
    try:
        body = json.loads(payload)
    except json.JSONDecodeError:
        lowered = payload.lower()
        return any(text in lowered for text in person.texts)
    return _names_person(body, set(person.lead_ids), person.texts)


def _names_person(node: Any, ids: set[int], texts: set[str], key: str = "") -> bool:
    """Return whether a JSON value contains a lead id, email or key of the person.

    `key` is the key of `node`. For an `id` inside an object it is the key
    of that object, so `{"lead": {"id": 5}}` names lead 5.
    """
    if isinstance(node, dict):
        return any(
            _names_person(value, ids, texts, key if name == "id" else name)
            for name, value in node.items()
        )
    if isinstance(node, list):
        return any(_names_person(item, ids, texts, key) for item in node)
    if isinstance(node, str):
        return node.strip().lower() in texts
    if isinstance(node, int) and not isinstance(node, bool):
        return node in ids and any(word in key.lower() for word in LEAD_ID_KEY_WORDS)
    return False


def _redact_webhook(connection: Connection, row_id: int) -> None:
    """Replace a webhook's payload with its envelope and `{"erased": true}`."""
    payload = connection.execute(
        select(outbox.c.payload).where(outbox.c.id == row_id)
    ).scalar_one()
    try:
        body = json.loads(payload)
    except json.JSONDecodeError:
        body = {}
    envelope = body if isinstance(body, dict) else {}
    redacted = {name: envelope[name] for name in REDACTED_KEEPS if name in envelope}
    redacted["data"] = {"erased": True}
    text = json.dumps(redacted, separators=(",", ":"), sort_keys=True)
    connection.execute(update(outbox).where(outbox.c.id == row_id).values(payload=text))


def _counts_text(record: ErasureRecord) -> str:
    counts = asdict(record)
    return ", ".join(
        f"{name} {counts[name]}" for name in counts if name.endswith("_removed")
    )
