"""Identities of leads: lookup, lead creation, visitors and merges.

A lead is known by identities: a user id, an email (trimmed and
lower-cased) and the anonymous ids of its browsers. Events that carry only
an anonymous id belong to a visitor until an identify call links that id to
a lead. From then on they count for the lead, at their own event times. When two
leads turn out to be one person, the newer is merged into the older one.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadq.service.future_events import note_future_events
from leadq.service.recycle_baselines import keep_recycle_decisions
from leadq.service.stored_json import lead_attributes, reached_stages
from leadq.service.webhooks import enqueue
from leadq.store.tables import events, identities, leads, outcomes, qualifications
from leadq.store.value_lists import in_list

USER_ID, EMAIL, ANONYMOUS_ID = "user_id", "email", "anonymous_id"
EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
# Counted in octets, because RFC 5321 limits a mail path to 256 octets with its angle brackets.
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True)
class Merge:
    """One lead merged into another: their ids, keys and emails.

    `email` is the survivor's email after the merge, and `merged_email` the
    merged lead's before it.
    """

    survivor_id: int
    survivor_key: str
    email: str | None
    merged_id: int
    merged_key: str
    merged_email: str | None


def insert_ignoring_conflict(connection: Connection, table, values: dict, keys: list[str]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; return whether the row was new."""
    statement = insert_ignoring_statement(connection.dialect.name, table, tuple(keys), "id")
    return connection.execute(statement, values).first() is not None


@functools.cache
def insert_ignoring_statement(dialect_name: str, table, keys: tuple[str, ...], *returned: str):
    """Build INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING the `returned` columns.

    The statement is built once and executed with parameter dicts, because
    building and compiling a statement per row costs more than running it.
    """
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return statement.returning(*(table.c[name] for name in returned))


def normalized_email(value) -> str | None:
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email or None


def is_email_address(email: str | None) -> bool:
    """Return whether a normalized email (from normalized_email) is a plausible address.

    The check is loose on purpose: it wants a local part, one @ and a domain
    with a dot, without white space. It accepts some addresses that RFC 5322
    forbids and rejects quoted local parts with spaces, which leads do not use.
    """
    if email is None or len(email.encode("utf-8", "surrogatepass")) > MAX_EMAIL_LENGTH:
        return False
    return EMAIL_ADDRESS.fullmatch(email) is not None


_IDENTITY_LEAD = select(identities.c.lead_id).where(
    identities.c.kind == bindparam("kind"), identities.c.value == bindparam("value")
)
_MERGED_INTO = select(leads.c.merged_into).where(leads.c.id == bindparam("id"))


def find_identity(connection: Connection, kind: str, value: str) -> int | None:
    return connection.execute(_IDENTITY_LEAD, {"kind": kind, "value": value}).scalar()


def resolve(connection: Connection, lead_id: int | None) -> int | None:
    """Follow merges: return the surviving lead's id for the id of a merged lead."""
    while lead_id is not None:
        merged_into = connection.execute(_MERGED_INTO, {"id": lead_id}).scalar()
        if merged_into is None:
            return lead_id
        lead_id = merged_into
    return None


_USER_LEADS = (
    select(identities.c.value, identities.c.lead_id, leads.c.merged_into)
    .select_from(identities.join(leads, leads.c.id == identities.c.lead_id))
    .where(identities.c.kind == USER_ID, in_list(identities.c.value, "values"))
)
_MERGES = select(leads.c.id, leads.c.merged_into).where(in_list(leads.c.id, "ids"))


def leads_with_user_ids(connection: Connection, user_ids) -> dict[str, int]:
    """Return the surviving lead of each known user id, in one query for all of them."""
    if not user_ids:
        return {}
    rows = connection.execute(_USER_LEADS, {"values": sorted(user_ids)}).all()
    return {row.value: row.lead_id if row.merged_into is None else resolve(connection, row.merged_into) for row in rows}


def survivors(connection: Connection, lead_ids) -> dict[int, int]:
    """Map each lead id to its surviving lead's id, following merges, with one query for all."""
    ids = sorted({lead_id for lead_id in lead_ids if lead_id is not None})
    if not ids:
        return {}
    rows = connection.execute(_MERGES, {"ids": ids}).all()
    return {row.id: row.id if row.merged_into is None else resolve(connection, row.merged_into) for row in rows}


def lead_for_key(connection: Connection, lead_key: str, email: str | None, now: int, created: list[int]) -> int:
    """Return the lead with this key, creating it (and noting it in `created`)."""
    new = insert_ignoring_conflict(
        connection,
        leads,
        {
            "lead_key": lead_key,
            "email": email,
            "attributes": "{}",
            "created_at": now,
            "updated_at": now,
            "reached": "[]",
        },
        ["lead_key"],
    )
    lead_id = connection.execute(select(leads.c.id).where(leads.c.lead_key == lead_key)).scalar_one()
    if new:
        created.append(lead_id)
        enqueue(connection, "lead.created", {"lead": {"id": lead_id, "lead_key": lead_key, "email": email}}, now)
    return resolve(connection, lead_id)


def link(connection: Connection, kind: str, value: str, lead_id: int, now: int) -> int:
    """Give the lead this identity; return the lead that has it afterwards.

    An identity that already belongs to another lead stays there, except an
    anonymous id that no lead has yet.
    """
    insert_ignoring_conflict(
        connection,
        identities,
        {"kind": kind, "value": value, "lead_id": lead_id, "created_at": now},
        ["kind", "value"],
    )
    connection.execute(
        update(identities)
        .where(identities.c.kind == kind, identities.c.value == value, identities.c.lead_id.is_(None))
        .values(lead_id=lead_id)
    )
    return resolve(connection, find_identity(connection, kind, value))


def lead_with_user_id(connection: Connection, user_id: str, email: str | None, now: int, created: list[int]) -> int:
    """Return the lead with this user id, creating it when no lead has it."""
    lead_id = resolve(connection, find_identity(connection, USER_ID, user_id))
    if lead_id is None:
        lead_id = lead_for_key(connection, user_id, email, now, created)
        link(connection, USER_ID, user_id, lead_id, now)
    return lead_id


def lead_with_email(
    connection: Connection,
    lead_id: int | None,
    email: str,
    now: int,
    created: list[int],
    merges: list[Merge] | None = None,
) -> int:
    """Give the lead this email, or find or create the lead of the email.

    When another lead already has the email, the two are merged into the
    older one, whose id is returned, and the merge is appended to `merges`.
    """
    if lead_id is None:
        holder = resolve(connection, find_identity(connection, EMAIL, email))
        lead_id = holder or lead_for_key(connection, email, email, now, created)
    # Linking waits for a concurrent request that inserted the email first,
    # then returns the lead that has it. So two requests that both found no
    # lead for the email still end with one lead.
    holder = link(connection, EMAIL, email, lead_id, now)
    if holder is not None and holder != lead_id:
        lead_id = merge_pair(connection, lead_id, holder, now, merges)
    return lead_id


def merge_pair(connection: Connection, first: int, second: int, now: int, merges: list[Merge] | None = None) -> int:
    """Merge the newer of two leads into the older and return the older.

    Both rows are locked first, and merges committed meanwhile are followed.
    The merge is appended to `merges`; leads that are one lead already
    append nothing.
    """
    query = select(leads.c.id).where(leads.c.id.in_([first, second])).order_by(leads.c.id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    connection.execute(query).all()
    first, second = resolve(connection, first), resolve(connection, second)
    if first == second:
        return first
    survivor, merged = min(first, second), max(first, second)
    merge_record = merge(connection, survivor, merged, now)
    if merges is not None:
        merges.append(merge_record)
    return survivor


def merge_reason(merged_ids) -> str:
    """Return the `reason` of a stage change that merging these leads into a survivor caused."""
    ids = [str(merged_id) for merged_id in sorted(merged_ids)]
    if len(ids) == 1:
        return f"merged lead {ids[0]}"
    return f"merged leads {', '.join(ids[:-1])} and {ids[-1]}"


def claim_visitor_events(connection: Connection, anonymous_id: str, lead_id: int, now: int) -> int:
    """Give a lead the events its anonymous id sent before it was known.

    An event among them with a time after `now` is noted on the lead, as
    a stored event would be.
    """
    result = connection.execute(
        update(events)
        .where(events.c.anonymous_id == anonymous_id, events.c.lead_id.is_(None))
        .values(lead_id=lead_id)
    )
    if result.rowcount:
        note_future_events(connection, [lead_id], now)
    return result.rowcount


def merge(connection: Connection, survivor: int, merged: int, now: int) -> Merge:
    """Merge lead `merged` into `survivor`: every event once, attributes combined.

    The survivor's attribute values win; the merged lead's fill the gaps.
    Events, identities, outcomes and qualifications move to the survivor,
    so its stage conditions read the latest qualification of either lead.
    Each moved event keeps whether the merged lead's recycles left it out,
    and the survivor's earlier recycles do not apply to it.
    The merged lead's row stays as a pointer, so its id resolves to the
    survivor. Its stage history and score snapshots stay with it, because
    they describe its own stages. Moved to the survivor, they would break
    the chain of the survivor's stage changes. The caller rescores the
    survivor and then sends the lead.merged webhook
    (leadq.service.merge_rescoring), so that it carries the survivor's
    new stage and scores.
    """
    rows = {
        row.id: row
        for row in connection.execute(
            select(
                leads.c.id,
                leads.c.lead_key,
                leads.c.attributes,
                leads.c.attribute_times,
                leads.c.account_id,
                leads.c.account_at,
                leads.c.email,
                leads.c.reached,
                leads.c.baseline_at,
                leads.c.rescore_at,
            )
            .where(leads.c.id.in_([survivor, merged]))
            .order_by(leads.c.id)
            .with_for_update()
        )
    }
    merged_row, survivor_row = rows[merged], rows[survivor]
    attributes = {
        **lead_attributes(merged_row.attributes, merged),
        **lead_attributes(survivor_row.attributes, survivor),
    }
    reached = reached_stages(survivor_row.reached, survivor) + reached_stages(merged_row.reached, merged)
    reached = list(dict.fromkeys(reached))
    keep_recycle_decisions(connection, merged, merged_row.baseline_at)
    for table in (events, identities, outcomes, qualifications):
        connection.execute(update(table).where(table.c.lead_id == merged).values(lead_id=survivor))
    connection.execute(update(leads).where(leads.c.merged_into == merged).values(merged_into=survivor))
    connection.execute(
        update(leads)
        .where(leads.c.id == merged)
        .values(
            merged_into=survivor,
            attributes="{}",
            attribute_times=None,
            email=None,
            stage=None,
            rescore_at=None,
            updated_at=now,
        )
    )
    email = rows[survivor].email or rows[merged].email
    # The survivor's account wins, as its attributes do, with its membership time.
    in_account = survivor_row if survivor_row.account_id is not None else merged_row
    connection.execute(
        update(leads)
        .where(leads.c.id == survivor)
        .values(
            attributes=json.dumps(attributes),
            attribute_times=_merged_attribute_times(rows[survivor], rows[merged]),
            account_id=in_account.account_id,
            account_at=in_account.account_at,
            email=email,
            reached=json.dumps(reached),
            rescore_at=_earliest(survivor_row.rescore_at, merged_row.rescore_at),
            updated_at=now,
        )
    )
    return Merge(
        survivor_id=survivor,
        survivor_key=survivor_row.lead_key,
        email=email,
        merged_id=merged,
        merged_key=merged_row.lead_key,
        merged_email=merged_row.email,
    )


def _earliest(*times: int | None) -> int | None:
    """Return the earliest of the times that are not None, or None."""
    return min((at for at in times if at is not None), default=None)


def _merged_attribute_times(survivor, merged) -> str:
    """Return the `attribute_times` JSON of the survivor's combined attributes:
    each value's time from the lead whose value was kept."""
    survivor_names = json.loads(survivor.attributes).keys()
    survivor_times = json.loads(survivor.attribute_times or "{}")
    times = {
        name: at for name, at in json.loads(merged.attribute_times or "{}").items() if name not in survivor_names
    }
    times.update({name: at for name, at in survivor_times.items() if name in survivor_names})
    return json.dumps(times)
