"""Sign-in sessions and CSRF tokens of the dashboard.

The session cookie is Secure, HttpOnly and SameSite=Strict. It contains a
random token, and the store keys the session by the token's SHA-256 hash. Each
session has its own CSRF token, which every form sends back in the
`csrf_token` field (htmx requests send the X-CSRF-Token header). The
sign-in form, before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy import Connection, delete, insert, select

from leadq.dashboard.users import User
from leadq.store.database import now_micros
from leadq.store.tables import dashboard_sessions, users

SESSION_COOKIE = "leadq_session"
SIGN_IN_COOKIE = "leadq_sign_in"
logger = logging.getLogger(__name__)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LIFETIME_SECONDS = 12 * 3600


class SignInRequired(Exception):
    """The request has no valid session; the handler redirects to sign-in."""


class PageError(Exception):
    """An error page with an HTTP status and a message for the reader."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str


def start_session(connection: Connection, user: User) -> str:
    """Store a new session for the user; return the cookie's token.

    Expired sessions of every user are deleted on the way.
    """
    token = secrets.token_urlsafe(32)
    now = now_micros()
    connection.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now)
    )
    connection.execute(
        insert(dashboard_sessions).values(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + LIFETIME_SECONDS * 1_000_000,
        )
    )
    return token


def end_session(connection: Connection, token: str) -> None:
    connection.execute(
        delete(dashboard_sessions).where(
            dashboard_sessions.c.token_hash == _hash(token)
        )
    )


def find_session(connection: Connection, token: str) -> Session | None:
    row = connection.execute(
        select(
            users.c.id, users.c.username, users.c.role, dashboard_sessions.c.csrf_token
        )
        .join(users, users.c.id == dashboard_sessions.c.user_id)
        .where(
            dashboard_sessions.c.token_hash == _hash(token),
            dashboard_sessions.c.expires_at > now_micros(),
        )
    ).first()
    if row is None:
        return None
    return Session(User(row.id, row.username, row.role), row.csrf_token)


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def current_session(request: Request) -> Session:
    """Return the request's session (a FastAPI dependency); raise SignInRequired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    with request.app.state.store.read() as connection:
        session = find_session(connection, token)
    if session is None:
        raise SignInRequired()
    request.state.session = session
    return session


async def checked_session(request: Request) -> Session:
    """Return the session of a form post whose CSRF token matches; else 403."""
    session = current_session(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf_token):
        logger.warning(
            "rejected %s %s from user %d: CSRF token missing or wrong",
            request.method,
            request.url.path,
            session.user.id,
        )
        raise PageError(
            403,
            "The form was refused because its security token is missing or "
            "out of date. Reload the page and send the form again.",
        )
    return session


async def editor_session(request: Request) -> Session:
    """Like `checked_session`, and the user must be an editor."""
    session = await checked_session(request)
    if not session.user.can_edit:
        raise PageError(
            403,
            f"{session.user.username} is a viewer; ask an editor to do this, "
            "or to give you the editor role.",
        )
    return session


def sign_in_token_matches(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, sent)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
