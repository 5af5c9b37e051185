"""Fixtures of the dashboard tests: the app on a real port and signed-in clients.

The server and row fixtures are those of the service tests. The session
cookie is Secure, which httpx sends only over HTTPS, so the clients here
copy it into their cookie jar by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from leadq.dashboard.users import create_user
from leadq.store.database import Store
from tests.service.conftest import keys, rows, server  # noqa: F401 (fixtures)

PASSWORD = "a long test password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(base: str, username: str, password: str = PASSWORD) -> httpx.Client:
    """Return a client signed in as the user, with its CSRF token in `.csrf`."""
    client = httpx.Client(base_url=base, trust_env=False, timeout=30)
    answer = post_sign_in(client, username, password)
    assert answer.status_code == 303, answer.text
    client.cookies.set("leadq_session", answer.cookies["leadq_session"])
    client.csrf = CSRF.search(client.get("/dashboard/leads").text).group(1)
    return client


def post_sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """Fill in and send the sign-in form, with its double-submit cookie."""
    form = client.get("/dashboard/sign-in")
    token = CSRF.search(form.text).group(1)
    client.cookies.set("leadq_sign_in", form.cookies["leadq_sign_in"])
    data = {"username": username, "password": password, "csrf_token": token}
    return client.post("/dashboard/sign-in", data=data)


def signed_in(
    store: Store, server: str, username: str, role: str
) -> Iterator[httpx.Client]:
    with store.write() as connection:
        create_user(connection, username, PASSWORD, role)
    client = sign_in(server, username)
    yield client
    client.close()


@pytest.fixture()
def editor(store: Store, server: str) -> Iterator[httpx.Client]:  # noqa: F811
    yield from signed_in(store, server, "erin", "editor")


@pytest.fixture()
def viewer(store: Store, server: str) -> Iterator[httpx.Client]:  # noqa: F811
    yield from signed_in(store, server, "vic", "viewer")
