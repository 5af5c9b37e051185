"""Rescore a lead when its event with a time ahead of the clock comes due.

A tracking message may carry a `timestamp` up to a day after the server's
clock, and `leadq import events` may hold such times too. A rescore as of
now leaves those events out, so the lead's row notes the time of its
earliest one in `leads.rescore_at`. The scheduler of `leadq serve`
(leadq.service.schedule.rescore_due) rescores the lead once that time has
passed, and notes the next one.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, func, select, update

from leadq.store.tables import events, leads
from leadq.store.value_lists import in_list

_EARLIEST_LATER_EVENT = (
    select(func.min(events.c.ts))
    .where(events.c.lead_id == leads.c.id, events.c.ts > bindparam("now"))
    .scalar_subquery()
)
_NOTE = update(leads).where(in_list(leads.c.id, "ids")).values(rescore_at=_EARLIEST_LATER_EVENT)


def note_future_events(connection: Connection, lead_ids: Iterable[int], now: int) -> None:
    """Set each lead's `rescore_at` to the time of its earliest event after `now`, or NULL without one."""
    ids = sorted(set(lead_ids))
    if ids:
        connection.execute(_NOTE, {"ids": ids, "now": now})


def leads_of_future_rows(rows: Iterable[dict], now: int) -> set[int]:
    """Return the leads of event rows (with `lead_id` and `ts`) whose time is after `now`."""
    return {row["lead_id"] for row in rows if row["ts"] > now and row["lead_id"] is not None}


def due_leads(connection: Connection, now: int, skip: Iterable[int], limit: int) -> list[int]:
    """Return up to `limit` leads, merged into none, whose noted event time is at or before `now`."""
    query = select(leads.c.id).where(leads.c.rescore_at <= now, leads.c.merged_into.is_(None))
    skipped = sorted(set(skip))
    if skipped:
        query = query.where(leads.c.id.not_in(skipped))
    return list(connection.execute(query.order_by(leads.c.rescore_at, leads.c.id).limit(limit)).scalars())
