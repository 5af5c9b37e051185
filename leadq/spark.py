"""Run a compiled model on Spark SQL through PySpark (the `spark` extra).

Binding runs on the driver, as for every engine, so trimming, case folding,
regular expressions and time zones mean the same as elsewhere. The bound
tables become temporary views of one SparkSession, and the compiled query,
rendered in sqlglot's spark dialect, runs on the cluster with the as-of time
as a bound positional parameter.
"""

from __future__ import annotations

import logging
import os
import uuid

import pyarrow as pa

from leadq.compiler.query import CompiledModel
from leadq.engines import EngineTables, result_schema
from leadq.errors import OptionError
from leadq.inputs import SourceTable

log = logging.getLogger("leadq.scoring")

INSTALL_HINT = 'pip install "leadq[spark]"'


def spark_session(master: str | None):
    """Return the running SparkSession, or start one on `master`.

    Under spark-submit the master comes from spark-submit, so `master` is
    used only when no PySpark gateway was started for this process.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise OptionError(
            f"--engine spark needs PySpark, which is not installed; run {INSTALL_HINT}"
        ) from None
    builder = SparkSession.builder.appName("leadq")
    if master and "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master)
    # Every value the query reads is an integer or a double, so the session
    # time zone changes nothing; UTC keeps any timestamp display unambiguous.
    return builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()


def run_spark(
    compiled: CompiledModel, tables: EngineTables, as_of_micros: int, master: str | None
) -> pa.Table:
    session = spark_session(master)
    names = _view_names()
    try:
        for role, table in (("leads", tables.leads), ("events", tables.events)):
            session.createDataFrame(table).createOrReplaceTempView(names[role])
        query = compiled.sql("spark", names)
        result = session.sql(query, args=[as_of_micros]).toArrow()
    finally:
        for name in names.values():
            session.catalog.dropTempView(name)
    return _as_result_types(result)


def _view_names() -> dict[str, str]:
    """Name the views of one run, so runs in one session never share a view."""
    suffix = uuid.uuid4().hex[:12]
    return {"leads": f"leadq_leads_{suffix}", "events": f"leadq_events_{suffix}"}


def _as_result_types(table: pa.Table) -> pa.Table:
    """Cast to the types that DuckDB returns: Spark sums integers as BIGINT."""
    return table.cast(result_schema(table.column_names))


def read_spark_table(name: str, master: str | None) -> SourceTable:
    """Read a table of Spark's catalog to the driver, as a leads or events file."""
    session = spark_session(master)
    if not session.catalog.tableExists(name):
        raise OptionError(
            f"Spark table {name!r} does not exist; create it or name another "
            "with --leads-table or --events-table"
        )
    table = session.table(name).toArrow()
    return SourceTable(table, f"Spark table {name}", "table", lambda row: ("row", row + 1))
