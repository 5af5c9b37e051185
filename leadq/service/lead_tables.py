"""Bind stored leads and their events to a compiled model's engine tables.

The service scores with the same compiled query as `leadq score`, on the
tables this module builds from the store's rows, in the same columns and
forms as binding builds them from files. A lead's attributes are its
identify traits over its account's traits. Events that a recycle left out
(leadq.service.recycle_baselines) are left out here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, select

from leadq.binding import (
    empty_events,
    qualification_columns,
    stored_value_columns,
    with_probability,
)
from leadq.compiler.layout import Layout
from leadq.compiler.query import CompiledModel
from leadq.engines import EngineTables
from leadq.lead_columns import AttributeFields
from leadq.qualification.records import latest_complete
from leadq.service.event_bindings import bound_values
from leadq.service.recycle_baselines import counts_despite_recycles
from leadq.service.stored_json import account_traits, attribute_times, lead_attributes
from leadq.store.tables import accounts, events, leads
from leadq.store.value_lists import in_list

# The attribute time of a value stored before leadq recorded times.
UNTIMED = float("-inf")


@dataclass
class StoredLeads:
    """Stored leads bound for the engine, with the fields they were bound from."""

    tables: EngineTables
    # One dict per row of tables.leads: traits and attributes by lead field (stored_lead_fields).
    attributes: list[dict]


def read_stored_leads(
    connection: Connection, compiled: CompiledModel, lead_ids: list[int], as_of: int, *, with_events: bool = True
) -> StoredLeads:
    """Bind the leads and, unless `with_events` is false, their events.

    Without events, the events table is empty and each lead's lead_code is
    its id, the code that leadq.service.event_bindings copies events with.
    """
    layout = compiled.layout
    rows = connection.execute(_LEADS_WITH_TRAITS, {"ids": list(lead_ids)}).all()
    ids = [row.id for row in rows]
    codes = dict(zip(ids, range(len(ids)) if with_events else ids))
    names = AttributeFields(compiled.model.columns, layout.lead_fields)
    attributes = [stored_lead_fields(row, names) for row in rows]
    lead_table = _lead_table(layout, codes, attributes)
    if layout.qualifications:
        latest = latest_complete(connection, ids, list(layout.qualifications), as_of)
        for name, values in qualification_columns(layout, latest).items():
            lead_table = lead_table.append_column(name, values)
    event_table = _event_table(connection, compiled, codes) if with_events else empty_events(layout)
    return StoredLeads(EngineTables(lead_table, event_table), attributes)


# Built once: the statements of a rescore run on every tracked event.
_LEADS_WITH_TRAITS = (
    select(leads.c.id, leads.c.attributes, leads.c.attribute_times, leads.c.account_id, accounts.c.traits)
    .select_from(leads.outerjoin(accounts, leads.c.account_id == accounts.c.id))
    .where(in_list(leads.c.id, "ids"))
    .order_by(leads.c.id)
)
_EVENTS_OF_LEADS = (
    select(
        events.c.id,
        events.c.message_id,
        events.c.lead_id,
        events.c.event_name,
        events.c.ts,
        events.c.properties,
    )
    .select_from(events.join(leads, events.c.lead_id == leads.c.id))
    .where(
        in_list(events.c.lead_id, "ids"),
        counts_despite_recycles(events.c.ts),
    )
    .order_by(events.c.id)
)


def stored_lead_fields(row, names: AttributeFields) -> dict:
    """Return a lead's fields: its account's traits, overridden by its own attributes.

    Names become fields as a leads file's columns do, so `Title`, stored
    before names matched without regard to case, is the field `title`.
    `row` has the lead's `id`, `attributes`, `attribute_times`,
    `account_id` and its account's `traits` (None without an account).
    """
    traits = account_traits(row.traits, row.account_id, row.id) if row.traits is not None else {}
    fields = _one_value_per_field(traits, names, dict)
    attributes = lead_attributes(row.attributes, row.id)
    fields.update(_one_value_per_field(attributes, names, lambda: attribute_times(row.attribute_times, row.id)))
    return fields


def _one_value_per_field(values: dict, names: AttributeFields, times: Callable[[], dict]) -> dict:
    """Rename stored values to fields. Of several names of one field, the latest value wins.

    `times` returns each name's attribute time; it is called only when
    names collide. A value without a time is older than any with one. On
    equal times, a name spelled as the model spells it (a `columns:` key
    or the field) wins, then the name stored later.
    """
    fields = {name: names.field_of(name) for name in values}
    if len(set(fields.values())) == len(fields):
        return {fields[name]: value for name, value in values.items()}
    known_times = times()
    chosen: dict[str, tuple[tuple, object]] = {}
    for position, (name, value) in enumerate(values.items()):
        field = fields[name]
        spelled = name in names.mapping or name == field
        rank = (known_times.get(name, UNTIMED), spelled, position)
        if field not in chosen or rank > chosen[field][0]:
            chosen[field] = (rank, value)
    return {field: value for field, (_, value) in chosen.items()}


def _lead_table(layout: Layout, codes: dict[int, int], attributes: list[dict]) -> pa.Table:
    """Build the leads table from each lead id's code and its fields, in id order."""
    columns = {
        "lead_code": pa.array(list(codes.values()), pa.int64()),
        "lead_key": pa.array([str(lead_id) for lead_id in codes], pa.string()),
    }
    values = [
        ([fields.get(name) for fields in attributes], value_columns)
        for name, value_columns in layout.lead_fields.items()
    ]
    columns.update(stored_value_columns(values))
    return with_probability(pa.table(columns), layout)


def _event_table(connection: Connection, compiled: CompiledModel, codes: dict[int, int]) -> pa.Table:
    layout = compiled.layout
    if not codes:
        return empty_events(layout)
    rows = connection.execute(_EVENTS_OF_LEADS, {"ids": list(codes)}).all()
    if not rows:
        return empty_events(layout)
    # One pass over the rows turns them into columns, in _EVENTS_OF_LEADS's order.
    event_ids, message_ids, lead_ids, names, stamps, texts = zip(*rows)
    columns = {
        "event_row": pa.array(np.arange(len(rows), dtype=np.int64)),
        "event_id": pa.array(message_ids, pa.string()),
        "lead_code": pa.array(list(map(codes.__getitem__, lead_ids)), pa.int64()),
        "event_name": pa.array(names, pa.string()),
        "ts": pa.array(stamps, pa.int64()),
        **bound_values(compiled, stamps, texts, event_ids, lead_ids),
    }
    schema = empty_events(layout).schema
    # Binding returns a property's columns in its own order; the schema decides.
    return pa.table(columns).select(schema.names).cast(schema)
