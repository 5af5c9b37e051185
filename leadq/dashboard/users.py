"""Dashboard users: viewers read, editors also change leads and settings.

`leadq serve` creates the first user, `admin`, an editor, when the store
has none. Its password comes from LEADQ_ADMIN_PASSWORD, or is generated
and printed once.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from leadq.dashboard.passwords import hash_password, password_problem, verify_password
from leadq.errors import OptionError
from leadq.store.database import Store, now_micros
from leadq.store.tables import users

ROLES = ("viewer", "editor")
ADMIN_USERNAME = "admin"
PASSWORD_VARIABLE = "LEADQ_ADMIN_PASSWORD"
# Compared against when a user name is unknown, so that a sign-in takes
# as long for an unknown name as for a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


def create_user(
    connection: Connection, username: str, password: str, role: str
) -> User:
    """Store a user; raise OptionError for an unknown role or a weak password."""
    if role not in ROLES:
        raise OptionError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
    problem = password_problem(password)
    if problem:
        raise OptionError(f"the password for {username!r} {problem}")
    user_id = connection.execute(
        insert(users)
        .values(
            username=username,
            password_hash=hash_password(password),
            role=role,
            created_at=now_micros(),
        )
        .returning(users.c.id)
    ).scalar_one()
    return User(user_id, username, role)


def authenticate(connection: Connection, username: str, password: str) -> User | None:
    row = connection.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, row.password_hash):
        return None
    return User(row.id, row.username, row.role)


def ensure_admin_user(store: Store) -> str | None:
    """Create the `admin` editor when no user exists.

    Returns the generated password, which the caller shows once, or None
    when a user already existed or the password came from the environment.
    """
    configured = os.environ.get(PASSWORD_VARIABLE)
    if configured is not None and password_problem(configured):
        raise OptionError(f"${PASSWORD_VARIABLE} {password_problem(configured)}")
    with store.write() as connection:
        if connection.execute(select(func.count()).select_from(users)).scalar_one():
            return None
        password = configured or secrets.token_urlsafe(15)
        create_user(connection, ADMIN_USERNAME, password, "editor")
    return None if configured else password
