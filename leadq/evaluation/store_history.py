"""Read a lead history from the service's store.

A stored lead is first seen at the earlier of its row's creation and its
first event, because an import creates rows long after the events it
carries. Outcomes of a lead merged into another count for the survivor.
Stored attribute and trait names match the fields that a report groups
by as scoring matches them (leadq.lead_columns.AttributeFields): through
the model's `columns:`, and without regard to case or surrounding spaces.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, func, select

from leadq.evaluation.history import LeadHistory, merge_outcome, outcome_kind
from leadq.lead_columns import AttributeFields
from leadq.service.lead_tables import stored_lead_fields
from leadq.store.tables import accounts, events, leads, outcomes


def store_history(
    connection: Connection,
    groups: tuple[str, ...] = (),
    columns: dict[str, str] | None = None,
) -> tuple[LeadHistory, list[int]]:
    """Return the history of the stored leads that were not merged, and their ids.

    `groups` are the lead fields to read for each lead, and `columns` the
    model's `columns:` mapping of stored names to fields.
    """
    names = AttributeFields(columns or {}, groups)
    rows = connection.execute(
        select(
            leads.c.id,
            leads.c.lead_key,
            leads.c.created_at,
            leads.c.attributes,
            leads.c.attribute_times,
            leads.c.account_id,
            accounts.c.traits,
        )
        .select_from(leads.outerjoin(accounts, leads.c.account_id == accounts.c.id))
        .where(leads.c.merged_into.is_(None))
        .order_by(leads.c.id)
    ).all()
    history = LeadHistory()
    for row in rows:
        key = str(row.id)
        history.first_seen[key] = row.created_at
        history.labels[key] = row.lead_key
        history.fields[key] = _group_fields(row, names, groups)
    _add_first_events(connection, history)
    _add_outcomes(connection, history)
    history.latest = _latest(connection, history)
    return history, [row.id for row in rows]


def _group_fields(row, names: AttributeFields, groups: tuple[str, ...]) -> dict:
    fields = stored_lead_fields(row, names)
    return {name: fields.get(name) for name in groups}


def _add_first_events(connection: Connection, history: LeadHistory) -> None:
    first = connection.execute(
        select(events.c.lead_id, func.min(events.c.ts))
        .where(events.c.lead_id.is_not(None))
        .group_by(events.c.lead_id)
    ).all()
    for lead_id, ts in first:
        key = str(lead_id)
        if key in history.first_seen:
            history.first_seen[key] = min(history.first_seen[key], ts)


def _add_outcomes(connection: Connection, history: LeadHistory) -> None:
    survivors = _survivors(connection)
    unknown: Counter = Counter()
    rows = connection.execute(
        select(
            outcomes.c.lead_id, outcomes.c.outcome, outcomes.c.at, outcomes.c.value
        ).order_by(outcomes.c.at, outcomes.c.id)
    ).all()
    for row in rows:
        key = str(survivors.get(row.lead_id, row.lead_id))
        kind = outcome_kind(row.outcome)
        if kind is None:
            unknown[row.outcome] += 1
            continue
        merged = merge_outcome(history.outcomes.get(key), kind, row.at, row.value)
        if merged is not None:
            history.outcomes[key] = merged
    if unknown:
        shown = ", ".join(
            f"{text!r} ({count:,})" for text, count in unknown.most_common(5)
        )
        history.notes.append(
            f"stored outcomes with unknown values were left out: {shown}"
        )


def _survivors(connection: Connection) -> dict[int, int]:
    """Map each merged lead to the lead it was finally merged into."""
    pointers = dict(
        connection.execute(
            select(leads.c.id, leads.c.merged_into).where(
                leads.c.merged_into.is_not(None)
            )
        ).all()
    )
    survivors = {}
    for lead_id in pointers:
        current, seen = lead_id, set()
        while current in pointers and current not in seen:
            seen.add(current)
            current = pointers[current]
        survivors[lead_id] = current
    return survivors


def _latest(connection: Connection, history: LeadHistory) -> int | None:
    last_event = connection.execute(select(func.max(events.c.ts))).scalar()
    last_outcome = connection.execute(select(func.max(outcomes.c.at))).scalar()
    times = [t for t in (last_event, last_outcome) if t is not None] + list(
        history.first_seen.values()
    )
    return max(times) if times else None
