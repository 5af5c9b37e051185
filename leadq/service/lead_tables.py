"""Bind stored leads and their events to a compiled model's engine tables.

The service scores with the same compiled query as `leadq score`, on the
tables this module builds from the store's rows, in the same columns and
forms as binding builds them from files. A lead's attributes are its
identify traits over its account's traits; events at or before the lead's
recycle baseline are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, bindparam, or_, select

from leadq.binding import (
    calendar_columns,
    empty_events,
    qualification_columns,
    stored_value_columns,
    with_probability,
)
from leadq.compiler.layout import Layout
from leadq.compiler.query import CompiledModel
from leadq.engines import EngineTables
from leadq.qualification.records import latest_complete
from leadq.store.tables import accounts, events, leads


@dataclass
class StoredLeads:
    """Stored leads bound for the engine, with the fields they were bound from."""

    tables: EngineTables
    # One dict per row of tables.leads: traits renamed by the model's `columns:`.
    attributes: list[dict]


def read_stored_leads(
    connection: Connection, compiled: CompiledModel, lead_ids: list[int], as_of: int
) -> StoredLeads:
    layout = compiled.layout
    rows = connection.execute(_LEADS_WITH_TRAITS, {"ids": list(lead_ids)}).all()
    codes = {row.id: code for code, row in enumerate(rows)}
    attributes = [_lead_fields(row, compiled.model.columns) for row in rows]
    lead_table = _lead_table(layout, [row.id for row in rows], attributes)
    if layout.qualifications:
        latest = latest_complete(connection, [row.id for row in rows], list(layout.qualifications), as_of)
        for name, values in qualification_columns(layout, latest).items():
            lead_table = lead_table.append_column(name, values)
    event_table = _event_table(connection, compiled, codes)
    return StoredLeads(EngineTables(lead_table, event_table), attributes)


# Built once: the statements of a rescore run on every tracked event.
_LEADS_WITH_TRAITS = (
    select(leads.c.id, leads.c.attributes, accounts.c.traits)
    .select_from(leads.outerjoin(accounts, leads.c.account_id == accounts.c.id))
    .where(leads.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(leads.c.id)
)
_EVENTS_OF_LEADS = (
    select(events.c.message_id, events.c.lead_id, events.c.event_name, events.c.ts, events.c.properties)
    .select_from(events.join(leads, events.c.lead_id == leads.c.id))
    .where(
        events.c.lead_id.in_(bindparam("ids", expanding=True)),
        or_(leads.c.baseline_at.is_(None), events.c.ts > leads.c.baseline_at),
    )
    .order_by(events.c.id)
)


def _lead_fields(row, mapping: dict[str, str]) -> dict:
    fields = json.loads(row.traits) if row.traits else {}
    fields.update(json.loads(row.attributes))
    # The model's `columns:` renames input names to fields, as for files.
    return {mapping.get(name, name): value for name, value in fields.items()}


def _lead_table(layout: Layout, ids: list[int], attributes: list[dict]) -> pa.Table:
    columns = {
        "lead_code": pa.array(np.arange(len(ids), dtype=np.int64)),
        "lead_key": pa.array([str(lead_id) for lead_id in ids], pa.string()),
    }
    for name, value_columns in layout.lead_fields.items():
        values = [fields.get(name) for fields in attributes]
        columns.update(stored_value_columns(values, value_columns))
    return with_probability(pa.table(columns), layout)


def _event_table(connection: Connection, compiled: CompiledModel, codes: dict[int, int]) -> pa.Table:
    layout = compiled.layout
    if not codes:
        return empty_events(layout)
    rows = connection.execute(_EVENTS_OF_LEADS, {"ids": list(codes)}).all()
    if not rows:
        return empty_events(layout)
    # One pass over the rows turns them into columns, in _EVENTS_OF_LEADS's order.
    message_ids, lead_ids, names, stamps, texts = zip(*rows)
    micros = pa.array(stamps, pa.int64())
    days, weeks = calendar_columns(micros, compiled.model.timezone, layout.calendar_units)
    columns = {
        "event_row": pa.array(np.arange(len(rows), dtype=np.int64)),
        "event_id": pa.array(message_ids, pa.string()),
        "lead_code": pa.array(list(map(codes.__getitem__, lead_ids)), pa.int64()),
        "event_name": pa.array(names, pa.string()),
        "ts": micros,
        "local_day": days,
        "local_week": weeks,
    }
    # Decoding every stored event's JSON is the largest cost of a rescore,
    # so it is skipped when no rule reads a property.
    properties = list(map(json.loads, texts)) if layout.properties else []
    for name, value_columns in layout.properties.items():
        values = [props.get(name) for props in properties]
        columns.update(stored_value_columns(values, value_columns))
    table = pa.table(columns)
    return table.cast(empty_events(layout).schema)
