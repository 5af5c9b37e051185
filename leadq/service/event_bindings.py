"""Bound event columns kept in the store, one table per binding layout.

A rescore runs the compiled query on its leads' stored events. Reading
every event into Python, decoding its properties and binding them again
on each rescore took most of a rescore's time, and the cost grew with
each lead's history. So the store keeps each event's engine columns (its
message id, name and time, its local day and week, and the forms of the
properties that rules test) in a table named after the binding layout,
`event_bindings_<digest>`. A rescore copies its leads' events into the
query's events table in SQL, and binds only the events that arrive there
without a binding row (imported ones, or all of them after a model
change). The tracking API binds the events it stores right away.

A binding row is deleted with its event (ON DELETE CASCADE), so erasure
leaves none behind and a reused event id never meets an old row. Merges
and visitor claims change an event's lead, and recycles and merges
whether it counts, which the copy reads from the events and leads tables
each time. Models that differ only in points or stages
share one table. Only the active version's table is read or written, so
each activation drops the tables of other layouts
(drop_unused_binding_tables); activating an earlier layout again creates
its table anew, and rescores bind its events again.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache

import pyarrow as pa
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    column,
    delete,
    insert,
    inspect,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.exc import DBAPIError

from leadq.binding import calendar_columns, empty_events, stored_value_columns
from leadq.compiler.query import CompiledModel
from leadq.engines import AddedEvents
from leadq.service.recycle_baselines import counts_despite_recycles
from leadq.service.stored_json import properties_of_events
from leadq.store.column_writes import insert_rows
from leadq.store.database import forget_table, has_table, saw_table
from leadq.store.tables import BINDING_TABLE_PREFIX, events, leads
from leadq.store.value_lists import in_list

# The engine columns that the copy takes from `events` (the event's id and
# its current lead). A binding row contains all the others, message id, name
# and time included, so the copy reads `events` only through its lead_id index.
_FROM_EVENTS = ("event_row", "lead_code")

# Part of every table's name: raise it when binding changes how it turns a
# stored value into columns, so that no table of the old code is read.
BINDING_VERSION = 1

# How long an activation waits on PostgreSQL for the locks that dropping an
# unused binding table takes. The drop locks `events` (ACCESS EXCLUSIVE,
# because of the foreign key), and while it waits every reader and writer
# of `events` queues behind it, so a busy table is left for a later
# activation instead.
DROP_LOCK_TIMEOUT = "1s"
# PostgreSQL's SQLSTATE for a lock wait that reached lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"

log = logging.getLogger("leadq.service")

_SQL_TYPES = {pa.string(): Text, pa.int64(): BigInteger, pa.int32(): Integer, pa.float64(): Float(53)}


def bound_values(
    compiled: CompiledModel, stamps, texts, event_ids, lead_ids
) -> dict[str, pa.Array]:
    """Bind events' times and property texts to the layout's value columns.

    `stamps` are microseconds since the epoch and `texts` the stored JSON
    properties, one of each per event. `event_ids` and `lead_ids` are the
    events' stored ids and leads, which DamagedLeadRow names for properties
    that are not a JSON object. Returns the columns after the fixed ones
    (local_day, local_week and the property columns).
    """
    layout = compiled.layout
    micros = pa.array(stamps, pa.int64())
    days, weeks = calendar_columns(micros, compiled.model.timezone, layout.calendar_units)
    columns = {"local_day": days, "local_week": weeks}
    # Decoding the JSON is the largest cost of binding, so it is skipped
    # when no rule reads a property.
    properties = properties_of_events(texts, event_ids, lead_ids) if layout.properties else []
    fields = [
        ([props.get(name) for props in properties], value_columns)
        for name, value_columns in layout.properties.items()
    ]
    columns.update(stored_value_columns(fields))
    return columns


# Each compiled model's binding table, by the model's id, with the model
# itself so that a reused id is not mistaken for it. A rescore needs the
# table several times, so it is built once per model.
_TABLES: dict[int, tuple[CompiledModel, Table]] = {}
_TABLES_LIMIT = 64


def binding_table(compiled: CompiledModel) -> Table:
    """Return the store table of this model's bound event columns."""
    known = _TABLES.get(id(compiled))
    if known is not None and known[0] is compiled:
        return known[1]
    if len(_TABLES) >= _TABLES_LIMIT:
        _TABLES.clear()
    bindings = _binding_table(compiled)
    _TABLES[id(compiled)] = (compiled, bindings)
    return bindings


def _binding_table(compiled: CompiledModel) -> Table:
    fields = [f for f in empty_events(compiled.layout).schema if f.name not in _FROM_EVENTS]
    layout = compiled.layout
    shape = repr(
        (
            BINDING_VERSION,
            compiled.model.timezone,
            sorted(layout.calendar_units),
            sorted((name, repr(columns)) for name, columns in layout.properties.items()),
            [(f.name, str(f.type)) for f in fields],
        )
    )
    digest = hashlib.sha256(shape.encode()).hexdigest()[:16]
    return _table_of_shape(digest, tuple((f.name, f.type) for f in fields))


@lru_cache(maxsize=64)
def _table_of_shape(digest: str, fields: tuple) -> Table:
    stored_id = Column(
        "stored_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey(events.c.id, ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    columns = [Column(name, _SQL_TYPES[kind]) for name, kind in fields]
    return Table(f"{BINDING_TABLE_PREFIX}{digest}", MetaData(), stored_id, *columns)


def has_binding_table(connection: Connection, compiled: CompiledModel) -> bool:
    """Return whether the store has the table of this model's bound event columns.

    The catalog is queried once per database connection
    (leadq.store.database.has_table), not once per rescore.
    """
    return has_table(connection, binding_table(compiled).name)


def binds_in_store(connection: Connection, compiled: CompiledModel) -> bool:
    """Return whether rescores of this model copy events from its binding table.

    Models with a `predictive` section bind in Python, because their
    features read the events table.
    """
    return compiled.model.predictive is None and has_binding_table(connection, compiled)


def create_binding_table(connection: Connection, compiled: CompiledModel) -> None:
    """Create the model's binding table in the caller's transaction unless it exists.

    Model activation and `ensure_active_model` call this, never a rescore,
    because on PostgreSQL the table's foreign key locks `events` until the
    commit, which would deadlock against a transaction that stored events.
    An advisory lock keeps two processes from creating the table at once.
    """
    bindings = binding_table(compiled)
    # The catalog decides, not has_table's memory of this connection, since
    # another activation may have dropped a table that it remembers.
    if connection.dialect.has_table(connection, bindings.name):
        saw_table(connection, bindings.name)
        return
    if connection.dialect.name == "postgresql":
        key = int(bindings.name.rsplit("_", 1)[1][:15], 16)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    bindings.create(connection, checkfirst=True)
    saw_table(connection, bindings.name)


def drop_unused_binding_tables(connection: Connection, compiled: CompiledModel) -> list[str]:
    """Drop every binding table but this model's, in the caller's transaction; return the names dropped.

    Activation calls this with the version it made active, while it holds
    the activation lock, so no other activation can make a dropped layout
    active before the commit. Work that read an older version, such as a
    long rescore run, reads the active version again in each transaction
    (model_versions.still_active). On PostgreSQL a table whose locks are
    not granted within DROP_LOCK_TIMEOUT is left, and a later activation
    drops it.

    On PostgreSQL a transaction that read the older version just before
    the activation committed fails when it reaches the dropped table
    (42P01). Tracking groups, import batches, admin actions and
    qualifications then run again with the version active now
    (leadq.service.retries), and a rescore run rescores that batch lead by
    lead.
    """
    active_table = binding_table(compiled).name
    names = sorted(
        name
        for name in inspect(connection).get_table_names()
        if name.startswith(BINDING_TABLE_PREFIX) and name != active_table
    )
    return [name for name in names if _drop_binding_table(connection, name)]


def _drop_binding_table(connection: Connection, name: str) -> bool:
    """Drop one binding table; return False when PostgreSQL did not grant its locks in time."""
    unused = Table(name, MetaData())
    if connection.dialect.name == "postgresql":
        try:
            _drop_within_lock_timeout(connection, unused)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            log.info(
                "binding table %s was not dropped, because its locks were not granted within %s",
                name, DROP_LOCK_TIMEOUT,
            )  # fmt: skip
            return False
    else:
        unused.drop(connection)
    forget_table(connection, name)
    log.info("dropped binding table %s, which the active model version does not use", name)
    return True


def _drop_within_lock_timeout(connection: Connection, unused: Table) -> None:
    """Drop a table in a savepoint whose lock waits end after DROP_LOCK_TIMEOUT.

    The transaction's own lock_timeout applies again afterwards, and a
    failed drop rolls back only the savepoint.
    """
    previous = connection.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
    with connection.begin_nested():
        connection.execute(_SET_LOCK_TIMEOUT, {"timeout": DROP_LOCK_TIMEOUT})
        unused.drop(connection)
        connection.execute(_SET_LOCK_TIMEOUT, {"timeout": previous})


_SET_LOCK_TIMEOUT = text("SELECT set_config('lock_timeout', :timeout, true)")


def bound_events(connection: Connection, compiled: CompiledModel, lead_ids: list[int]) -> AddedEvents:
    """Return how a rescore adds the leads' bound events that recycles did not leave out to the engine's events table.

    The table's lead_code is the lead's id and its event_row the event's
    id, which orders events as they were stored. Events without a binding
    row arrive with a NULL event_id. They are then bound, stored and copied
    again. The binding table must exist (`create_binding_table`).
    """
    bindings = binding_table(compiled)

    def copy(target: str) -> None:
        connection.execute(_copy_statement(bindings, target, "leads"), {"ids": lead_ids})

    def complete(target: str) -> None:
        # The unbound rows name the events to bind, so no statement lists
        # their ids: after a model change a lead may have more events than
        # a statement takes parameters.
        _bind_events(connection, compiled, bindings, target)
        connection.execute(_copy_statement(bindings, target, "unbound"))
        scratch = _scratch(target)
        connection.execute(delete(scratch).where(scratch.c.event_id.is_(None)))

    return AddedEvents(copy, _unbound_row, complete)


@lru_cache(maxsize=64)
def _unbound_row(target: str) -> str:
    """Return the query for one row of `target` whose event is not bound yet."""
    # The name comes from engines.scratch_tables, never from user input.
    return f'SELECT event_row FROM "{target}" WHERE event_id IS NULL LIMIT 1'


def _scratch(target: str):
    return table(target, column("event_row"), column("event_id"))


def bind_stored_events(connection: Connection, compiled: CompiledModel, rows) -> None:
    """Store the bindings of events just stored, so the rescore that follows copies them.

    `rows` contain each event's stored id, lead id, message id, name, time
    (microseconds) and properties (JSON text). The binding table must exist
    (`binds_in_store`).
    """
    if rows:
        _insert_bindings(connection, compiled, binding_table(compiled), rows)


def _bind_events(connection: Connection, compiled: CompiledModel, bindings: Table, target: str) -> None:
    _insert_bindings(connection, compiled, bindings, connection.execute(_events_to_bind(target)).all())


def _insert_bindings(connection: Connection, compiled: CompiledModel, bindings: Table, rows) -> None:
    stored_ids, lead_ids, message_ids, event_names, stamps, texts = zip(*rows)
    columns = {"stored_id": stored_ids, "event_id": message_ids, "event_name": event_names, "ts": stamps}
    for name, values in bound_values(compiled, stamps, texts, stored_ids, lead_ids).items():
        columns[name] = values.to_pylist()
    names = list(columns)
    insert_rows(connection, bindings, [dict(zip(names, values)) for values in zip(*columns.values())])


@lru_cache(maxsize=64)
def _events_to_bind(target: str):
    scratch = _scratch(target)
    return (
        select(
            events.c.id,
            events.c.lead_id,
            events.c.message_id,
            events.c.event_name,
            events.c.ts,
            events.c.properties,
        )
        .select_from(events.join(scratch, scratch.c.event_row == events.c.id))
        .where(scratch.c.event_id.is_(None))
    )


@lru_cache(maxsize=64)
def _copy_statement(bindings: Table, target: str, chosen: str):
    """Build the copy of the events of leads (`chosen` "leads") or of the unbound rows ("unbound").

    The copy of leads' events keeps unbound events, with NULL bound
    columns. The copy of unbound rows reads their events, just bound.
    """
    bound = [name for name in bindings.c.keys() if name != "stored_id"]
    with_leads = events.join(leads, events.c.lead_id == leads.c.id)
    matches = bindings.c.stored_id == events.c.id
    counted = counts_despite_recycles(bindings.c.ts)
    if chosen == "leads":
        joined = with_leads.outerjoin(bindings, matches)
        in_leads = in_list(events.c.lead_id, "ids")
        condition = in_leads & or_(counted, bindings.c.stored_id.is_(None))
    else:
        scratch = _scratch(target)
        unbound = select(scratch.c.event_row).where(scratch.c.event_id.is_(None))
        joined = with_leads.join(bindings, matches)
        condition = events.c.id.in_(unbound) & counted
    columns = [events.c.id, events.c.lead_id, *(bindings.c[name] for name in bound)]
    source = select(*columns).select_from(joined).where(condition)
    names = [*_FROM_EVENTS, *bound]
    return insert(table(target, *map(column, names))).from_select(names, source)
