"""`leadq score` over PostgreSQL and Spark tables, and the engine options' errors."""

from __future__ import annotations

import csv
import math
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leadq.engine_options import engine_settings, table_names
from leadq.engines import EngineSettings
from leadq.errors import InputError, OptionError
from leadq.model.loading import parse_model
from leadq.scoring import score_files, score_tables
from tests.conftest import postgres_schema
from tests.test_cli import AS_OF, EVENTS, LEADS, assert_clean_error, leadq

CREATE_TABLES = """
CREATE TABLE leads (
    email TEXT, title TEXT, company TEXT, industry TEXT, company_size INTEGER,
    country TEXT, phone TEXT
);
CREATE TABLE events (
    event_id BIGINT, email TEXT, event TEXT, "timestamp" TIMESTAMPTZ, properties JSONB
)
"""
# The rows of tests.test_cli's LEADS and EVENTS files, typed.
LEAD_ROWS = [
    ("ana@acme.example", "VP Marketing", "Acme", "Software", 250, "Germany", "555-0100"),
    ("bob@gmail.com", "Student", None, None, None, None, None),
    ("eve@competitor.example", "CEO", "Rival", "software", 40, "France", "555-0101"),
]
EVENT_ROWS = [
    (1, "ana@acme.example", "page_viewed", "2026-11-20T10:00:00Z", '{"url": "/pricing"}'),
    (2, "ana@acme.example", "demo_requested", "2026-11-25T10:00:00+01:00", "{}"),
    (3, "bob@gmail.com", "email_opened", "2026-11-01T10:00:00Z", None),
]


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "leads.csv").write_text(LEADS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    return tmp_path


@pytest.fixture()
def tables_url() -> str:
    """A URL of a schema of its own, with tables `leads` and `events` filled."""
    with postgres_schema() as url:
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(CREATE_TABLES)
                connection.execute(
                    text("INSERT INTO leads VALUES (:a, :b, :c, :d, :e, :f, :g)"),
                    [dict(zip("abcdefg", row)) for row in LEAD_ROWS],
                )
                connection.execute(
                    text("INSERT INTO events VALUES (:a, :b, :c, CAST(:d AS TIMESTAMPTZ), CAST(:e AS JSONB))"),
                    [dict(zip("abcde", row)) for row in EVENT_ROWS],
                )
        finally:
            engine.dispose()
        yield url


def score_rows(cwd: Path, *args: str) -> list[dict]:
    done = leadq("score", *args, "--as-of", AS_OF, "--format", "csv", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(done.stdout.splitlines()))


def test_postgres_tables_match_files(files, tables_url):
    from_files = score_rows(files, "leads.csv", "-e", "events.csv")
    from_tables = score_rows(files, "--engine", "postgres", "--database", tables_url)
    assert from_tables == from_files
    assert from_files[0]["lead_id"] == "ana@acme.example"


def test_postgres_engine_on_files(files, tables_url):
    from_duckdb = score_rows(files, "leads.csv", "-e", "events.csv")
    on_postgres = score_rows(
        files, "leads.csv", "-e", "events.csv", "--engine", "postgres", "--database", tables_url
    )
    assert on_postgres == from_duckdb


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_postgres_named_tables(tables_url):
    schema = f"web events {secrets.token_hex(3)}"
    execute(
        tables_url,
        "ALTER TABLE leads RENAME TO crm_leads",
        f'CREATE SCHEMA "{schema}"',
        f'ALTER TABLE events SET SCHEMA "{schema}"',
    )
    try:
        run = score_tables(
            "crm_leads",
            f"{schema}.events",
            engine="postgres",
            settings=EngineSettings(database_url=tables_url),
            as_of=datetime(2026, 12, 1, tzinfo=timezone.utc),
        )
    finally:
        execute(tables_url, f'DROP SCHEMA "{schema}" CASCADE')
    assert run.report.leads == 3
    assert run.report.events == 3


def test_postgres_missing_table(files, tables_url):
    done = leadq("score", "--engine", "postgres", "--database", tables_url,
                 "--leads-table", "prospects", cwd=files)  # fmt: skip
    assert_clean_error(done, "table 'prospects' does not exist", "--leads-table")


def test_postgres_naive_timestamps_need_timezone(tables_url):
    execute(tables_url, 'ALTER TABLE events ALTER COLUMN "timestamp" TYPE TIMESTAMP')
    settings = EngineSettings(database_url=tables_url)
    with pytest.raises(InputError, match="table events"):
        score_tables(engine="postgres", settings=settings)
    run = score_tables(engine="postgres", settings=settings, timezone="Europe/Berlin")
    assert run.report.events == 3


NUMBERS_MODEL = parse_model(
    "key: email\n"
    "fit:\n  rules:\n    - {id: big, field: company_size, at_least: 100, points: 10}\n"
    "engagement:\n  rules:\n"
    "    - {id: seats, event: page_viewed, where: {seats: {at_least: 5}}, points: 1}\n"
    "stages:\n  - id: all\n",
    source="m",
)


def table_error(url: str, model=NUMBERS_MODEL) -> str:
    with pytest.raises(InputError) as caught:
        score_tables(engine="postgres", settings=EngineSettings(database_url=url), model=model)
    return str(caught.value)


def test_postgres_lead_error_names_key(tables_url):
    execute(
        tables_url,
        "ALTER TABLE leads ALTER COLUMN company_size TYPE DOUBLE PRECISION",
        "UPDATE leads SET company_size = '-Infinity' WHERE email = 'eve@competitor.example'",
    )
    assert table_error(tables_url).startswith(
        "table leads, lead id 'eve@competitor.example', column 'company_size': -inf is not a finite number"
    )


def test_postgres_mapped_key_names_lead(tables_url):
    execute(
        tables_url,
        "ALTER TABLE leads RENAME COLUMN email TO contact",
        "ALTER TABLE leads ALTER COLUMN company_size TYPE NUMERIC",
        "UPDATE leads SET company_size = 'NaN' WHERE contact = 'ana@acme.example'",
    )
    model = NUMBERS_MODEL.model_copy(update={"columns": {"contact": "email"}})
    assert table_error(tables_url, model).startswith(
        "table leads, lead id 'ana@acme.example', column 'company_size': the value is NaN"
    )


def test_postgres_event_error_names_event_id(tables_url):
    execute(
        tables_url,
        "ALTER TABLE events ADD COLUMN seats DOUBLE PRECISION",
        "UPDATE events SET seats = 'Infinity' WHERE event_id = 2",
    )
    # With a properties column, a property column's values are read as text.
    assert table_error(tables_url).startswith(
        "table events, event id '2', column 'seats': 'inf' is not a number, "
        "but a rule compares 'seats' as one"
    )


def test_postgres_event_without_id_names_row(tables_url):
    execute(
        tables_url,
        "ALTER TABLE events ADD COLUMN seats TEXT",
        "UPDATE events SET seats = 'seven', event_id = NULL WHERE event_id = 3",
    )
    message = table_error(tables_url)
    assert re.match(r"table events, row \d, column 'seats': 'seven' is not a number", message)


def test_postgres_mapped_event_id_names_event(tables_url):
    execute(
        tables_url,
        "ALTER TABLE events RENAME COLUMN event_id TO message",
        "ALTER TABLE events ADD COLUMN seats TEXT",
        "UPDATE events SET seats = 'seven' WHERE message = 1",
    )
    model = NUMBERS_MODEL.model_copy(update={"event_columns": {"message": "event_id"}})
    assert table_error(tables_url, model).startswith(
        "table events, event id '1', column 'seats': 'seven' is not a number"
    )


@pytest.mark.parametrize(
    ("engine", "database", "spark_master", "message"),
    [
        ("postgres", None, None, "--engine postgres needs --database URL"),
        ("duckdb", "postgresql://x@127.0.0.1/db", None, "--database names the PostgreSQL server"),
        ("sqlite", None, "local[1]", "--spark-master applies to --engine spark"),
        ("postgres", "mysql://x@h/db", None, "is not a PostgreSQL URL"),
    ],
)
def test_engine_settings_errors(engine, database, spark_master, message):
    with pytest.raises(OptionError, match=re.escape(message)):
        engine_settings(engine, database, spark_master)


@pytest.mark.parametrize(
    ("engine", "leads", "events", "leads_table", "message"),
    [
        ("duckdb", None, None, None, "missing LEADS file; --engine duckdb reads files"),
        ("spark", Path("leads.csv"), None, "leads", "both a LEADS file (leads.csv) and tables"),
        ("spark", None, Path("events.csv"), None, "--events events.csv is a file"),
    ],
)
def test_table_names_errors(engine, leads, events, leads_table, message):
    with pytest.raises(OptionError, match=re.escape(message)):
        table_names(engine, leads, events, leads_table, None)


def test_table_names_defaults():
    assert table_names("postgres", None, None, None, None) == ("leads", "events")
    assert table_names("spark", None, None, "crm.leads", None) == ("crm.leads", "events")
    assert table_names("spark", Path("leads.csv"), None, None, None) is None


def test_engine_option_error_exit_code(files):
    assert_clean_error(leadq("score", "--engine", "postgres", cwd=files), "needs --database URL")


@pytest.mark.parametrize(
    "inputs", [["leads.csv", "-e", "events.csv"], []], ids=["files", "tables"]
)
@pytest.mark.parametrize("failure", ["unknown role", "closed port"])
def test_postgres_connect_failure(files, postgres_url, inputs, failure):
    role = f"leadq_no_role_{secrets.token_hex(3)}"
    url = make_url(postgres_url).set(username=role, password="S3cretPassw0rd")
    reason = 'role "' + role + '" does not exist'
    if failure == "closed port":
        url, reason = url.set(port=1), "port 1 failed: Connection refused"
    database = url.render_as_string(hide_password=False)
    options = ["--engine", "postgres", "--database", database]
    done = leadq("score", *inputs, *options, cwd=files)
    assert_clean_error(
        done,
        f"cannot connect to --database postgresql://{role}:***@{url.host}:{url.port}/",
        reason,
        "Check that the server runs and that the URL's user, password, host, port",
    )
    assert done.stderr.count("\n") == 1
    assert "S3cretPassw0rd" not in done.stderr


def test_spark_table_matches_files(files, spark_session):
    as_of = datetime(2026, 12, 1, tzinfo=timezone.utc)
    expected = score_files(files / "leads.csv", files / "events.csv", as_of=as_of)
    leads = pa.table({name: list(values) for name, values in zip(
        ["email", "title", "company", "industry", "company_size", "country", "phone"],
        zip(*LEAD_ROWS),
    )})  # fmt: skip
    events = pa.table({
        "event_id": [row[0] for row in EVENT_ROWS],
        "email": [row[1] for row in EVENT_ROWS],
        "event": [row[2] for row in EVENT_ROWS],
        "timestamp": [row[3] for row in EVENT_ROWS],
        "properties": [row[4] for row in EVENT_ROWS],
    })  # fmt: skip
    spark_session.createDataFrame(leads).createOrReplaceTempView("spark_leads")
    spark_session.createDataFrame(events).createOrReplaceTempView("spark_events")
    run = score_tables(
        "spark_leads", "spark_events", engine="spark", settings=EngineSettings(), as_of=as_of
    )
    assert run.table.to_pylist() == expected.table.to_pylist()


def test_spark_lead_error_names_key(spark_session):
    leads = pa.table({"email": ["ana@acme.example", "eve@competitor.example"], "company_size": [250.0, math.nan]})
    spark_session.createDataFrame(leads).createOrReplaceTempView("nan_leads")
    try:
        with pytest.raises(InputError) as caught:
            score_tables("nan_leads", None, engine="spark", settings=EngineSettings(), model=NUMBERS_MODEL)
    finally:
        spark_session.catalog.dropTempView("nan_leads")
    assert str(caught.value).startswith(
        "Spark table nan_leads, lead id 'eve@competitor.example', column 'company_size': the value is NaN"
    )


def test_spark_missing_table(spark_session):
    with pytest.raises(OptionError, match="Spark table 'no_such_leads' does not exist"):
        score_tables("no_such_leads", engine="spark", settings=EngineSettings())


def test_explain_on_postgres(files, tables_url):
    done = leadq("explain", "ana@acme.example", "--leads", "leads.csv", "-e", "events.csv",
                 "--as-of", AS_OF, "--engine", "postgres", "--database", tables_url,
                 "--json", cwd=files)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"lead_id": "ana@acme.example"' in done.stdout
