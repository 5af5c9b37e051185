"""Merged leads: a merged lead's id resolves to the lead that survived.

When two leads turn out to be one person, the merge keeps one lead (the
survivor) and sets `merged_into` on the other. A survivor can later be
merged again, so a chain of ids can lead to the current survivor.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from leadq.store.tables import leads


class MergeCycleError(RuntimeError):
    """Leads whose `merged_into` ids form a cycle, so no lead survived."""


def resolve_survivor(connection: Connection, lead_id: int) -> int | None:
    """Return the surviving lead of `lead_id`: the end of its chain of merges.

    Returns None when no lead has the id. Raises MergeCycleError when the
    chain of merges returns to an id that it already passed.
    """
    passed: list[int] = []
    current = lead_id
    while True:
        merged_into = connection.execute(
            select(leads.c.merged_into).where(leads.c.id == current)
        ).first()
        if merged_into is None:
            return None
        if merged_into[0] is None:
            return current
        passed.append(current)
        current = merged_into[0]
        if current in passed:
            raise MergeCycleError(f"leads {passed} are merged into each other")


def merged_ids(
    connection: Connection, survivor_id: int, *, lock: bool = False
) -> list[int]:
    """Return the ids of all leads merged into the survivor, directly or not.

    With `lock`, the survivor and those leads are locked for update on
    PostgreSQL, so no other transaction adds rows that reference them. SQLite
    needs no row locks, because a writer there locks the whole database.
    """
    found: list[int] = []
    frontier = [survivor_id]
    if lock:
        _lock_leads(connection, frontier)
    while frontier:
        query = select(leads.c.id).where(leads.c.merged_into.in_(frontier))
        if lock:
            query = query.with_for_update()
        frontier = [row.id for row in connection.execute(query.order_by(leads.c.id))]
        frontier = [lead_id for lead_id in frontier if lead_id not in found]
        found.extend(frontier)
    return found


def _lock_leads(connection: Connection, ids: list[int]) -> None:
    connection.execute(select(leads.c.id).where(leads.c.id.in_(ids)).with_for_update())
