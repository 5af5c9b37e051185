"""Recycle baselines: which stored events of a lead count for its scores.

Recycling a lead sets `leads.baseline_at`, and its events at or before
that time never count again. A merge moves the merged lead's events to
the survivor, and each moved event keeps the decision of the lead it came
from in `events.excluded_by_recycle`: TRUE when a recycle left it out,
FALSE when none did. The survivor's baseline decides only the events
where that column is NULL: its own, and those stored for it later.
Recycling the survivor sets the column back to NULL, because its new
baseline is later than every earlier one and so decides every event.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from leadq.store.tables import events, leads


def counts_despite_recycles(ts: ColumnElement) -> ColumnElement[bool]:
    """Return the condition that no recycle of the event's lead, or of a lead merged into it, left it out.

    The query must join `events` and the event's `leads` row. `ts` is the
    event's time: `events.ts`, or the same value from a binding table.
    """
    after_baseline = or_(leads.c.baseline_at.is_(None), ts > leads.c.baseline_at)
    undecided = events.c.excluded_by_recycle.is_(None)
    return or_(events.c.excluded_by_recycle.is_(False), and_(undecided, after_baseline))


def keep_recycle_decisions(connection: Connection, merged_id: int, baseline_at: int | None) -> None:
    """Record on the merged lead's events whether its recycle left each one out, before they move.

    `baseline_at` is the merged lead's. Events moved to it by earlier
    merges keep the decision they carry.
    """
    undecided = and_(events.c.lead_id == merged_id, events.c.excluded_by_recycle.is_(None))
    if baseline_at is None:
        connection.execute(update(events).where(undecided).values(excluded_by_recycle=False))
        return
    connection.execute(update(events).where(undecided).values(excluded_by_recycle=events.c.ts <= baseline_at))


def forget_recycle_decisions(connection: Connection, lead_id: int) -> None:
    """Let a recycled lead's new baseline decide each of its events, also those a merge moved to it."""
    # Only a lead that another lead was merged into has decided events,
    # because a merge also points the leads merged into the merged one at
    # the survivor. Checking leads first keeps the recycle of any other
    # lead from locking the events table until its commit. On PostgreSQL a
    # model activation waits at most one second for that lock to drop an
    # unused binding table.
    took_in = select(leads.c.id).where(leads.c.merged_into == lead_id).limit(1)
    if connection.execute(took_in).first() is None:
        return
    decided = and_(events.c.lead_id == lead_id, events.c.excluded_by_recycle.is_not(None))
    connection.execute(update(events).where(decided).values(excluded_by_recycle=None))
