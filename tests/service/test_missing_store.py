"""Commands that only read or change a store stop when there is no store.

Commands that set a store up (`serve`, `keys create`, `import`, `model
activate`, `webhooks add`, `users add`) create it. The others must leave
no empty store behind a mistyped --database.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import closing

import pytest
from sqlalchemy import inspect

from leadq.errors import OptionError
from leadq.model.loading import default_model_text
from leadq.store import database
from tests.conftest import POSTGRES_URL, database_url
from tests.service.servers import LEADQ, leadq

NO_FILE = "the file does not exist"
NO_TABLES = "the database has no alembic_version table, which every leadq store has"
FIX = (
    "Check --database and $LEADQ_DATABASE_URL, or create the store first: start "
    "`leadq serve` or run `leadq keys create admin` with the same --database\n"
)
READ_COMMANDS = [
    ["keys", "list"],
    ["keys", "revoke", "1"],
    ["webhooks", "list"],
    ["webhooks", "remove", "1"],
    ["model", "show"],
    ["rescore"],
    ["erase", "ana@example.com"],
    ["qualify", "ana@example.com", "--answers", "ANSWERS"],
    ["qualify-report"],
    ["export", "--format", "generic"],
    ["report"],
    ["backtest", "--model", "MODEL", "--vs", "MODEL"],
    ["suggest", "--model", "MODEL"],
]


def _arguments(command: list[str], tmp_path) -> list[str]:
    """Replace ANSWERS and MODEL with the paths of files written for them."""
    answers = tmp_path / "answers.yaml"
    answers.write_text("answers: {budget: confirmed}\n", encoding="utf-8")
    model = tmp_path / "model.yaml"
    model.write_text(default_model_text(), encoding="utf-8")
    files = {"ANSWERS": str(answers), "MODEL": str(model)}
    return [files.get(part, part) for part in command]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_command_missing_sqlite_file(command, tmp_path):
    path = tmp_path / "typo.db"

    done = leadq(*_arguments(command, tmp_path), "--database", f"sqlite:///{path}")

    assert done.returncode == 2
    assert done.stderr == f"error: no leadq store at {path}: {NO_FILE}. {FIX}"
    assert done.stdout == ""
    assert not path.exists()
    assert not path.with_name("typo.db-lock").exists()


def test_qualify_without_terminal_missing_store(tmp_path):
    path = tmp_path / "typo.db"
    command = [*LEADQ, "qualify", "ana@example.com", "--database", f"sqlite:///{path}"]

    done = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
    )

    assert done.returncode == 2
    assert done.stderr == f"error: no leadq store at {path}: {NO_FILE}. {FIX}"
    assert not path.exists()


def test_default_database_missing(tmp_path):
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != database.URL_VARIABLE
    }

    done = leadq("keys", "list", cwd=tmp_path, env=environment)

    assert done.returncode == 2
    assert done.stderr == f"error: no leadq store at {tmp_path / 'leadq.db'}: {NO_FILE}. {FIX}"
    assert list(tmp_path.iterdir()) == []


def test_empty_postgresql_schema_stays_empty(tmp_path):
    with database_url("postgresql", tmp_path) as url:
        done = leadq("keys", "list", "--database", url)
        store = database.open_store(url, upgrade=False)
        try:
            with store.engine.connect() as connection:
                tables = inspect(connection).get_table_names()
        finally:
            store.dispose()

    shown_url = database.make_url(database.database_url(url)).render_as_string()
    assert done.returncode == 2
    assert done.stderr == f"error: no leadq store at {shown_url}: {NO_TABLES}. {FIX}"
    assert tables == []


def test_sqlite_file_without_store(tmp_path):
    path = tmp_path / "other.db"
    path.write_bytes(b"")

    with pytest.raises(OptionError) as raised:
        database.open_store(f"sqlite:///{path}", create=False)

    assert str(raised.value) == f"no leadq store at {path}: {NO_TABLES}. {FIX.strip()}"
    assert path.read_bytes() == b""


def test_sqlite_file_in_missing_folder(tmp_path):
    path = tmp_path / "missing" / "leadq.db"

    done = leadq("serve", "--database", f"sqlite:///{path}")

    assert done.returncode == 2, done.stderr
    assert (
        f"cannot create the store {path}: the folder {path.parent} does not exist; "
        "create it first, or give a --database in an existing folder"
    ) in done.stderr
    assert not path.parent.exists()


def test_sqlite_file_not_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not a database, but long enough to have a header of one\n" * 4)

    with pytest.raises(OptionError) as raised:
        database.open_store(f"sqlite:///{path}", create=False)

    assert str(raised.value) == (
        f"no leadq store at {path}: it cannot be read as SQLite "
        f"(file is not a database). {FIX.strip()}"
    )


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_key_create_creates_store(dialect, tmp_path):
    with database_url(dialect, tmp_path) as url:
        created = leadq("keys", "create", "read", "--database", url)
        listed = leadq("keys", "list", "--database", url)

    assert created.returncode == 0, created.stderr
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\t")[:3] == ["1", "read", "read key"]


CREATE_COMMANDS = [
    ["keys", "create", "write"],
    ["model", "activate", "MODEL"],
    ["serve", "--port", "1"],
]
NOT_SQLITE_FIX = (
    "Check --database and $LEADQ_DATABASE_URL; name a SQLite file, or a new "
    "file that leadq creates\n"
)


@pytest.mark.parametrize("command", CREATE_COMMANDS, ids=" ".join)
def test_create_command_text_file(command, tmp_path):
    path = tmp_path / "text.db"
    path.write_text("notes, not a database\n", encoding="utf-8")

    done = leadq(*_arguments(command, tmp_path), "--database", f"sqlite:///{path}")

    assert done.returncode == 2
    assert done.stderr == (
        f"error: cannot use {path} as a leadq store: it cannot be read as SQLite "
        f"(file is not a database). {NOT_SQLITE_FIX}"
    )
    assert path.read_text(encoding="utf-8") == "notes, not a database\n"


@pytest.mark.parametrize("command", CREATE_COMMANDS, ids=" ".join)
def test_create_command_directory(command, tmp_path):
    path = tmp_path / "folder.db"
    path.mkdir()

    done = leadq(*_arguments(command, tmp_path), "--database", f"sqlite:///{path}")

    assert done.returncode == 2
    assert done.stderr == (
        f"error: cannot use {path} as a leadq store: it is a directory. {NOT_SQLITE_FIX}"
    )


def test_read_command_directory(tmp_path):
    path = tmp_path / "folder.db"
    path.mkdir()

    done = leadq("keys", "list", "--database", f"sqlite:///{path}")

    assert done.returncode == 2
    assert done.stderr == f"error: no leadq store at {path}: it is a directory. {FIX}"


@pytest.mark.parametrize("command", CREATE_COMMANDS, ids=" ".join)
def test_create_command_other_application(command, tmp_path):
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        connection.execute("CREATE TABLE tags (name TEXT)")

    done = leadq(*_arguments(command, tmp_path), "--database", f"sqlite:///{path}")

    assert done.returncode == 2
    assert done.stderr == (
        f"error: {path} is not a leadq store: it has the tables 'notes', 'tags' "
        "but no alembic_version table, which every leadq store has. Check "
        "--database and $LEADQ_DATABASE_URL; name a leadq store, or a new or empty "
        "file that leadq creates one in\n"
    )
    with closing(sqlite3.connect(path)) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    assert tables == [("notes",), ("tags",)]


def test_key_create_in_empty_sqlite_file(tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")

    done = leadq("keys", "create", "read", "--database", f"sqlite:///{path}")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("lqr_")


@pytest.mark.parametrize("command", [["keys", "list"], ["keys", "create", "read"]], ids=" ".join)
@pytest.mark.parametrize("value", ["", "  "])
def test_empty_database_option(command, value, tmp_path):
    done = leadq(*command, "--database", value, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr == (
        f"error: --database {value!r} is empty; give a database URL, such as "
        "sqlite:///leadq.db or postgresql://user@host:5432/name, or leave the "
        "option out to use $LEADQ_DATABASE_URL or sqlite:///leadq.db\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgres ql://bob:secret@db/leadq", "postgres ql://bob:***@db/leadq"),
        ("bob:secret@db", "bob:***@db"),
        ("not a url", "not a url"),
    ],
)
def test_invalid_url_hides_password(url, shown, tmp_path):
    done = leadq("keys", "list", "--database", url, cwd=tmp_path)

    assert done.returncode == 2
    assert "secret" not in done.stderr
    assert done.stderr.startswith(f"error: --database {shown!r} is not a database URL;")


@pytest.mark.parametrize(
    "url", ["postgresql://leadq:secret@127.0.0.1:1/leadq", "postgres://leadq:secret@127.0.0.1:1/leadq"]
)
def test_unreachable_server_url_as_given(url, tmp_path):
    done = leadq("keys", "list", "--database", url)

    masked_url = url.replace(":secret@", ":***@")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot open the database {masked_url}: ")
    assert done.stderr.endswith(". Check that the server runs and the URL is right\n")
    assert "secret" not in done.stderr


def test_empty_postgresql_schema_url_as_given(tmp_path):
    with database_url("postgresql", tmp_path) as url:
        given_url = database.make_url(url).set(drivername="postgresql")
        done = leadq("keys", "list", "--database", given_url.render_as_string(hide_password=False))

    assert done.returncode == 2
    assert done.stderr == f"error: no leadq store at {given_url.render_as_string()}: {NO_TABLES}. {FIX}"
    assert "postgresql+psycopg" not in done.stderr


def test_missing_postgresql_schema_named(tmp_path):
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3Dleadq_no_such_schema"
    done = leadq("keys", "create", "write", "--database", url)

    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot create or upgrade the store in {url}: ")
    assert "(CREATE SCHEMA name)" in done.stderr


def test_read_command_names_missing_schema():
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3Dleadq_no_such_schema"
    done = leadq("keys", "list", "--database", url)

    assert done.returncode == 2
    assert done.stderr == f"error: no leadq store at {url}: no schema of the URL's search_path exists. {FIX}"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["keys", "create", "bogus"], "error: unknown key kind 'bogus'; expected one of write, read, admin\n"),
        (["model", "activate", "BAD_MODEL"], "invalid YAML"),
        (["import", "leads", "MISSING"], "file not found"),
        (["webhooks", "add", "ftp://example.com", "--event", "lead.created"], "URL: the URL must start with http://"),
    ],
    ids=lambda part: " ".join(part) if isinstance(part, list) else "",
)
def test_create_command_bad_input_creates_no_store(command, message, tmp_path):
    bad_model = tmp_path / "bad.yaml"
    bad_model.write_text("name: x\nfit: [\n", encoding="utf-8")
    paths = {"BAD_MODEL": str(bad_model), "MISSING": str(tmp_path / "missing.csv")}
    store = tmp_path / "leadq.db"

    done = leadq(*[paths.get(part, part) for part in command], "--database", f"sqlite:///{store}")

    assert done.returncode == 2
    assert message in done.stderr
    assert not store.exists()
