"""Open the service's database: SQLite by default, PostgreSQL by URL.

`open_store` creates the engine, sets SQLite up for a server (WAL, a busy
timeout, writers that take the lock when they begin) and brings the schema
to the newest Alembic revision. It also fixes the store's artefacts folder,
the only folder from which the service loads predictive model artefacts.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError, ProgrammingError

from leadq.errors import OptionError
from leadq.store.writer_queue import WriterQueue

DEFAULT_URL = "sqlite:///leadq.db"
URL_VARIABLE = "LEADQ_DATABASE_URL"
ARTEFACTS_VARIABLE = "LEADQ_ARTEFACTS_DIR"
ARTEFACTS_FOLDER_NAME = "artefacts"
# The execution option that carries the artefacts folder to every
# connection of a store's engine, so code that holds only a connection
# (rescoring, activation) finds it.
ARTEFACTS_OPTION = "leadq_artefacts"
MIGRATIONS = Path(__file__).parent / "migrations"
# Keys, in a database connection's info dict, of the tables known to exist
# and of those found by the open transaction, which may have created them.
_KNOWN_TABLES = "leadq_known_tables"
_SEEN_TABLES = "leadq_seen_tables"
# Key, in a pooled connection's record, of when it went back to the pool.
_RETURNED_AT = "leadq_returned_at"
# A PostgreSQL connection that waited in the pool longer than this is
# checked with a round trip before use. A busy service takes its
# connections back within milliseconds, and checking every one would add a
# round trip to each transaction.
IDLE_CHECK_SECONDS = 2.0
# Alembic's table of the schema's revision, in every store since the first one.
ALEMBIC_VERSION_TABLE = "alembic_version"
_NO_VERSION_TABLE = f"the database has no {ALEMBIC_VERSION_TABLE} table, which every leadq store has"
# The table names that an error about another application's SQLite file lists.
MAX_TABLES_SHOWN = 5


@dataclass
class Store:
    engine: Engine
    url: str
    # Predictive model artefacts of stored models must be inside this
    # folder: an absolute path with symbolic links resolved.
    artefacts: Path
    writers: WriterQueue | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database:
            self.writers = WriterQueue(Path(database).resolve())

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Begin a writing transaction; on SQLite it waits its turn and takes the write lock."""
        if self.writers is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with self.writers.held(), self.engine.begin() as connection:
            yield connection

    def read(self):
        """Begin a reading transaction, which on SQLite waits for no writer."""
        return self.engine.connect().execution_options(read_only=True)

    def dispose(self) -> None:
        self.engine.dispose()

    def with_artefacts(self, folder: str | Path) -> Store:
        """Return a view of this store, on the same connection pool, with another artefacts folder.

        Dispose only the original store, which owns the pool.
        """
        resolved = Path(folder).resolve()
        engine = self.engine.execution_options(**{ARTEFACTS_OPTION: str(resolved)})
        return Store(engine, self.url, resolved)


def artefacts_folder(option: str | Path | None, url: str) -> Path:
    """Return the artefacts folder: the option, else $LEADQ_ARTEFACTS_DIR, else a default.

    The default is the folder `artefacts` beside a SQLite file, and
    `artefacts` in the current directory for PostgreSQL. The result is
    absolute with symbolic links resolved; the folder need not exist.
    """
    chosen = option or os.environ.get(ARTEFACTS_VARIABLE)
    if chosen:
        return Path(chosen).resolve()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).resolve().parent / ARTEFACTS_FOLDER_NAME
    return (Path.cwd() / ARTEFACTS_FOLDER_NAME).resolve()


def artefacts_folder_of(connection) -> Path | None:
    """Return the artefacts folder of the store a connection belongs to, if any."""
    folder = connection.get_execution_options().get(ARTEFACTS_OPTION)
    return Path(folder) if folder else None


def database_url(option: str | None) -> str:
    """Return the database URL from the option, the environment or the default."""
    if option is not None and not option.strip():
        raise OptionError(
            f"--database {option!r} is empty; give a database URL, such as "
            "sqlite:///leadq.db or postgresql://user@host:5432/name, or leave the "
            f"option out to use ${URL_VARIABLE} or {DEFAULT_URL}"
        )
    url = option or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    try:
        parsed = make_url(url)
    except ArgumentError:
        masked = _masked_password(url)
        raise OptionError(
            f"--database {masked!r} is not a database URL; write sqlite:///path/to/leadq.db "
            "or postgresql://user@host:5432/name"
        ) from None
    backend = _engine_url(parsed).get_backend_name()
    masked_url = parsed.render_as_string(hide_password=True)
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise OptionError(
            f"--database {masked_url!r} is a database in memory, which keeps "
            "nothing after the command; name a file, such as sqlite:///leadq.db"
        )
    if backend not in ("sqlite", "postgresql"):
        raise OptionError(
            f"--database {masked_url!r}: leadq stores its data in SQLite or PostgreSQL; "
            "write sqlite:///path/to/leadq.db or postgresql://user@host:5432/name"
        )
    # The URL keeps the driver as given, so that messages show the URL that
    # the user wrote; _engine_url picks the driver when connecting.
    return parsed.render_as_string(hide_password=False)


def _masked_password(text: str) -> str:
    """Hide what looks like a password in text that is not a valid URL: user:***@host."""
    at = text.rfind("@")
    colon = text.rfind(":", 0, at)
    start = text.find("//", 0, at) + 2 if "//" in text[:at] else 0
    if at < 0 or colon < start:
        return text
    return f"{text[: colon + 1]}***{text[at:]}"


def _engine_url(url: str | URL) -> URL:
    """Return the URL to connect with, in which PostgreSQL URLs name psycopg.

    leadq installs psycopg, whichever driver SQLAlchemy picks by default,
    and SQLAlchemy 2.1 rejects the scheme postgres://.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def open_store(
    url: str | None = None,
    *,
    upgrade: bool = True,
    artefacts: str | Path | None = None,
    create: bool = True,
) -> Store:
    """Open the store; `artefacts` names its artefacts folder (see artefacts_folder).

    With `create` False, raise OptionError unless the database contains a
    leadq store already, so that a command which only reads or changes a
    store creates no empty one at a mistyped --database.
    """
    url = database_url(url)
    _check_sqlite_file(url, create=create)
    folder = artefacts_folder(artefacts, url)
    engine = _create_engine(url).execution_options(**{ARTEFACTS_OPTION: str(folder)})
    store = Store(engine, url, folder)
    try:
        if not create:
            _check_store_tables(store)
        if upgrade:
            upgrade_schema(store)
    except OperationalError as error:
        engine.dispose()
        raise OptionError(
            f"cannot open the database {make_url(url).render_as_string()}: "
            f"{_first_line(error)}. Check that the server runs and the URL is right"
        ) from None
    except ProgrammingError as error:
        # For example a search_path that names no existing schema, or a role
        # without the right to create tables.
        engine.dispose()
        raise OptionError(
            f"cannot create or upgrade the store in {make_url(url).render_as_string()}: "
            f"{_first_line(error)}. Check that the schema named by the URL's search_path "
            "exists (CREATE SCHEMA name) and that the role may create tables in it"
        ) from None
    except OptionError:
        engine.dispose()
        raise
    return store


def _check_sqlite_file(url: str, *, create: bool) -> None:
    """Raise OptionError unless a SQLite URL names a file that can be a store.

    The file must be a SQLite database that contains a store or no tables,
    so that leadq adds no tables to another application's file. With
    `create` False it must exist and contain a store. Connecting with the
    store's engine would create a missing file and switch an existing one
    to WAL, so this reads the file in read-only mode.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    path = Path(parsed.database).absolute()
    if path.is_dir():
        raise OptionError(_not_sqlite_message(path, "it is a directory", create))
    if not path.exists():
        if not create:
            raise OptionError(_no_store_message(str(path), "the file does not exist"))
        if not path.parent.is_dir():
            raise OptionError(
                f"cannot create the store {path}: the folder {path.parent} does not exist; "
                "create it first, or give a --database in an existing folder"
            )
        return
    try:
        tables = _table_names(path)
    except sqlite3.DatabaseError as error:
        reason = f"it cannot be read as SQLite ({error})"
        raise OptionError(_not_sqlite_message(path, reason, create)) from None
    if ALEMBIC_VERSION_TABLE in tables:
        return
    if not create:
        raise OptionError(_no_store_message(str(path), _NO_VERSION_TABLE))
    if tables:
        raise OptionError(_foreign_tables_message(path, tables))


def _table_names(path: Path) -> list[str]:
    """Return the names of the tables in a SQLite file, without SQLite's own."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        ).fetchall()
    return [name for (name,) in rows]


def _foreign_tables_message(path: Path, tables: list[str]) -> str:
    """Return the error for a SQLite file with tables but no store, as another application's."""
    listed = ", ".join(repr(name) for name in tables[:MAX_TABLES_SHOWN])
    if len(tables) > MAX_TABLES_SHOWN:
        listed += f" and {len(tables) - MAX_TABLES_SHOWN} more"
    return (
        f"{path} is not a leadq store: it has the tables {listed} but no "
        f"{ALEMBIC_VERSION_TABLE} table, which every leadq store has. Check "
        f"--database and ${URL_VARIABLE}; name a leadq store, or a new or empty "
        "file that leadq creates one in"
    )


def _not_sqlite_message(path: Path, reason: str, create: bool) -> str:
    if not create:
        return _no_store_message(str(path), reason)
    return (
        f"cannot use {path} as a leadq store: {reason}. Check --database and "
        f"${URL_VARIABLE}; name a SQLite file, or a new file that leadq creates"
    )


def _check_store_tables(store: Store) -> None:
    """Raise OptionError when a PostgreSQL database has no table of Alembic's, which every store has."""
    if store.dialect == "sqlite":
        return
    with store.engine.connect() as connection:
        if inspect(connection).has_table(ALEMBIC_VERSION_TABLE):
            return
        # current_schema() is NULL when no schema of the search_path exists.
        schema = connection.execute(text("SELECT current_schema()")).scalar()
    where = make_url(store.url).render_as_string()
    if schema is None:
        raise OptionError(_no_store_message(where, "no schema of the URL's search_path exists"))
    raise OptionError(_no_store_message(where, _NO_VERSION_TABLE))


def _no_store_message(where: str, reason: str) -> str:
    return (
        f"no leadq store at {where}: {reason}. Check --database and "
        f"${URL_VARIABLE}, or create the store first: start `leadq serve` or run "
        "`leadq keys create admin` with the same --database"
    )


def upgrade_schema(store: Store) -> None:
    _check_schema_revision(store)
    migrate_schema(store, "head")


def migrate_schema(store: Store, revision: str, *, down: bool = False) -> None:
    """Upgrade the schema to `revision`, or with `down`, downgrade it, in one transaction."""
    config = _alembic_config()
    with store.engine.connect() as connection:
        with _foreign_keys_off(connection), connection.begin():
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _check_schema_revision(store: Store) -> None:
    """Raise OptionError when Alembic cannot tell which revision the schema is at.

    A revision that this leadq's migrations do not contain comes from a
    newer leadq. An empty alembic_version table beside other tables would
    make Alembic run the first migration over them.
    """
    with store.engine.connect() as connection:
        table_names = inspect(connection).get_table_names()
        if ALEMBIC_VERSION_TABLE not in table_names:
            return
        revisions = connection.execute(
            text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")
        ).scalars().all()
    where = make_url(store.url).render_as_string()
    if not revisions and len(table_names) > 1:
        raise OptionError(
            f"the store at {where} has an empty {ALEMBIC_VERSION_TABLE} table beside "
            "other tables, so the revision of its schema is unknown. Restore the store, "
            "or that table's row, from a backup"
        )
    scripts = ScriptDirectory.from_config(_alembic_config())
    for revision in revisions:
        _check_known_revision(scripts, revision, where)


def _check_known_revision(scripts: ScriptDirectory, revision: str, where: str) -> None:
    try:
        scripts.get_revision(revision)
    except CommandError:
        raise OptionError(
            f"the store at {where} has schema revision {revision!r}, which this leadq "
            f"does not know (its newest is {scripts.get_current_head()!r}), so a newer "
            "leadq wrote it. Use the leadq version that wrote the store, or upgrade leadq"
        ) from None


@contextmanager
def _foreign_keys_off(connection):
    """Turn SQLite's foreign keys off while migrations run, then on again.

    Rebuilding a table, the way SQLite changes a table's definition, drops
    the table that other tables refer to. SQLite takes the setting only
    outside a transaction, and each migration that rebuilds a table checks
    the keys itself (PRAGMA foreign_key_check).
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def now_micros() -> int:
    return time.time_ns() // 1000


def _create_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    else:
        engine = create_engine(_engine_url(url), pool_size=10, max_overflow=20)
        event.listen(engine.pool, "checkin", _note_return)
        event.listen(engine.pool, "checkout", _check_if_idle)
    event.listen(engine, "commit", _keep_seen_tables)
    event.listen(engine, "rollback", _forget_seen_tables)
    return engine


def _note_return(_dbapi_connection, record) -> None:
    if record is not None:
        record.info[_RETURNED_AT] = time.monotonic()


def _check_if_idle(dbapi_connection, record, _proxy) -> None:
    """Check a connection that waited in the pool, as pool_pre_ping would.

    A connection that the server closed meanwhile (a restart, an idle
    timeout) raises DisconnectionError, and the pool replaces it with a
    new one.
    """
    returned = record.info.get(_RETURNED_AT)
    if returned is None or time.monotonic() - returned < IDLE_CHECK_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as error:  # noqa: BLE001 - any failure means the connection is unusable
        raise DisconnectionError(f"a pooled connection failed its check: {error}") from error


def has_table(connection: Connection, name: str) -> bool:
    """Return whether the table exists, asking the database once per connection.

    A table found by the open transaction is remembered only once that
    transaction commits, because the transaction may have created it.
    NOTE: a connection that knew a table which another connection dropped
    (a schema downgrade, or an activation that drops binding tables) still
    returns True for it.
    """
    info = connection.connection.info
    if name in info.get(_KNOWN_TABLES, ()) or name in info.get(_SEEN_TABLES, ()):
        return True
    if not connection.dialect.has_table(connection, name):
        return False
    saw_table(connection, name)
    return True


def saw_table(connection: Connection, name: str) -> None:
    """Record that the open transaction found or created the table."""
    connection.connection.info.setdefault(_SEEN_TABLES, set()).add(name)


def forget_table(connection: Connection, name: str) -> None:
    """Record that the open transaction dropped the table."""
    info = connection.connection.info
    for key in (_KNOWN_TABLES, _SEEN_TABLES):
        info.get(key, set()).discard(name)


def _keep_seen_tables(connection: Connection) -> None:
    info = connection.connection.info
    info.setdefault(_KNOWN_TABLES, set()).update(info.pop(_SEEN_TABLES, ()))


def _forget_seen_tables(connection: Connection) -> None:
    connection.connection.info.pop(_SEEN_TABLES, None)


# The maximum page cache of one SQLite connection, in KiB.
SQLITE_CACHE_KIB = 64 * 1024


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def configure(connection: sqlite3.Connection, _record) -> None:
        # Let SQLAlchemy's "begin" event below own the transaction.
        connection.isolation_level = None
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        # SQLite's default page cache of 2 MiB made each rescore read its
        # leads' events through system calls; temporary tables stay in memory.
        connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        connection.execute("PRAGMA temp_store=MEMORY")

    @event.listens_for(engine, "begin")
    def begin(connection) -> None:
        # Writers take the write lock at the start, so two writers cannot
        # deadlock over upgrading a read lock; the second waits up to the
        # busy timeout. In WAL mode, readers see the last commit and block no one.
        if connection.get_execution_options().get("read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", error)) or type(error).__name__
    return text.strip().splitlines()[0]
