"""Sign in and sign out."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from leadq.dashboard.rendering import PAGE_METHODS, render
from leadq.dashboard.sessions import (
    LIFETIME_SECONDS,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    PageError,
    Session,
    checked_session,
    end_session,
    set_cookie,
    sign_in_token_matches,
    start_session,
)
from leadq.dashboard.users import authenticate

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.api_route("/sign-in", methods=PAGE_METHODS)
def sign_in_form(request: Request):
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", csrf_token=token, failed=False)
    set_cookie(response, SIGN_IN_COOKIE, token, max_age=3600)
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form()] = "",
):
    if not sign_in_token_matches(request, csrf_token):
        raise PageError(
            403, "The sign-in form has expired. Reload the page and sign in again."
        )
    store = request.app.state.store
    token = await run_in_threadpool(_sign_in, store, username, password)
    if token is None:
        logger.warning("dashboard sign-in failed: wrong user name or password")
        return render(
            request,
            "sign_in.html",
            status_code=401,
            csrf_token=csrf_token,
            failed=True,
            username=username,
        )
    response = RedirectResponse("/dashboard/leads", status_code=303)
    set_cookie(response, SESSION_COOKIE, token, max_age=LIFETIME_SECONDS)
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request, _session: Annotated[Session, Depends(checked_session)]):
    with request.app.state.store.write() as connection:
        end_session(connection, request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/dashboard/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _sign_in(store, username: str, password: str) -> str | None:
    with store.read() as connection:
        user = authenticate(connection, username.strip(), password)
    if user is None:
        return None
    with store.write() as connection:
        return start_session(connection, user)
