"""Run a compiled model on a SQL engine: DuckDB, SQLite, PostgreSQL or Spark.

Every engine receives the same sqlglot tree, rendered in its dialect, and
the same bound tables. Each returns an Arrow table of one row per lead.
DuckDB and SQLite run in memory; PostgreSQL runs on temporary tables of a
server named by URL; Spark runs on temporary views (leadq.spark).
`run_on_connection` runs the query inside the service's own database, on
the open transaction.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from leadq.compiler.query import CompiledModel
from leadq.errors import OptionError
from leadq.inputs.batches import DEFAULT_BATCH_ROWS

log = logging.getLogger("leadq.scoring")

ENGINES = ("duckdb", "sqlite", "postgres", "spark")
DEFAULT_SPARK_MASTER = "local[2]"
# DuckDB's memory limit when it reads events in batches. A run of 100M
# events for 2M leads peaked at 5.9 GiB with it (benchmarks/RESULTS.md).
DEFAULT_MEMORY_LIMIT = "4GB"


@dataclass
class EngineTables:
    """The `leads` and `events` tables in the columns of a model's Layout."""

    leads: pa.Table
    events: pa.Table


@dataclass(frozen=True)
class EngineSettings:
    """Settings of the engines: PostgreSQL's URL, Spark's master, DuckDB's memory.

    A `spark_master` of None lets Spark choose, as spark-submit sets it.
    `memory_limit`, `batch_rows` and `temp_directory` apply to DuckDB runs
    that read events in batches (leadq.streaming): DuckDB's memory limit
    (None: DuckDB's default, 80% of the RAM), the rows bound per batch and
    the folder of the spooled events and spill files (None: the system's
    temporary folder, TMPDIR).
    """

    database_url: str | None = None
    spark_master: str | None = DEFAULT_SPARK_MASTER
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT
    batch_rows: int = DEFAULT_BATCH_ROWS
    temp_directory: str | None = None


def run(
    compiled: CompiledModel,
    tables: EngineTables,
    as_of_micros: int,
    engine: str,
    settings: EngineSettings | None = None,
) -> pa.Table:
    settings = settings or EngineSettings()
    if engine == "duckdb":
        return run_duckdb(compiled, tables, as_of_micros)
    if engine == "sqlite":
        return run_sqlite(compiled, tables, as_of_micros)
    if engine == "postgres":
        return run_postgres(compiled, tables, as_of_micros, settings.database_url)
    if engine == "spark":
        from leadq.spark import run_spark

        return run_spark(compiled, tables, as_of_micros, settings.spark_master)
    raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def run_duckdb(compiled: CompiledModel, tables: EngineTables, as_of_micros: int) -> pa.Table:
    connection = duckdb.connect(":memory:")
    try:
        connection.register("leads", tables.leads)
        connection.register("events", tables.events)
        relation = connection.sql(compiled.sql("duckdb"), params=[as_of_micros])
        return relation.to_arrow_table()
    finally:
        connection.close()


def run_sqlite(compiled: CompiledModel, tables: EngineTables, as_of_micros: int) -> pa.Table:
    connection = sqlite3.connect(":memory:")
    try:
        _load_table(connection, "leads", tables.leads)
        _load_table(connection, "events", tables.events)
        cursor = connection.execute(compiled.sql("sqlite"), [as_of_micros])
        return _fetched(cursor)
    finally:
        connection.close()


def run_postgres(
    compiled: CompiledModel, tables: EngineTables, as_of_micros: int, url: str | None
) -> pa.Table:
    """Copy the bound tables into temporary tables of the server and run there."""
    engine = create_engine(postgres_url(url))
    try:
        with connect_postgres(engine) as connection, connection.begin():
            return run_on_connection(connection, compiled, tables, as_of_micros)
    finally:
        engine.dispose()


def connect_postgres(engine: Engine) -> Connection:
    """Connect to the server of --database, or raise OptionError when that fails.

    A failed connection (a wrong user or password, a server that does not
    run) comes from a mistake in the option, so it is a usage error. An
    error after connecting is not.
    """
    try:
        return engine.connect()
    except OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        url = engine.url.set(drivername="postgresql")
        masked_url = url.render_as_string(hide_password=True)
        raise OptionError(
            f"cannot connect to --database {masked_url}: {reason}. Check that the "
            "server runs and that the URL's user, password, host, port and database "
            "are right"
        ) from None


def postgres_url(url: str | None) -> str:
    """Check a PostgreSQL URL and name the psycopg driver, which leadq installs."""
    if not url:
        raise OptionError(
            "--engine postgres needs --database URL, such as "
            "postgresql://user@127.0.0.1:5432/name"
        )
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise OptionError(
            f"--database {_hidden_password(url)!r} is not a PostgreSQL URL; write "
            "postgresql://user@host:5432/name"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _hidden_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


@dataclass(frozen=True)
class AddedEvents:
    """Events that a caller adds to the engine's events table in SQL, after the bound rows.

    `copy(table)` runs statements that return no rows, so on PostgreSQL they
    go out in the pipeline that fills the tables and runs the query.
    `incomplete(table)` is a query that returns a row when the copy left
    rows to complete, and `complete(table)` completes them, after which
    the scoring query runs again.
    """

    copy: Callable[[str], None]
    incomplete: Callable[[str], str]
    complete: Callable[[str], None]


def run_on_connection(
    connection, compiled: CompiledModel, tables: EngineTables, as_of_micros: int, *,
    added: AddedEvents | None = None, ids_unique: bool = False,
) -> pa.Table:  # fmt: skip
    """Run on an open SQLAlchemy connection to SQLite or PostgreSQL.

    The bound tables go into temporary tables of the connection, emptied
    before each run, so the query reads only what the caller bound. The
    tables live as long as the connection and are named after their
    columns, so the database keeps its prepared query from run to run.
    On PostgreSQL they are emptied at each commit too; on SQLite, before
    returning. `added` events join the bound ones before the query runs.
    With `ids_unique`, the caller states that no event id repeats (as in
    the store), so the query skips the search for repeats.

    The run uses the driver's own connection, whose errors SQLAlchemy does
    not wrap. They are raised as SQLAlchemy's DBAPIError, like the errors
    of the connection's own statements, so that the retries of store
    transactions (leadq.service.retries) see them.
    """
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        return _run_on_driver(connection, compiled, tables, as_of_micros, added, ids_unique)
    except driver_error as error:
        raise DBAPIError.instance(None, None, error, driver_error, dialect=connection.dialect) from error


def _run_on_driver(
    connection, compiled: CompiledModel, tables: EngineTables, as_of_micros: int,
    added: AddedEvents | None, ids_unique: bool,
) -> pa.Table:  # fmt: skip
    raw = connection.connection.driver_connection
    names = scratch_tables(tables)
    named_tables = [(names["leads"], tables.leads), (names["events"], tables.events)]
    if connection.dialect.name == "postgresql":
        sql = compiled.sql("postgres", names, ids_unique=ids_unique)
        return _run_postgres_pipelined(raw, named_tables, names["events"], sql, as_of_micros, added)
    for name, table in named_tables:
        _fill_sqlite_table(raw, name, table)
    if added is not None:
        _add_sqlite_events(raw, names["events"], added)
    result = _fetched(raw.execute(compiled.sql("sqlite", names, ids_unique=ids_unique), [as_of_micros]))
    for name in names.values():
        raw.execute(f'DELETE FROM "{name}"')
    return result


def _add_sqlite_events(raw, target: str, added: AddedEvents) -> None:
    added.copy(target)
    if raw.execute(added.incomplete(target)).fetchone() is not None:
        added.complete(target)


def scratch_tables(tables: EngineTables) -> dict[str, str]:
    """Name the temporary tables after their columns: one pair per layout."""
    shape = repr([(f.name, str(f.type)) for t in (tables.leads, tables.events) for f in t.schema])
    digest = hashlib.sha256(shape.encode()).hexdigest()[:12]
    return {"leads": f"scoring_leads_{digest}", "events": f"scoring_events_{digest}"}


def _fill_sqlite_table(raw, name: str, table: pa.Table) -> None:
    # Names come from the Layout and scratch_tables, never from user input.
    raw.execute(f'CREATE TEMPORARY TABLE IF NOT EXISTS "{name}" ({_column_list(table, _SQLITE_TYPES)})')
    # A failed run of this transaction may have left rows behind.
    raw.execute(f'DELETE FROM "{name}"')
    _insert_rows(raw, name, table)


# Up to this many rows go into a PostgreSQL scratch table with an INSERT in
# the same pipeline as its creation; more go through COPY.
PIPELINED_ROWS = 1_000


def _run_postgres_pipelined(
    raw, named_tables: list[tuple[str, pa.Table]], target: str, sql: str, as_of_micros: int,
    added: AddedEvents | None,
) -> pa.Table:  # fmt: skip
    """Fill the scratch tables, add the caller's events and run the query, in as few round trips as the sizes allow.

    Small tables, the added events and the query go out in one pipeline,
    so a rescore of a few leads waits for the server once. COPY cannot run
    in a pipeline, so a larger table is copied between two pipelines.
    """
    import psycopg

    large = [(name, table) for name, table in named_tables if len(table) > PIPELINED_ROWS]
    with closing(psycopg.RawCursor(raw)) as query, closing(raw.cursor()) as check:
        with raw.pipeline():
            _queue_fill(raw, named_tables)
            if not large:
                _queue_query(query, check, sql, as_of_micros, target, added)
        if large:
            for name, table in large:
                _copy_rows(raw, name, table)
            with raw.pipeline():
                _queue_query(query, check, sql, as_of_micros, target, added)
        if added is not None and check.fetchone() is not None:
            added.complete(target)
            query.execute(sql, [as_of_micros])
        return _fetched(query)


def _queue_fill(raw, named_tables: list[tuple[str, pa.Table]]) -> None:
    """Create and empty the scratch tables, and insert the rows of the small ones.

    An earlier run in the same transaction may have left rows behind, hence the DELETE.
    """
    with raw.cursor() as cursor:
        for name, table in named_tables:
            columns = _column_list(table, _POSTGRES_TYPES)
            cursor.execute(f'CREATE TEMPORARY TABLE IF NOT EXISTS "{name}" ({columns}) ON COMMIT DELETE ROWS')
            cursor.execute(f'DELETE FROM "{name}"')
            if 0 < len(table) <= PIPELINED_ROWS:
                cursor.executemany(_insert_statement(name, table, "%s"), _rows(table))


def _queue_query(query, check, sql: str, as_of_micros: int, target: str, added: AddedEvents | None) -> None:
    if added is not None:
        added.copy(target)
        check.execute(added.incomplete(target))
    query.execute(sql, [as_of_micros])


def _column_list(table: pa.Table, types: dict) -> str:
    return ", ".join(f'"{field.name}" {types.get(field.type, "TEXT")}' for field in table.schema)


_POSTGRES_TYPES = {
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE PRECISION",
}


def _copy_rows(raw, name: str, table: pa.Table) -> None:
    names = ", ".join(f'"{field.name}"' for field in table.schema)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
        for row in _rows(table):
            copy.write_row(row)


def _fetched(cursor) -> pa.Table:
    names = [column[0] for column in cursor.description]
    rows = cursor.fetchall()
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    schema = result_schema(names)
    return pa.table([pa.array(col, type=schema.field(n).type) for n, col in zip(names, columns)], schema=schema)


def result_schema(names: list[str]) -> pa.Schema:
    text = {"lead_key", "grade"}
    integers = {"stage_index", "stage_branch"}
    fields = []
    for name in names:
        kind = pa.float64()
        if name in text:
            kind = pa.string()
        elif name in integers:
            kind = pa.int64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


_SQLITE_TYPES = {
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.int64(): "INTEGER",
    pa.int32(): "INTEGER",
    pa.float64(): "REAL",
}


def _load_table(connection: sqlite3.Connection, name: str, table: pa.Table) -> None:
    # Table and column names come from the Layout (lead_key, f0_l, p0_n ...),
    # never from user input, so they are safe to write into the DDL.
    columns = ", ".join(
        f'"{field.name}" {_SQLITE_TYPES.get(field.type, "TEXT")}' for field in table.schema
    )
    connection.execute(f'CREATE TABLE "{name}" ({columns})')
    _insert_rows(connection, name, table)


def _insert_rows(connection: sqlite3.Connection, name: str, table: pa.Table) -> None:
    # NOTE: row-by-row inserts dominate SQLite runs (about 250 s for 10M
    # events on 2 cores); SQLite is here for agreement, DuckDB for speed.
    connection.executemany(_insert_statement(name, table, "?"), _rows(table))


def _insert_statement(name: str, table: pa.Table, mark: str) -> str:
    return f'INSERT INTO "{name}" VALUES ({", ".join(mark for _ in table.schema)})'


def _rows(table: pa.Table):
    """Yield the table's rows as tuples, converting a batch at a time."""
    for batch in table.to_batches(max_chunksize=50_000):
        yield from zip(*(column.to_pylist() for column in batch.columns))
