"""Databases for the tests: a temporary SQLite file and the machine's PostgreSQL.

PostgreSQL tests run in a schema of their own, created for the test session
and dropped after it, inside the database that LEADQ_TEST_POSTGRES_URL
names (by default the `test` database on 127.0.0.1:5432). Under CI=true an
unreachable server fails the tests; elsewhere they are skipped with the
reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from leadq.store.database import Store, open_store
from leadq.store.tables import metadata

POSTGRES_URL = os.environ.get(
    "LEADQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
STORE_DIALECTS = ("sqlite", "postgresql")

# Property tests run few examples by default, so the suite stays fast;
# LEADQ_HYPOTHESIS_PROFILE=thorough (or pytest --hypothesis-profile=thorough)
# runs many more. Examples start databases and engines, so no deadline.
settings.register_profile(
    "leadq", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("LEADQ_HYPOTHESIS_PROFILE", "leadq"))


def _unreachable(reason: str):
    message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI needs it; start the server)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema of this test session."""
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """Create a schema of its own; yield a URL that uses it; drop it after."""
    admin = create_engine(POSTGRES_URL)
    schema = f"leadq_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as error:
        admin.dispose()
        _unreachable(str(error.orig).strip().splitlines()[0])
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database_url(dialect: str, folder) -> Iterator[str]:
    """A URL of an empty database of the dialect, for a server process."""
    if dialect == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'leadq.db'}"


@pytest.fixture(scope="session")
def postgres_store(postgres_url: str) -> Iterator[Store]:
    store = open_store(postgres_url)
    yield store
    store.dispose()


def empty_postgres(store: Store) -> Store:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with store.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return store


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file; each test copies it instead of migrating anew."""
    path = tmp_path_factory.mktemp("template") / "leadq.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(params=STORE_DIALECTS)
def store(request, tmp_path) -> Iterator[Store]:
    """An empty, migrated store on each database the service supports."""
    if request.param == "postgresql":
        yield empty_postgres(request.getfixturevalue("postgres_store"))
        return
    path = tmp_path / "leadq.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    sqlite_store = open_store(f"sqlite:///{path}", upgrade=False)
    yield sqlite_store
    sqlite_store.dispose()


@pytest.fixture(scope="session")
def spark_session():
    """One local Spark for the whole test session: it takes seconds to start.

    Two cores, two shuffle partitions (the test tables are tiny) and no web
    UI. leadq.spark reuses this session, as it reuses any running one. Its
    Python workers run the test's interpreter, which has leadq installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        message = 'PySpark is not installed; pip install -e ".[test]" installs it'
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from leadq.spark import use_driver_python

    use_driver_python()
    session = (
        SparkSession.builder.master("local[2]")
        .appName("leadq-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture()
def engine_settings(request):
    """Return a function that starts the server an engine needs and names it."""
    from leadq.engines import EngineSettings

    def settings_for(engine: str) -> EngineSettings:
        if engine == "postgres":
            return EngineSettings(database_url=request.getfixturevalue("postgres_url"))
        if engine == "spark":
            request.getfixturevalue("spark_session")
        return EngineSettings()

    return settings_for
