"""The Spark engine: its session settings, what a run leaves in the session and binding on executors."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadq.binding import BindReport, bind_leads
from leadq.compiler.query import compile_model
from leadq.engines import DEFAULT_SPARK_MASTER, EngineSettings
from leadq.errors import InputError, OptionError
from leadq.inputs import read_source
from leadq.model.loading import load_default_model
from leadq.scoring import micros_since_epoch, score_files, score_tables
from leadq.spark import LOCAL_RELATION_THRESHOLD, _local_threads, _started_session, run_spark_events
from leadq.spark_binding import EventBinder, SparkEvents, bound_events_frame
from leadq.spark_masters import check_spark_master
from tests.test_cli import EVENTS, LEADS, leadq


@pytest.mark.parametrize(
    ("master", "threads"),
    [
        ("local", 1),
        ("local[4]", 4),
        ("local[3,2]", 3),
        ("local[*]", os.cpu_count()),
        ("spark://host:7077", None),
        ("yarn", None),
    ],
)
def test_local_threads(master, threads):
    assert _local_threads(master) == threads


def test_run_leaves_session_clean(tmp_path, spark_session):
    (tmp_path / "leads.csv").write_text(LEADS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    context = spark_session.sparkContext
    persisted = context._jsc.getPersistentRDDs().size()
    threshold = spark_session.conf.get(LOCAL_RELATION_THRESHOLD)

    run = score_files(
        tmp_path / "leads.csv",
        tmp_path / "events.csv",
        as_of=datetime(2026, 12, 1, tzinfo=timezone.utc),
        engine="spark",
        settings=EngineSettings(),
    )

    assert len(run.table) == 3
    tables = [table.name for table in spark_session.catalog.listTables()]
    assert [name for name in tables if name.startswith("leadq_")] == []
    assert context._jsc.getPersistentRDDs().size() == persisted
    assert spark_session.conf.get(LOCAL_RELATION_THRESHOLD) == threshold
    assert spark_session.conf.get("spark.sql.shuffle.partitions") == "2"


# Events with copies of one id at one time (the first in the file counts),
# events without an id, one of a lead not in LEADS and JSON properties.
PARQUET_EVENTS = pa.table(
    {
        "event_id": ["1", "2", "2", None, "", "5", "6"],
        "email": [" Ana@Acme.example", "ana@acme.example", "bob@gmail.com", "bob@gmail.com",
                  "bob@gmail.com", "nobody@example.com", "eve@competitor.example"],
        "event": ["page_viewed", "demo_requested", "demo_requested", "email_opened",
                  "email_opened", "page_viewed", "page_viewed"],
        "timestamp": ["2026-11-20T10:00:00Z", "2026-11-25T10:00:00+01:00",
                      "2026-11-25T10:00:00+01:00", "2026-11-01T10:00:00Z",
                      "2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z", "2026-11-04T10:00:00Z"],
        "properties": ['{"url": "/pricing"}', "{}", None, None, None, '{"url": "/x"}', '{"url": " /Pricing "}'],
    }
)  # fmt: skip
AS_OF = datetime(2026, 12, 1, tzinfo=timezone.utc)


def executor_bound_result(
    model, leads, events: pa.Table, as_of, timezone, folder: Path
):
    """Run a model on Spark with the events bound on its executors; return the raw result and report."""
    path = folder / "events-for-spark.parquet"
    pq.write_table(events, path)
    compiled = compile_model(model)
    report = BindReport()
    lead_table = bind_leads(model, compiled.layout, leads, report)
    binder = EventBinder(
        model, compiled.layout, SparkEvents(str(path), "parquet"), timezone, None
    )
    as_of_micros = micros_since_epoch(as_of)
    table = run_spark_events(
        compiled, lead_table, binder, as_of_micros, DEFAULT_SPARK_MASTER, report
    )
    return table, report


def write_inputs(folder: Path, events: pa.Table) -> tuple[Path, Path]:
    (folder / "leads.csv").write_text(LEADS, encoding="utf-8")
    pq.write_table(events, folder / "events.parquet")
    return folder / "leads.csv", folder / "events.parquet"


def score_on(engine: str, leads: Path, events: Path):
    return score_files(
        leads, events, as_of=AS_OF, engine=engine, settings=EngineSettings()
    )


def test_parquet_events_match_duckdb(tmp_path, spark_session):
    leads, events = write_inputs(tmp_path, PARQUET_EVENTS)
    context = spark_session.sparkContext
    persisted = context._jsc.getPersistentRDDs().size()

    on_duckdb = score_on("duckdb", leads, events)
    on_spark = score_on("spark", leads, events)

    assert on_spark.table.to_pylist() == on_duckdb.table.to_pylist()
    assert on_spark.report == on_duckdb.report
    assert on_spark.report.events == 7
    assert on_spark.report.events_without_lead == 1
    assert context._jsc.getPersistentRDDs().size() == persisted
    tables = [table.name for table in spark_session.catalog.listTables()]
    assert [name for name in tables if name.startswith("leadq_")] == []


def test_events_plan_maps_arrow_batches(tmp_path, spark_session):
    _, events = write_inputs(tmp_path, PARQUET_EVENTS)
    model = load_default_model()
    layout = compile_model(model).layout
    binder = EventBinder(model, layout, SparkEvents(str(events), "parquet"), None, None)

    plan = (
        bound_events_frame(spark_session, binder)
        ._jdf.queryExecution()
        .executedPlan()
        .toString()
    )

    assert "MapInArrow" in plan
    assert "LocalTableScan" not in plan


def test_folder_and_table_match_duckdb(tmp_path, spark_session):
    leads, events = write_inputs(tmp_path, PARQUET_EVENTS.slice(0, 3))
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(PARQUET_EVENTS.slice(0, 3), folder / "part-0.parquet")
    pq.write_table(PARQUET_EVENTS.slice(3), folder / "part-1.parquet")
    pq.write_table(PARQUET_EVENTS, tmp_path / "all.parquet")
    spark_session.createDataFrame(read_source(leads).table).createOrReplaceTempView(
        "test_leads"
    )
    spark_session.read.parquet(str(folder)).createOrReplaceTempView("test_events")

    on_duckdb = score_on("duckdb", leads, tmp_path / "all.parquet")
    from_folder = score_on("spark", leads, folder)
    from_table = score_tables("test_leads", "test_events", engine="spark",
                              settings=EngineSettings(), as_of=AS_OF)  # fmt: skip

    assert from_folder.table.to_pylist() == on_duckdb.table.to_pylist()
    assert from_table.table.to_pylist() == on_duckdb.table.to_pylist()
    assert from_table.report == on_duckdb.report
    spark_session.catalog.dropTempView("test_leads")
    spark_session.catalog.dropTempView("test_events")


def test_bad_timestamp_names_event_id(tmp_path, spark_session):
    events = PARQUET_EVENTS.set_column(
        3,
        "timestamp",
        pa.array(["2026-11-20T10:00:00Z", "yesterday"] + ["2026-11-20T10:00:00Z"] * 5),
    )
    leads, path = write_inputs(tmp_path, events)

    with pytest.raises(InputError) as raised:
        score_on("spark", leads, path)

    assert str(raised.value).startswith(f"{path}, event id '2', column 'timestamp': ")
    assert "'yesterday'" in str(raised.value)


def test_bad_json_in_table_names_event_id(tmp_path, spark_session):
    events = PARQUET_EVENTS.set_column(
        4, "properties", pa.array(["{}", "{}", "{url", None, None, None, None])
    )
    leads, _ = write_inputs(tmp_path, events)
    spark_session.createDataFrame(read_source(leads).table).createOrReplaceTempView(
        "test_leads"
    )
    spark_session.createDataFrame(events).createOrReplaceTempView("test_events")

    with pytest.raises(InputError) as raised:
        score_tables(
            "test_leads",
            "test_events",
            engine="spark",
            settings=EngineSettings(),
            as_of=AS_OF,
        )

    assert str(raised.value) == (
        "Spark table test_events, event id '2', column 'properties': invalid JSON "
        '\'{url\'; write the properties as a JSON object, for example {"url": "/pricing"}'
    )
    spark_session.catalog.dropTempView("test_leads")
    spark_session.catalog.dropTempView("test_events")


def test_infinite_property_names_event_id(tmp_path, spark_session):
    from tests.test_numbers import MODEL

    # Without a properties column, the property keeps its float type.
    seats = pa.array([1.0, 2.0, float("inf"), 4.0, None, 6.0, 7.0])
    events = PARQUET_EVENTS.drop_columns(["properties"]).append_column("seats", seats)
    leads, path = write_inputs(tmp_path, events)

    with pytest.raises(InputError) as raised:
        score_files(leads, path, model=MODEL, as_of=AS_OF, engine="spark", settings=EngineSettings())

    assert str(raised.value).startswith(
        f"{path}, event id '2', column 'seats': inf is not a finite number, "
        "but a rule compares 'seats' as one"
    )


def test_nul_character_names_event_id(tmp_path, spark_session):
    names = PARQUET_EVENTS["event"].to_pylist()
    names[5] = "page\x00viewed"
    events = PARQUET_EVENTS.set_column(2, "event", pa.array(names))
    leads, path = write_inputs(tmp_path, events)

    with pytest.raises(InputError) as raised:
        score_on("spark", leads, path)

    assert str(raised.value) == (
        f"{path}, event id '5', column 'event': the value 'page\\x00viewed' contains a NUL character; remove it"
    )


def test_missing_column_fails_on_driver(tmp_path, spark_session):
    leads, path = write_inputs(tmp_path, PARQUET_EVENTS.drop_columns(["event"]))

    with pytest.raises(InputError) as raised:
        score_on("spark", leads, path)

    assert str(raised.value).startswith(
        f"{path}: missing the event column (expected 'event')"
    )


def corrupt_parquet(events: pa.Table, path: Path) -> None:
    """Write events as Parquet whose footer reads but whose `event` pages do not."""
    pq.write_table(events, path, compression="snappy")
    column = pq.ParquetFile(path).metadata.row_group(0).column(2)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def test_cli_bad_value_prints_only_leadq_error(tmp_path):
    events = PARQUET_EVENTS.set_column(
        3, "timestamp", pa.array(["yesterday"] + ["2026-11-20T10:00:00Z"] * 6)
    )
    write_inputs(tmp_path, events)

    done = leadq("score", "leads.csv", "--events", "events.parquet", "--engine", "spark",
                 "--as-of", "2026-12-01", cwd=tmp_path)  # fmt: skip

    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("error: events.parquet, event id '1', column 'timestamp': ")
    for noise in ("Traceback", "Exception", "\tat ", "ERROR", "Lost task", "FutureWarning", "[Stage"):
        assert noise not in done.stderr


def test_cli_shows_untranslated_spark_error(tmp_path):
    write_inputs(tmp_path, PARQUET_EVENTS)
    corrupt_parquet(PARQUET_EVENTS, tmp_path / "events.parquet")

    done = leadq("score", "leads.csv", "--events", "events.parquet", "--engine", "spark",
                 "--as-of", "2026-12-01", cwd=tmp_path)  # fmt: skip

    assert done.returncode == 1, done.stderr
    assert "FAILED_READ_FILE" in done.stderr
    assert "events.parquet" in done.stderr


@pytest.mark.parametrize(
    "master",
    ["local", "local[2]", "local[*]", "local[4,3]", "local-cluster[2,1,1024]", "yarn", "k8s://https://host:443"],
)
def test_master_forms_accepted(master):
    check_spark_master(master)


@pytest.mark.parametrize(
    ("master", "message"),
    [
        ("nope", "--spark-master 'nope' is not a Spark master URL; use local[N], local[*], "
                 "spark://HOST:PORT, yarn or k8s://HOST:PORT"),
        ("local[0]", "--spark-master 'local[0]' is not a Spark master URL; use local[N], local[*], "
                     "spark://HOST:PORT, yarn or k8s://HOST:PORT"),
        ("spark://host", "--spark-master 'spark://host': 'host' is not HOST:PORT; write a standalone "
                         "master as spark://HOST:PORT, such as spark://host:7077"),
        ("spark://host:99999", "--spark-master 'spark://host:99999': 'host:99999' is not HOST:PORT; "
                               "write a standalone master as spark://HOST:PORT, such as spark://host:7077"),
    ],
)  # fmt: skip
def test_master_forms_rejected(master, message):
    with pytest.raises(OptionError) as raised:
        check_spark_master(master)

    assert str(raised.value) == message


def test_unreachable_master_fails_before_spark_starts(tmp_path):
    write_inputs(tmp_path, PARQUET_EVENTS)
    port = closed_port()

    done = leadq("score", "leads.csv", "--events", "events.parquet", "--engine", "spark",
                 "--spark-master", f"spark://127.0.0.1:{port},127.0.0.1:{port}", cwd=tmp_path)  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: --spark-master 'spark://127.0.0.1:{port},127.0.0.1:{port}': cannot connect to "
        f"127.0.0.1:{port} (Connection refused), 127.0.0.1:{port} (Connection refused); start the "
        f"Spark master or correct the URL, or use local[2] to run Spark on this machine\n"
    )


def test_failed_session_start_names_master():
    from pyspark.errors import PySparkRuntimeError

    class FailingBuilder:
        def getOrCreate(self):
            raise PySparkRuntimeError(
                errorClass="JAVA_GATEWAY_EXITED", messageParameters={}
            )

    with pytest.raises(OptionError) as raised:
        _started_session(FailingBuilder(), "k8s://127.0.0.1:1")

    assert str(raised.value).startswith(
        "Spark failed to start a session on master 'k8s://127.0.0.1:1': [JAVA_GATEWAY_EXITED] "
    )
    assert str(raised.value).endswith("; check --spark-master and that the cluster has free workers")


def closed_port() -> int:
    """Return a port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
