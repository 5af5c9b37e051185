"""`leadq keys list` and `leadq keys revoke` on a real store."""

from __future__ import annotations

import re

import pytest

from leadq.service.keys import find_key
from leadq.store import database
from tests.conftest import STORE_DIALECTS, database_url
from tests.service.servers import create_key, leadq

# ISO 8601 in UTC with a Z, as the CLI writes times.
UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z")


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_revoked_key_listed_and_rejected(dialect, tmp_path):
    with database_url(dialect, tmp_path) as url:
        write_key = create_key(url, "write")
        read_key = create_key(url, "read")

        revoked = leadq("keys", "revoke", "1", "--database", url)
        again = leadq("keys", "revoke", "1", "--database", url)
        listed = leadq("keys", "list", "--database", url)
        store = database.open_store(url)
        try:
            with store.read() as connection:
                found_write, found_read = find_key(connection, write_key), find_key(connection, read_key)
        finally:
            store.dispose()

    assert revoked.returncode == 0, revoked.stderr
    assert again.returncode == 2
    revoked_at = listed.stdout.splitlines()[1].split("\t")[5].removeprefix("revoked ")
    assert " ".join(again.stderr.split()) == (
        f"error: API key 1 was already revoked at {revoked_at}; `leadq keys list` shows the active keys"
    )
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(row[0], row[1], row[3]) for row in lines] == [("2", "read", read_key[:8] + "..."), ("1", "write", write_key[:8] + "...")]
    assert lines[0][5] == "active"
    assert lines[1][5].startswith("revoked ")
    assert UTC_TIME.fullmatch(lines[0][4])
    assert UTC_TIME.fullmatch(lines[1][5].removeprefix("revoked "))
    assert found_write is None
    assert found_read is not None


def test_revoke_unknown_key_rejected(tmp_path):
    with database_url("sqlite", tmp_path) as url:
        create_key(url, "write")
        done = leadq("keys", "revoke", "2", "--database", url)

    assert done.returncode == 2
    assert done.stderr == "error: no active API key has id 2; `leadq keys list` shows the ids\n"


def test_key_name_with_newline_rejected(tmp_path):
    with database_url("sqlite", tmp_path) as url:
        done = leadq("keys", "create", "read", "--name", "line1\nline2", "--database", url)

    assert done.returncode == 2
    assert "invalid key name 'line1\\nline2'" in done.stderr


def test_key_name_too_long_rejected(tmp_path):
    with database_url("sqlite", tmp_path) as url:
        longest = leadq("keys", "create", "read", "--name", "n" * 200, "--database", url)
        done = leadq("keys", "create", "read", "--name", "n" * 201, "--database", url)
        listed = leadq("keys", "list", "--database", url)

    assert longest.returncode == 0, longest.stderr
    assert done.returncode == 2
    assert done.stderr == (
        "error: the key name is 201 characters long; use a name of at most 200 characters\n"
    )
    assert [line.split("\t")[2] for line in listed.stdout.splitlines()] == ["n" * 200]


@pytest.mark.parametrize("bad_id", ["99999999999999999999999", "0"])
def test_revoke_id_out_of_range(tmp_path, bad_id):
    done = leadq("keys", "revoke", bad_id, "--database", f"sqlite:///{tmp_path}/leadq.db")
    assert done.returncode == 2
    assert "Invalid value for 'ID'" in done.stderr
    assert "Traceback" not in done.stderr
