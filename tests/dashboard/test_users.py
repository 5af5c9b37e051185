"""Dashboard users: password hashes, the first admin and `leadq users add`."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select, update

from leadq.dashboard.passwords import hash_password, verify_password
from leadq.dashboard.sessions import find_session, start_session
from leadq.dashboard.users import authenticate, create_user, ensure_admin_user
from leadq.errors import OptionError
from leadq.store.tables import dashboard_sessions, users
from tests.dashboard.test_pages import sqlite_only
from tests.service.servers import LEADQ


def test_password_hash_round_trip():
    stored = hash_password("a long password")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("a long password", stored)
    assert not verify_password("a long passwore", stored)
    assert hash_password("a long password") != stored


def test_malformed_hash_matches_nothing():
    assert not verify_password("anything", "")
    assert not verify_password("anything", "scrypt$x$8$1$AAAA$AAAA")
    assert not verify_password("anything", "md5$1$2$3$4$5")


@sqlite_only
def test_admin_created_once(store, monkeypatch):
    monkeypatch.delenv("LEADQ_ADMIN_PASSWORD", raising=False)
    password = ensure_admin_user(store)
    assert password is not None
    assert ensure_admin_user(store) is None
    with store.read() as connection:
        admin = authenticate(connection, "admin", password)
        count = len(connection.execute(select(users.c.id)).all())
    assert admin.role == "editor"
    assert count == 1


@sqlite_only
def test_admin_password_from_environment(store, monkeypatch):
    monkeypatch.setenv("LEADQ_ADMIN_PASSWORD", "from the environment")
    assert ensure_admin_user(store) is None
    with store.read() as connection:
        assert authenticate(connection, "admin", "from the environment") is not None


@sqlite_only
def test_short_admin_password_rejected(store, monkeypatch):
    monkeypatch.setenv("LEADQ_ADMIN_PASSWORD", "short")
    with pytest.raises(OptionError, match="is 5 characters long; use at least 12"):
        ensure_admin_user(store)


@sqlite_only
def test_unknown_role_rejected(store):
    with (
        store.write() as connection,
        pytest.raises(OptionError, match="role 'boss' is unknown"),
    ):
        create_user(connection, "sam", "a long password", "boss")


def test_users_add_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'leadq.db'}"
    command = [*LEADQ, "users", "add", "sam", "--role", "viewer", "--database", url]
    typed = "a long password\na long password\n"
    done = subprocess.run(
        command, input=typed, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "added viewer sam" in done.stdout
    again = subprocess.run(
        command, input=typed, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2
    assert "a user named 'sam' exists already; choose another name" in again.stderr


@sqlite_only
def test_expired_sessions_deleted(store):
    with store.write() as connection:
        user = create_user(connection, "sam", "a long password", "viewer")
        old_token = start_session(connection, user)
        connection.execute(update(dashboard_sessions).values(expires_at=0))
    with store.write() as connection:
        assert find_session(connection, old_token) is None
        new_token = start_session(connection, user)
        remaining = connection.execute(select(dashboard_sessions.c.id)).all()
        found = find_session(connection, new_token)
    assert len(remaining) == 1
    assert found.user.username == "sam"
