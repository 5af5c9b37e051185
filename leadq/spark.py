"""Run a compiled model on Spark SQL through PySpark (the `spark` extra).

Events that Spark reads itself, from a Parquet file or folder or a table,
are bound on its executors, batch by batch (leadq.spark_binding), and
joined to the leads for the lead code in Spark SQL. The leads, and events
from CSV or JSON lines files, are bound on the driver. Both use leadq's own
binding, so trimming, case folding, regular expressions and time zones mean
the same as on every engine. The bound tables become temporary views of
one SparkSession. leadq.compiler.spark rewrites the compiled query for
Spark, and sqlglot renders it in its spark dialect, with the as-of time as
a bound named parameter. The common table expressions that the query reads
more than once run first, each cached as a temporary view, then the final
query runs on them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
from contextlib import ExitStack, contextmanager

import pyarrow as pa

from leadq.binding import BindReport
from leadq.compiler.query import CompiledModel
from leadq.compiler.spark import AS_OF_PARAMETER, spark_statements
from leadq.engines import EngineTables, result_schema
from leadq.errors import OptionError
from leadq.inputs import SourceTable
from leadq.spark_binding import (
    EventBinder,
    bound_events_frame,
    catalog_table,
    coded_events_sql,
    executor_input_errors,
    fill_report,
    pandas_version_warning_ignored,
)
from leadq.spark_masters import check_spark_master

log = logging.getLogger("leadq.scoring")

INSTALL_HINT = 'pip install "leadq[spark]"'
# Shuffle partitions per worker thread of a local master that leadq starts.
# With Spark's default of 200, a run on 200,000 events took 3 to 4.5 times
# as long on local[2] as with 4 (benchmarks/RESULTS.md).
LOCAL_PARTITIONS_PER_THREAD = 2
LOCAL_RELATION_THRESHOLD = "spark.sql.execution.arrow.localRelationThreshold"
# Spark's loggers that report a failed task, in the JVM that runs a local
# master's executor: the executor's error with its stack trace, then the
# scheduler's warning and error about the task and its job.
TASK_FAILURE_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
)


def spark_session(master: str | None):
    """Return the running SparkSession, or start one on `master`.

    Under spark-submit the master comes from spark-submit, so `master` is
    used only when no PySpark gateway was started for this process. A
    session whose JVM leadq launches itself logs only Spark's errors
    (`quiet_spark_logs`); a running session and one under spark-submit keep
    their own log settings.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise OptionError(
            f"--engine spark needs PySpark, which is not installed; run {INSTALL_HINT}"
        ) from None
    under_spark_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    launches_jvm = not under_spark_submit and SparkSession.getActiveSession() is None
    builder = SparkSession.builder.appName("leadq")
    if master and not under_spark_submit:
        builder = builder.master(master)
        threads = _local_threads(master)
        if threads:
            use_driver_python()
        if threads and SparkSession.getActiveSession() is None:
            partitions = str(threads * LOCAL_PARTITIONS_PER_THREAD)
            builder = builder.config("spark.sql.shuffle.partitions", partitions)
    if launches_jvm:
        # The console progress bar ends without a line break, so leadq's
        # own error message would continue its line.
        builder = builder.config("spark.ui.showConsoleProgress", "false")
    # Every value the query reads is an integer or a double, so the session
    # time zone changes nothing; UTC keeps any timestamp display unambiguous.
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    if master and launches_jvm:
        check_spark_master(master)
    session = _started_session(builder, master if launches_jvm else None)
    if launches_jvm:
        quiet_spark_logs(session)
    return session


def _started_session(builder, master: str | None):
    """Return the builder's session; raise OptionError if Spark fails to start it on `master`."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        with pandas_version_warning_ignored():
            return builder.getOrCreate()
    except (Py4JJavaError, PySparkException) as error:
        if master is None:
            raise
        raise OptionError(
            f"Spark failed to start a session on master {master!r}: {_first_line(error)}; "
            f"check --spark-master and that the cluster has free workers"
        ) from None


def _first_line(error: Exception) -> str:
    """Return the Java exception of a Py4J error, or the first line of another error."""
    java_exception = getattr(error, "java_exception", None)
    if java_exception is not None:
        return str(java_exception.toString())
    return str(error).strip().splitlines()[0]


def quiet_spark_logs(session) -> None:
    """Log only Spark's errors, without the task failures that the driver raises again.

    A task that fails also fails its job, and the driver raises the job's
    error with the task's. leadq translates that error when it is an
    InputError from binding, and lets every other error propagate, so
    logging the task failure too would only print the same stack trace
    first. py4j logs the errors of calls between Python and the JVM, which
    it also raises or sends to the JVM, and errors in closing a connection.
    """
    context = session.sparkContext
    context.setLogLevel("ERROR")
    log4j = context._jvm.org.apache.logging.log4j
    for name in TASK_FAILURE_LOGGERS:
        log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)
    logging.getLogger("py4j").setLevel(logging.CRITICAL)


def use_driver_python() -> None:
    """Run a local master's Python workers with this interpreter, unless PYSPARK_PYTHON is set.

    Executors bind events with leadq's own code, which PySpark's default
    worker interpreter, the `python3` on PATH, may lack. Call it before the
    session starts: PySpark reads PYSPARK_PYTHON when it creates the
    SparkContext.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def _local_threads(master: str) -> int | None:
    """Return the worker threads of a local master (`local`, `local[4]`, `local[*]`)."""
    match = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\d+)?\])?", master.strip())
    if match is None:
        return None
    threads = match.group(1) or "1"
    if threads == "*":
        return os.cpu_count() or 1
    return int(threads)


def run_spark(
    compiled: CompiledModel, tables: EngineTables, as_of_micros: int, master: str | None
) -> pa.Table:
    """Run on tables bound on the driver."""
    session = spark_session(master)
    views = RunViews()
    with ExitStack() as cleanup:
        for role, table in (("leads", tables.leads), ("events", tables.events)):
            _register(
                session, _input_frame(session, table), views.inputs[role], cleanup
            )
        return _run_statements(session, compiled, views, as_of_micros, cleanup)


def run_spark_events(
    compiled: CompiledModel,
    leads: pa.Table,
    binder: EventBinder,
    as_of_micros: int,
    master: str | None,
    report: BindReport,
) -> pa.Table:
    """Run on leads bound on the driver and events that Spark's executors bind.

    Fills the report's event count, events without a lead and unseen event
    names. The bound events are persisted, because the query reads them
    several times and each read would bind them again.
    """
    from pyspark import StorageLevel

    session = spark_session(master)
    views = RunViews()
    leads_view, spooled = views.inputs["leads"], f"leadq_spooled_events_{views.suffix}"
    with ExitStack() as cleanup, executor_input_errors():
        _register(session, _input_frame(session, leads), leads_view, cleanup)
        _register(session, bound_events_frame(session, binder), spooled, cleanup)
        coded = session.sql(coded_events_sql(compiled.layout, spooled, leads_view))
        coded = coded.persist(StorageLevel.MEMORY_AND_DISK)
        cleanup.callback(coded.unpersist)
        _register(session, coded, views.inputs["events"], cleanup)
        fill_report(coded, binder.model, report)
        return _run_statements(session, compiled, views, as_of_micros, cleanup)


class RunViews:
    """The names of one run's views: unique to the run, so runs in one session share none."""

    def __init__(self) -> None:
        self.suffix = uuid.uuid4().hex[:12]
        self.inputs = {
            role: f"leadq_{role}_{self.suffix}" for role in ("leads", "events")
        }


def _run_statements(
    session,
    compiled: CompiledModel,
    views: RunViews,
    as_of_micros: int,
    cleanup: ExitStack,
) -> pa.Table:
    """Cache the views that the query reads more than once, then run the query."""
    statements = spark_statements(compiled, views.inputs, views.suffix)
    args = {AS_OF_PARAMETER: as_of_micros}
    for view, query in statements.views:
        frame = session.sql(query, args=args).cache()
        cleanup.callback(frame.unpersist)
        # Filled now, because a run took 2 to 3 times as long when the
        # stages of the next query filled the cache (200,000 events).
        frame.count()
        _register(session, frame, view, cleanup)
    result = session.sql(statements.query, args=args).toArrow()
    return _as_result_types(result)


def _input_frame(session, table: pa.Table):
    """Create the DataFrame of a bound table, its rows in an RDD, not in the plan.

    Below spark.sql.execution.arrow.localRelationThreshold, PySpark puts
    Arrow data into the plan as a LocalRelation, which Spark copies and
    compares each time it plans a query that reads it. At 200,000 events
    the analysis of one query took 36 to 60 s on 2 cores. Columns without
    nulls become NOT NULL, so `NOT event_id IN (...)` needs no null-aware
    nested loop join.
    """
    schema = pa.schema(
        [field.with_nullable(table[field.name].null_count > 0) for field in table.schema]
    )
    table = pa.Table.from_arrays(table.columns, schema=schema)
    with _session_conf(session, LOCAL_RELATION_THRESHOLD, "0"):
        return session.createDataFrame(table)


@contextmanager
def _session_conf(session, key: str, value: str):
    """Set a SQL conf of the session while the block runs, then restore it."""
    previous = session.conf.get(key, None)
    session.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            session.conf.unset(key)
        else:
            session.conf.set(key, previous)


def _register(session, frame, view: str, cleanup: ExitStack) -> None:
    frame.createOrReplaceTempView(view)
    cleanup.callback(session.catalog.dropTempView, view)


def _as_result_types(table: pa.Table) -> pa.Table:
    """Cast to the types that DuckDB returns: Spark sums integers as BIGINT."""
    return table.cast(result_schema(table.column_names))


def read_spark_table(name: str, master: str | None) -> SourceTable:
    """Read a table of Spark's catalog to the driver, as a leads or events file."""
    table = catalog_table(spark_session(master), name).toArrow()
    return SourceTable(
        table, f"Spark table {name}", "table", lambda row: ("row", row + 1)
    )
