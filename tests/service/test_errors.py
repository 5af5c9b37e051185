"""Error bodies that the shared handlers send for every JSON route."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time

import httpx
import pytest
from sqlalchemy import select, text

from leadq.store.tables import events, leads, webhook_subscriptions

JSON_ROUTES = ["/api/webhooks", "/api/leads/1/recycle", "/api/leads/1/merge"]


def post_bytes(client, keys, path: str, body: bytes):
    headers = {
        "Authorization": f"Bearer {keys.admin}",
        "Content-Type": "application/json",
    }
    return client.post(path, content=body, headers=headers)


INVALID_BODIES = [
    (b'{"url": }', "the body is not valid JSON (Expecting value at line 1, column 9); send a JSON object"),
    (
        '{"reason": "été"}'.encode("latin-1"),
        "the body is not UTF-8 text (byte 0xe9 at position 12 is invalid there); send JSON in UTF-8",
    ),
]


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(("body", "message"), INVALID_BODIES, ids=["not_json", "not_utf8"])
def test_invalid_body_rejected(client, keys, path, body, message):
    response = post_bytes(client, keys, path, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "invalid_json", "message": message, "field": "body"}


NESTING_MESSAGE = "the body nests objects or arrays more than 32 levels deep; flatten it"
UTF16_MESSAGE = "the body is UTF-16 or UTF-32 text, not UTF-8; send JSON in UTF-8"
WEBHOOK = {"url": "http://127.0.0.1:9/hook", "event_types": ["lead.stage_changed"]}


@pytest.mark.parametrize("path", [*JSON_ROUTES, "/api/leads/1/qualifications"])
@pytest.mark.parametrize(
    "body",
    [b'{"reason": ' + b"[" * 100_000, b'{"reason": ' + b"[" * 32 + b"]" * 32 + b"}"],
    ids=["recursion", "over_limit"],
)
def test_deeply_nested_body_rejected(client, keys, store, path, body):
    response = post_bytes(client, keys, path, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "invalid_json", "message": NESTING_MESSAGE, "field": "body"}
    assert count_rows(store, webhook_subscriptions) == 0


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_body_not_utf8_rejected(client, keys, store, codec):
    response = post_bytes(client, keys, "/api/webhooks", json.dumps(WEBHOOK).encode(codec))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "invalid_json", "message": UTF16_MESSAGE, "field": "body"}
    assert count_rows(store, webhook_subscriptions) == 0


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig"])
def test_utf8_body_accepted(client, keys, store, codec):
    response = post_bytes(client, keys, "/api/webhooks", json.dumps(WEBHOOK).encode(codec))
    assert response.status_code == 201, response.text
    assert count_rows(store, webhook_subscriptions) == 1


LIMIT_MESSAGE = "over the limit of 8 MB (8388608 bytes) for an /api request; send a smaller body"


@pytest.mark.parametrize("path", [*JSON_ROUTES, "/api/leads/1/qualifications", "/api/models"])
def test_body_over_the_limit_rejected(client, keys, store, path):
    note = "x" * (8 * 1024 * 1024)
    response = post_bytes(client, keys, path, json.dumps({"reason": note, "note": note}).encode())
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("too_large", "body")
    assert error["message"].startswith("the body declares ")
    assert error["message"].endswith(LIMIT_MESSAGE)


def test_streamed_body_over_the_limit_rejected(client, keys, store):
    """A chunked body declares no length, so the limit applies while it is read."""
    chunks = (b"x" * 1024 * 1024 for _ in range(9))
    headers = {"Authorization": f"Bearer {keys.admin}", "Content-Type": "application/json"}
    response = client.post("/api/webhooks", content=chunks, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"] == f"the body has more than 8388608 bytes, {LIMIT_MESSAGE}"
    assert count_rows(store, webhook_subscriptions) == 0


@pytest.mark.parametrize("path", [*JSON_ROUTES, "/api/leads/1/qualifications"])
def test_repeated_key_rejected(client, keys, store, path):
    response = post_bytes(client, keys, path, b'{"reason": "a", "reason": "b"}')
    assert response.status_code == 400, response.text
    message = 'body contains the key "reason" more than once; send each key once'
    assert response.json()["error"] == {"code": "duplicate_key", "message": message, "field": "reason"}


@pytest.mark.parametrize("path", ["/api/leads/1/recycle", "/api/leads/1/stage"])
def test_blank_reason_rejected(client, keys, rows, path):
    rows.lead()
    response = post_bytes(client, keys, path, json.dumps({"stage": "mql", "reason": " \t "}).encode())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", "reason")
    assert "the reason must contain text other than white space; say why" in error["message"]


def count_rows(store, table) -> int:
    with store.read() as connection:
        return len(connection.execute(select(table.c.id)).all())


def test_body_not_json_names_line(client, keys):
    body = b'{\n  "reason": "called",\n}'
    response = post_bytes(client, keys, "/api/leads/1/recycle", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"] == (
        "the body is not valid JSON (Expecting property name enclosed in double "
        "quotes at line 3, column 1); send a JSON object"
    )


def test_internal_error_is_json(client, keys, store):
    """A request that fails in a way leadq does not expect gets a JSON 500.

    Renaming the events table under the running service stands for such a
    failure: both requests read or write that table.
    """
    track = {"userId": "u-failing", "event": "demo_requested", "messageId": "failing-1"}
    assert client.post("/v1/track", json=track, auth=(keys.write, "")).status_code == 200
    with store.read() as connection:
        lead_id = connection.execute(select(leads.c.id)).scalar_one()
    rename_events(store, "events", "events_moved")

    try:
        tracked = client.post("/v1/track", json={**track, "messageId": "failing-2"}, auth=(keys.write, ""))
        read = client.get(f"/api/leads/{lead_id}")
    finally:
        rename_events(store, "events_moved", "events")

    for response in (tracked, read):
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["code"] == "internal_error"
        assert error["message"].startswith("the server failed to handle the request (")
        assert error["message"].endswith("); its log has the details")
    with store.read() as connection:
        stored = connection.execute(select(events.c.message_id)).scalars().all()
    assert stored == ["failing-1"]


def rename_events(store, old: str, new: str) -> None:
    with store.write() as connection:
        connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_client_that_leaves_mid_body_logs_no_error(server, keys, caplog):
    """A tracking client that drops its connection is not a server failure worth a traceback."""
    host, port = server.removeprefix("http://").split(":")
    credentials = base64.b64encode(f"{keys.write}:".encode()).decode()
    head = (
        "POST /v1/track HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Basic {credentials}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG, logger="leadq"):
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(head.encode() + b'{"userId":')
        # A request after the dropped one still gets its response.
        track = {"userId": "u-after", "event": "demo_requested", "messageId": "after-1"}
        answer = httpx.post(f"{server}/v1/track", json=track, auth=(keys.write, ""), timeout=30)
        deadline = time.monotonic() + 10
        while "left before sending its whole body" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)

    assert answer.status_code == 200
    assert "left before sending its whole body" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
