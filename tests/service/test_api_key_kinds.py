"""Keys on every /api route: read and admin keys read, only admin keys erase.

Write and admin keys record qualifications; that is the one /api route a
write key may call.
"""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlsplit

import pytest

from leadq.service.app import create_app


def api_routes() -> list[tuple[str, str]]:
    """Every method and path under /api, from the app's OpenAPI schema."""
    paths = create_app(store=None, workers=False).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method in operations
    ]


ROUTES = api_routes()
# Webhook subscriptions hold signing secrets, so only admin keys read them.
READ_ROUTES = [route for route in ROUTES if route[0] == "GET" and "/webhooks" not in route[1]]
ADMIN_READ_ROUTES = [route for route in ROUTES if route[0] == "GET" and "/webhooks" in route[1]]
QUALIFY_ROUTE = ("POST", "/api/leads/{lead_id}/qualifications")


def test_routes_found():
    assert ("GET", "/api/leads") in ROUTES
    assert ("GET", "/api/leads/{lead_id}") in ROUTES
    assert ("GET", "/api/stages") in ROUTES
    assert ("DELETE", "/api/leads/{lead_id}") in ROUTES
    assert QUALIFY_ROUTE in ROUTES


def call(client, route: tuple[str, str], lead_id: int, key: str | None):
    method, path = route
    headers = {"Authorization": f"Bearer {key}"} if key else {"Authorization": ""}
    ids = {"lead_id": lead_id, "webhook_id": 1, "delivery_id": "00000000-0000-4000-8000-000000000001"}
    return client.request(method, path.format(**ids), headers=headers)


@pytest.mark.parametrize("route", ROUTES)
def test_no_key_401(client, rows, route):
    response = call(client, route, rows.lead(), None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_key"
    assert response.headers["www-authenticate"] == 'Basic realm="leadq"'


@pytest.mark.parametrize(
    "credentials", [b"Basic !!!", "Basic \u00e9".encode(), b"Basic \xff\xfe", b"Token lqw_abc"]
)
def test_malformed_basic_credentials_401(client, rows, credentials):
    method, path = ROUTES[0]
    ids = {"lead_id": rows.lead(), "webhook_id": 1, "delivery_id": "00000000-0000-4000-8000-000000000001"}
    response = client.request(method, path.format(**ids), headers={"Authorization": credentials})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_authorization"


# Headers that name Basic or Bearer but carry no key, with the message's start.
EMPTY_CREDENTIALS = [
    (b"Basic", "the Authorization header has the Basic scheme but no credentials"),
    (b"Basic ", "the Authorization header has the Basic scheme but no credentials"),
    (b"Basic  \t ", "the Authorization header has the Basic scheme but no credentials"),
    (b"basic ", "the Authorization header has the Basic scheme but no credentials"),
    (b"Basic " + base64.b64encode(b":"), "the Basic credentials of the Authorization header have an empty user name"),
    (b"Basic " + base64.b64encode(b":lqw_abc"), "the Basic credentials of the Authorization header have an empty user name"),
    (b"Bearer", "the Authorization header has the Bearer scheme but no token"),
    (b"Bearer ", "the Authorization header has the Bearer scheme but no token"),
    (b"Bearer   ", "the Authorization header has the Bearer scheme but no token"),
]


def send_authorization(server: str, path: str, header: bytes) -> tuple[int, dict, dict]:
    """Send the Authorization header as given; return the status, headers and JSON body.

    http.client sends a value with trailing white space, which httpx rejects.
    """
    method = "GET" if path.startswith("/api/") else "POST"
    connection = http.client.HTTPConnection(urlsplit(server).netloc, timeout=30)
    try:
        connection.putrequest(method, path)
        connection.putheader("Authorization", header)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "2")
        connection.endheaders(b"{}")
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


NO_SCHEME = "the Authorization header has no scheme; "
# Headers with a scheme other than Basic and Bearer, with the expected message
# start: only a scheme of letters is named, so that no credential is echoed.
OTHER_SCHEMES = [
    (b"Digest username=ana", "the Authorization scheme 'Digest' is not supported; "),
    (b"Token lqw_abc", "the Authorization scheme 'Token' is not supported; "),
    (b"lqw_" + b"s" * 32, NO_SCHEME),
    (b"lqw_" + b"s" * 32 + b" extra", NO_SCHEME),
    (b"abc123def456", NO_SCHEME),
    (b"A" * 21, NO_SCHEME),
]


@pytest.mark.parametrize(("header", "message"), OTHER_SCHEMES)
def test_other_scheme_not_echoed(server, header, message):
    status, headers, body = send_authorization(server, "/api/leads", header)

    text = body["error"]["message"]
    assert status == 401
    assert body["error"]["code"] == "invalid_authorization"
    assert text.startswith(message), text
    assert text.endswith("(curl -u KEY: does this)"), text
    assert "sss" not in text
    assert "abc123" not in text
    assert "AAA" not in text


@pytest.mark.parametrize(("header", "message"), EMPTY_CREDENTIALS)
@pytest.mark.parametrize("path", ["/api/leads", "/v1/track"])
def test_empty_credentials_401(server, header, message, path):
    status, headers, body = send_authorization(server, path, header)

    assert status == 401
    assert body["error"]["code"] == "invalid_authorization"
    assert body["error"]["message"].startswith(message), body["error"]["message"]
    assert body["error"]["message"].endswith(
        ("(curl -u KEY: does this)", "`Authorization: Bearer KEY`")
    )
    assert headers["www-authenticate"] == 'Basic realm="leadq"'


@pytest.mark.parametrize("path", ["/api/leads", "/v1/track"])
def test_no_authorization_header_401(client, path):
    method = "GET" if path.startswith("/api/") else "POST"
    request = client.build_request(method, path, json={})
    del request.headers["Authorization"]
    response = client.send(request)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_key"


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_key_401(client, rows, route):
    response = call(client, route, rows.lead(), "lqr_not_a_key")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unknown_key"


@pytest.mark.parametrize("route", [route for route in ROUTES if route != QUALIFY_ROUTE])
def test_write_key_403(client, rows, keys, route):
    response = call(client, route, rows.lead(), keys.write)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_key_kind"


@pytest.mark.parametrize("kind", ["write", "admin"])
def test_qualify_route_key_kinds(client, rows, keys, kind):
    # Past the key check, an empty body is invalid.
    response = call(client, QUALIFY_ROUTE, rows.lead(), getattr(keys, kind))
    assert response.status_code == 422


@pytest.mark.parametrize("route", READ_ROUTES)
def test_read_key_reads(client, rows, keys, route):
    assert call(client, route, rows.lead(), keys.read).status_code == 200


@pytest.mark.parametrize("route", READ_ROUTES)
def test_admin_key_reads(client, rows, keys, route):
    assert call(client, route, rows.lead(), keys.admin).status_code == 200


@pytest.mark.parametrize("route", ADMIN_READ_ROUTES)
def test_read_key_cannot_read_webhooks(client, rows, keys, route):
    assert call(client, route, rows.lead(), keys.read).status_code == 403


def test_read_key_cannot_erase(client, rows, keys):
    lead_id = rows.lead()
    response = call(client, ("DELETE", "/api/leads/{lead_id}"), lead_id, keys.read)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "a read key cannot manage the service; use an admin key"
    )
    assert client.get(f"/api/leads/{lead_id}").status_code == 200


def test_basic_auth_reads(client, rows, keys):
    lead_id = rows.lead()
    token = base64.b64encode(f"{keys.read}:".encode()).decode()
    response = client.get(
        f"/api/leads/{lead_id}", headers={"Authorization": f"Basic {token}"}
    )
    assert response.status_code == 200


def test_key_checked_before_parameters(client):
    response = client.get(
        "/api/leads", params={"limit": 0}, headers={"Authorization": ""}
    )
    assert response.status_code == 401
