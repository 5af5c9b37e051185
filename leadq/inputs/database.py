"""Read leads and events from PostgreSQL tables, as if they were files.

A table has the columns a file would have (see docs/engines.md): the lead
key, lead fields, and for events the id, key, name, timestamp and either
property columns or a JSON `properties` column. Values keep their types:
TIMESTAMPTZ becomes a UTC instant, TIMESTAMP a wall-clock time that needs
--timezone, JSON and JSONB become JSON text. Binding then checks them as
it checks a file's values.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
from sqlalchemy import Column, MetaData, Table, create_engine, select, types
from sqlalchemy.exc import NoSuchTableError

from leadq.engines import connect_postgres
from leadq.errors import OptionError
from leadq.inputs.files import SourceTable

BATCH_ROWS = 50_000


def read_postgres_table(url: str, name: str) -> SourceTable:
    """Read every row of table `name` (optionally `schema.name`) into Arrow.

    Rows are fetched in batches through a server-side cursor. Raises
    OptionError when the server refuses the connection or the table does
    not exist.
    """
    engine = create_engine(url)
    try:
        with connect_postgres(engine) as connection:
            table = _reflected(connection, name)
            result = connection.execution_options(yield_per=BATCH_ROWS).execute(select(table))
            batches = [_record_batch(table.columns, rows) for rows in result.partitions()]
    finally:
        engine.dispose()
    schema = pa.schema([pa.field(c.name, _arrow_type(c)) for c in table.columns])
    arrow = pa.Table.from_batches(batches, schema=schema)
    return SourceTable(arrow, f"table {name}", "table", lambda row: ("row", row + 1))


def _reflected(connection, name: str) -> Table:
    schema, _, table_name = name.rpartition(".")
    try:
        return Table(table_name, MetaData(), schema=schema or None, autoload_with=connection)
    except NoSuchTableError:
        raise OptionError(
            f"table {name!r} does not exist in the database; create it or name "
            "another with --leads-table or --events-table"
        ) from None


def _record_batch(columns, rows) -> pa.RecordBatch:
    arrays = []
    for index, column in enumerate(columns):
        kind = _arrow_type(column)
        json_text = isinstance(column.type, types.JSON)
        values = [_arrow_value(row[index], kind, json_text) for row in rows]
        arrays.append(pa.array(values, kind))
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def _arrow_type(column: Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, types.DateTime):
        return pa.timestamp("us", tz="UTC") if kind.timezone else pa.timestamp("us")
    if isinstance(kind, types.Boolean):
        return pa.bool_()
    if isinstance(kind, types.Integer):
        return pa.int64()
    # SQLAlchemy 2 reflects REAL and DOUBLE PRECISION as Float, which is no
    # subclass of Numeric.
    if isinstance(kind, (types.Numeric, types.Float)):
        return pa.float64()
    return pa.string()


def _arrow_value(value, kind: pa.DataType, json_text: bool):
    """Convert a value that psycopg returns to the column's Arrow type.

    Text columns of other types (dates, UUIDs, arrays) become their text.
    """
    if value is None:
        return None
    if json_text:
        return json.dumps(value, ensure_ascii=False)
    if kind == pa.float64():
        return float(value)
    if kind == pa.string() and not isinstance(value, str):
        return value.isoformat() if isinstance(value, (dt.date, dt.time)) else str(value)
    return value
