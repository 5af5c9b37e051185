"""Insert or update many rows with one statement whose text does not depend on their number.

On PostgreSQL the rows go in as one JSON parameter, and json_to_recordset
turns it into rows typed as the table's columns, for an INSERT ... SELECT
or an UPDATE ... FROM. psycopg and the server prepare the statement once,
it takes one round trip, and the rows are encoded by the json module's C
encoder. The alternatives cost more. A multi-row VALUES list is a new
statement for every count of rows, with a parameter per value for the
driver to parse: 3,200 of them for 400 events. executemany sends a
statement per row, and psycopg encodes array parameters value by value in
Python. On SQLite the rows go in with executemany.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import JSON, Connection, Table, Text, bindparam, cast, column, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

# The parameter that contains the rows on PostgreSQL, named unlike any column.
_ROWS = "json_rows"
# The parameter of the key in SQLite updates, named unlike any column.
_ROW_KEY = "row_key"


def insert_rows(
    connection: Connection,
    table: Table,
    rows: list[dict],
    *,
    conflict_keys: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
) -> list:
    """Insert rows that all have the same keys; return the `returning` columns of the new rows.

    With `conflict_keys`, a row whose keys are taken is skipped (ON CONFLICT
    DO NOTHING) and returns nothing.
    """
    if not rows:
        return []
    names = tuple(rows[0])
    statement = _insert_statement(connection.dialect.name, table, names, conflict_keys, returning)
    result = connection.execute(statement, _parameters(connection, rows))
    return result.all() if returning else []


def update_rows(connection: Connection, table: Table, key: str, rows: list[dict]) -> None:
    """Set the columns of each row of `table` whose `key` column equals the row's `key` value.

    All rows have the same keys; the other keys name the columns to set.
    """
    if not rows:
        return
    names = tuple(rows[0])
    if connection.dialect.name == "postgresql":
        connection.execute(_json_update(table, key, names), _parameters(connection, rows))
        return
    keyed = [{_ROW_KEY if name == key else name: value for name, value in row.items()} for row in rows]
    connection.execute(_update_statement(table, key), keyed)


@contextmanager
def sent_together(connection: Connection) -> Iterator[None]:
    """Send the block's statements to PostgreSQL in one round trip (a psycopg pipeline).

    Only statements whose results the caller does not read may run in the
    block, such as insert_rows without `returning` and update_rows. The
    server reports a failed statement when the block ends, where it is
    raised as SQLAlchemy's DBAPIError, like a statement's own error. On
    SQLite the statements run one by one.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        with connection.connection.driver_connection.pipeline():
            yield
    except driver_error as error:
        raise DBAPIError.instance(None, None, error, driver_error, dialect=connection.dialect) from error


def _parameters(connection: Connection, rows: list[dict]):
    if connection.dialect.name != "postgresql":
        return rows
    # NaN and infinities are not JSON, so allow_nan=False names them here
    # instead of leaving PostgreSQL to reject the whole text.
    return {_ROWS: json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))}


@functools.cache
def _update_statement(table: Table, key: str):
    # The SET clause comes from each parameter dict's keys other than the row key.
    return update(table).where(table.c[key] == bindparam(_ROW_KEY))


@functools.cache
def _json_update(table: Table, key: str, names: tuple[str, ...]):
    rows = _json_rows(table, names)
    changed = {name: rows.c[name] for name in names if name != key}
    return update(table).where(table.c[key] == rows.c[key]).values(changed)


@functools.cache
def _insert_statement(
    dialect: str, table: Table, names: tuple[str, ...], conflict_keys: tuple[str, ...], returning: tuple[str, ...]
):
    if dialect == "postgresql":
        rows = _json_rows(table, names)
        statement = postgresql.insert(table).from_select(list(names), select(*(rows.c[name] for name in names)))
    else:
        statement = sqlite.insert(table) if conflict_keys else insert(table)
    if conflict_keys:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict_keys))
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
    return statement


def _json_rows(table: Table, names: tuple[str, ...]):
    """Return json_to_recordset of the rows parameter, with a column of the table's type per name."""
    dialect = postgresql.dialect()
    columns = [column(name, table.c[name].type.dialect_impl(dialect)) for name in names]
    parameter = cast(bindparam(_ROWS, type_=Text), JSON)
    return func.json_to_recordset(parameter).table_valued(*columns).render_derived("new_rows", with_types=True)
