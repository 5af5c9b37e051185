"""Lead attributes from identify traits, by event time, and traits of visitors.

A lead's attribute takes a trait's value when the trait's event time (the
message's `timestamp`, or the time leadq received it) is at or after the
time of the value the lead has. So a trait sent late with an older time
does not replace a newer value, and of two traits with one time the one
written later wins. `leads.attribute_times` keeps each value's time. An
attribute without a time (stored before leadq recorded them) yields to any
trait.

An identify call with only an anonymous id describes a visitor that no
lead has yet, so its traits wait in `visitor_traits`. When a call links the
anonymous id to a lead, the lead takes them by the same rule, as it takes
the visitor's events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, select, update

from leadq.lead_columns import folded
from leadq.service.errors import ApiError
from leadq.service.identity import insert_ignoring_statement, normalized_email, resolve
from leadq.service.stored_json import lead_attributes
from leadq.store.tables import leads, visitor_traits
from leadq.store.value_lists import in_list

# A trait's value and its event time in microseconds.
TimedValue = tuple[Any, int]

# The maximum number of attribute names that identify calls may give one
# lead, or one visitor. Every rescore reads the lead's attributes, so calls
# that each add new names would make every later write of the lead slower.
# Names count without regard to case or surrounding spaces, and `email`
# does not count. Merges, linked visitors and imports are not limited.
ATTRIBUTE_LIMIT = 1_000

_ATTRIBUTES = select(leads.c.attributes, leads.c.attribute_times)


def apply_traits(connection: Connection, lead_id: int, traits: dict, at: int, now: int) -> None:
    """Give the lead the traits of one message with event time `at`, where they are not older.

    Raises ApiError `too_many_attributes` when they would take the lead over
    ATTRIBUTE_LIMIT names.
    """
    timed = {name: (value, at) for name, value in traits.items()}
    apply_timed_traits(connection, lead_id, timed, now, limited=True)


def apply_timed_traits(
    connection: Connection, lead_id: int, timed: dict[str, TimedValue], now: int, *, limited: bool = False
) -> None:
    """Give the lead each trait whose time is at or after its own value's time.

    A trait `email` that the lead takes sets the lead's email too. With
    `limited`, traits that would take the lead over ATTRIBUTE_LIMIT names
    raise ApiError.
    """
    row = connection.execute(_ATTRIBUTES.where(leads.c.id == lead_id)).one()
    attributes = lead_attributes(row.attributes, lead_id)
    if limited:
        check_attribute_count(attributes.keys(), timed.keys())
    times = json.loads(row.attribute_times or "{}")
    newer = {name: (value, at) for name, (value, at) in timed.items() if times.get(name, at) <= at}
    if not newer:
        return
    for name, (value, at) in newer.items():
        attributes[name] = value
        times[name] = at
    values = {"attributes": json.dumps(attributes), "attribute_times": json.dumps(times), "updated_at": now}
    email = normalized_email(newer["email"][0]) if "email" in newer else None
    if email is not None:
        values["email"] = email
    connection.execute(update(leads).where(leads.c.id == lead_id).values(**values))


def check_attribute_count(names: Iterable[str], added: Iterable[str]) -> None:
    """Raise ApiError 400 `too_many_attributes` when `added` adds names and the total is over the limit.

    A call that only writes names the lead already has is always accepted.
    """
    known = {folded(name) for name in names} - {"email"}
    new = {folded(name) for name in added} - known - {"email"}
    count = len(known) + len(new)
    if new and count > ATTRIBUTE_LIMIT:
        raise ApiError(
            400,
            "too_many_attributes",
            f"these traits would make {count} attribute names, over the limit of {ATTRIBUTE_LIMIT} "
            "per lead or visitor; send only the traits that scoring and your reports read",
            "traits",
            count,
        )


def set_attribute_times(times_text: str | None, names, at: int) -> str:
    """Return the `attribute_times` JSON with each of `names` set to `at`."""
    times = json.loads(times_text or "{}")
    times.update(dict.fromkeys(names, at))
    return json.dumps(times)


def store_visitor_traits(
    connection: Connection, anonymous_id: str, message_id: str, traits: dict, at: int, now: int
) -> None:
    """Keep the traits of a visitor's identify call until its anonymous id is linked.

    A repeated message id is stored once.
    """
    if not traits:
        return
    check_attribute_count(_visitor_trait_names(connection, anonymous_id), traits.keys())
    statement = insert_ignoring_statement(connection.dialect.name, visitor_traits, ("message_id",), "id")
    row = {
        "message_id": message_id,
        "anonymous_id": anonymous_id,
        "traits": json.dumps(traits),
        "ts": at,
        "received_at": now,
    }
    connection.execute(statement, row)


def _visitor_trait_names(connection: Connection, anonymous_id: str) -> set[str]:
    """Return the trait names that a visitor's kept identify calls have."""
    query = select(visitor_traits.c.traits).where(visitor_traits.c.anonymous_id == anonymous_id)
    return {name for text in connection.execute(query).scalars() for name in json.loads(text)}


_VISITOR_ROWS = (
    select(visitor_traits.c.id, visitor_traits.c.anonymous_id, visitor_traits.c.traits, visitor_traits.c.ts)
    .where(in_list(visitor_traits.c.anonymous_id, "ids"))
    .order_by(visitor_traits.c.ts, visitor_traits.c.id)
)


def claim_visitor_traits(connection: Connection, lead_of: dict[str, int], now: int) -> set[int]:
    """Give each lead the stored traits of its anonymous ids, then delete them.

    `lead_of` maps anonymous ids to the leads that have them. Returns the
    leads whose attributes changed or may have.
    """
    if not lead_of:
        return set()
    rows = connection.execute(_VISITOR_ROWS, {"ids": sorted(lead_of)}).all()
    if not rows:
        return set()
    timed_by_lead: dict[int, dict[str, TimedValue]] = {}
    for row in rows:
        lead_id = resolve(connection, lead_of[row.anonymous_id])
        timed = timed_by_lead.setdefault(lead_id, {})
        # Rows come oldest first, so a later trait replaces an earlier one.
        timed.update({name: (value, row.ts) for name, value in json.loads(row.traits).items()})
    for lead_id, timed in timed_by_lead.items():
        apply_timed_traits(connection, lead_id, timed, now)
    claimed = delete(visitor_traits).where(in_list(visitor_traits.c.id, "row_ids"))
    connection.execute(claimed, {"row_ids": [row.id for row in rows]})
    return set(timed_by_lead)
