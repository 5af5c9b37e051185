"""Bind events on Spark's executors, batch by batch (`leadq score --engine spark`).

Spark reads the events itself, from a Parquet file or folder or from a
table of its catalog. `DataFrame.mapInArrow` hands each executor the Arrow
batches of its partitions, and leadq.binding.bind_events binds each batch,
so trimming, case folding, regular expressions, time zones and JSON
properties mean what they mean on every engine, and the driver never keeps
the events. The bound events keep the lead key; Spark SQL joins it to the
leads view for the lead code, with the query that leadq.streaming uses on
DuckDB.

Before the job starts, the driver binds an empty table with the events'
schema, so missing columns and column types that bind_events rejects fail
there. A bad value fails on an executor: the error is carried to the
driver in the message of the failed task and raised again as InputError.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from leadq.binding import (
    EVENT_COLUMN_NAMES,
    BindReport,
    bind_events,
    event_id_column,
    unseen_events,
)
from leadq.compiler.layout import Layout
from leadq.crm.reading import declared_event_times
from leadq.errors import InputError, OptionError
from leadq.inputs import SourceTable
from leadq.inputs.files import PARQUET_EXTENSIONS, nested_as_json
from leadq.inputs.source import check_column_names
from leadq.model.schema import ScoringModel
from leadq.streaming import coded_events_query, spool_schema

# The column that numbers the events before binding; a file is unlikely to have it.
ROW_COLUMN = "__leadq_event_row"
ERROR_MARK = "<leadq-input-error>"
ERROR_PATTERN = re.compile(re.escape(ERROR_MARK) + "(.*?)" + re.escape(ERROR_MARK))
# The bound columns that are never NULL. Spark plans `NOT event_id IN (...)`
# without a null-aware nested loop join when event_id is NOT NULL.
NOT_NULL = {"event_row", "event_id"}


def binds_on_spark(
    engine: str, model: ScoringModel, path: str | Path | None = None
) -> bool:
    """Tell whether Spark's executors bind the events: those of a table (no `path`) or a Parquet file or folder.

    NOTE: CSV and JSON lines files are read and bound on the driver, because
    leadq's own readers detect their delimiters and decode their encodings.
    A model with a `predictive` section binds on the driver too, because its
    features are computed in Python from the whole events table.
    """
    if engine != "spark" or model.predictive is not None:
        return False
    return (
        path is None
        or Path(path).is_dir()
        or Path(path).suffix.lower() in PARQUET_EXTENSIONS
    )


@dataclass(frozen=True)
class SparkEvents:
    """Events that Spark reads: a Parquet file or folder (`parquet`) or a table (`table`)."""

    name: str
    kind: str

    @property
    def label(self) -> str:
        """Return the name that messages give the events: the path, or the table."""
        return self.name if self.kind == "parquet" else f"Spark table {self.name}"

    def read(self, session):
        if self.kind == "table":
            return catalog_table(session, self.name)
        return _read_parquet(session, self.name)


def catalog_table(session, name: str):
    """Return a table of the session's catalog; raise OptionError if it does not exist."""
    if not session.catalog.tableExists(name):
        raise OptionError(
            f"Spark table {name!r} does not exist; create it or name another "
            "with --leads-table or --events-table"
        )
    return session.table(name)


def _read_parquet(session, path: str):
    """Read a Parquet file or folder; strip and check column names as leadq's reader does."""
    from pyspark.errors import PySparkException

    if not Path(path).exists():
        raise InputError("file not found", file=path)
    try:
        frame = session.read.parquet(str(Path(path).resolve()))
    except PySparkException as error:
        reason = str(error).strip().splitlines()[0]
        raise InputError(
            f"not a valid Parquet file or folder: {reason}", file=path
        ) from None
    names = [column.strip() for column in frame.columns]
    check_column_names(names, path, None)
    return frame.toDF(*names)


@dataclass(frozen=True)
class EventBinder:
    """Bind batches of events as bind_events does; Spark sends it to its executors."""

    model: ScoringModel
    layout: Layout
    events: SparkEvents
    timezone: str | None
    date_format: str | None

    def bind(self, table: pa.Table, first_row: int) -> pa.Table:
        """Bind a batch whose first event is number `first_row`, in the spooled schema."""
        if self.events.kind == "parquet":
            table = nested_as_json(table)
        source = SourceTable(table, self.events.label, self.events.kind, _row_in_batch)
        if self.date_format is not None:
            source = declared_event_times(source, self.model, self.date_format)
        bound = bind_events(
            self.model, self.layout, source, self.timezone, BindReport(), first_row
        )
        return bound.cast(spool_schema(self.layout))

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch]).drop_columns([ROW_COLUMN])
            try:
                bound = self.bind(table, _first_row(batch.column(ROW_COLUMN)))
            except InputError as error:
                raise RuntimeError(
                    _marked(error, self.event_id(table, error.row))
                ) from None
            yield from bound.to_batches()

    def read_columns(self, names: list[str]) -> list[str]:
        """Return the columns that binding reads, so Spark reads no others."""
        fields = {self.model.key, *self.layout.properties}
        fields |= {
            name for candidates in EVENT_COLUMN_NAMES.values() for name in candidates
        }
        mapping = self.model.event_columns
        return [name for name in names if name in mapping or name in fields]

    def event_id(self, table: pa.Table, row: int | None) -> str | None:
        """Return the event id of a row of a batch, or None without one."""
        if row is None:
            return None
        found = event_id_column(table.column_names, self.model.event_columns)
        value = None if found is None else table[found][row].as_py()
        return None if value in (None, "") else str(value)


def _row_in_batch(row_index: int) -> tuple[str, int]:
    # The 0-based row of the batch, which EventBinder turns into an event id.
    return ("row", row_index)


def _first_row(rows: pa.Array) -> int:
    """Return the number of a batch's first event; the batch must be numbered without gaps.

    monotonically_increasing_id numbers the rows of a partition one after
    another, and a batch is a run of rows of one partition.
    """
    if len(rows) == 0:
        return 0
    first, last = rows[0].as_py(), rows[-1].as_py()
    if last - first != len(rows) - 1:
        raise RuntimeError(
            f"the events of a batch are not numbered one after another ({first} to {last})"
        )
    return first


def _marked(error: InputError, event_id: str | None) -> str:
    """Write an InputError as text between marks, which the driver finds in the task's failure."""
    fields = {"message": error.message, "file": error.file, "column": error.column,
              "field": error.field, "event_id": event_id}  # fmt: skip
    return ERROR_MARK + json.dumps(fields) + ERROR_MARK


@contextmanager
def executor_input_errors():
    """Raise again, as InputError, the error of a batch that an executor failed to bind.

    NOTE: an executor does not know a row's position in its file, so the
    error names the event id instead, or only the column and value for an
    event without an id.
    """
    from pyspark.errors import PySparkException
    from py4j.protocol import Py4JJavaError

    try:
        yield
    except (PySparkException, Py4JJavaError) as error:
        found = ERROR_PATTERN.search(str(error))
        if found is None:
            raise
        raise InputError(**json.loads(found.group(1))) from None


@contextmanager
def pandas_version_warning_ignored():
    """Ignore PySpark's warning that it does not fully support pandas 3, within the block.

    NOTE: PySpark 4.3.0 warns (FutureWarning) when pandas 3 is installed,
    which the `learn` extra installs. It warns when its own
    pyspark.testing.utils is first imported, which creating a SparkConf
    does, and in every mapInArrow call. leadq hands PySpark Arrow data
    only, never pandas data.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "PySpark does not yet fully support pandas", FutureWarning
        )
        yield


def bound_events_frame(session, binder: EventBinder):
    """Return the events as a DataFrame that executors bind, in the spooled schema."""
    from pyspark.sql.functions import monotonically_increasing_id

    frame = binder.events.read(session)
    _check_schema(binder, frame)
    frame = frame.select(*binder.read_columns(frame.columns))
    numbered = frame.withColumn(ROW_COLUMN, monotonically_increasing_id())
    with pandas_version_warning_ignored():
        return numbered.mapInArrow(binder, _spark_schema(binder.layout))


def _check_schema(binder: EventBinder, frame) -> None:
    """Bind an empty table with the events' schema on the driver, so missing columns fail before the job."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(frame.schema, timezone="UTC")
    binder.bind(schema.empty_table(), 0)


def _spark_schema(layout: Layout):
    from pyspark.sql.pandas.types import from_arrow_schema

    fields = [
        field.with_nullable(field.name not in NOT_NULL)
        for field in spool_schema(layout)
    ]
    return from_arrow_schema(pa.schema(fields))


def coded_events_sql(layout: Layout, events: str, leads: str) -> str:
    """Render, for Spark, the query that joins the bound events' lead keys to the leads."""
    return coded_events_query(layout, events, leads).sql(dialect="spark")


def fill_report(coded, model: ScoringModel, report: BindReport) -> None:
    """Count the events, those without a lead and the unseen event names; runs the binding job."""
    from pyspark.sql import functions as F

    counts = coded.groupBy("event_name").agg(
        F.count(F.lit(1)).alias("events"),
        F.count_if(F.col("lead_code").isNull()).alias("without_lead"),
    )
    table = counts.toArrow()
    report.events = sum(table["events"].to_pylist())
    report.events_without_lead = sum(table["without_lead"].to_pylist())
    report.unseen_events = unseen_events(model, set(table["event_name"].to_pylist()))
