"""The webhooks API: subscriptions, validation, keys and the delivery log."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import httpx
import pytest
from sqlalchemy import update
from tests.service.webhook_receiver import QUICK, free_port, serve_in_thread, stage_change, wait_until

from leadq.service.app import create_app
from leadq.service.keys import create_key
from leadq.service.signing import verify
from leadq.service.webhooks import EVENT_TYPES
from leadq.store.tables import webhook_subscriptions

SCHEME_ERROR = "url: the URL must start with http:// or https://"
VALID = {"url": "https://hooks.example/leadq", "event_types": ["lead.stage_changed"]}


@pytest.fixture()
def api(store):
    """An httpx client of the app, served by uvicorn on 127.0.0.1 with an admin key."""
    with store.write() as connection:
        key = create_key(connection, "admin", "test")
    port = free_port()
    with serve_in_thread(create_app(store, workers=False), port):
        headers = {"authorization": f"Bearer {key}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers
        ) as client:
            yield client


def create(api, **changes) -> dict:
    response = api.post("/api/webhooks", json=VALID | changes)
    assert response.status_code == 201, response.text
    return response.json()


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_create_returns_generated_secret(api):
    created = create(api)
    assert created["url"] == VALID["url"]
    assert created["event_types"] == ["lead.stage_changed"]
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    assert created["created_at"].endswith("Z")


def test_create_keeps_given_secret(api):
    created = create(api, secret="a-secret-that-is-long-enough-1234")
    assert created["secret"] == "a-secret-that-is-long-enough-1234"


def test_create_drops_repeated_event_types(api):
    created = create(api, event_types=["lead.created", "lead.merged", "lead.created"])
    assert created["event_types"] == ["lead.created", "lead.merged"]


def test_list_hides_secrets(api):
    first = create(api)
    second = create(api, url="http://127.0.0.1:9/other", event_types=["lead.created"])
    listed = api.get("/api/webhooks").json()
    assert listed["count"] == 2
    assert [item["id"] for item in listed["data"]] == [first["id"], second["id"]]
    assert all("secret" not in item for item in listed["data"])


def test_get_one(api):
    created = create(api)
    found = api.get(f"/api/webhooks/{created['id']}").json()
    assert found == {
        key: created[key] for key in ("id", "url", "event_types", "created_at")
    }


def test_delete_then_gone(api):
    created = create(api)
    webhook_id = created["id"]
    assert api.delete(f"/api/webhooks/{webhook_id}").status_code == 204
    assert api.get("/api/webhooks").json()["count"] == 0

    again = error_of(api.delete(f"/api/webhooks/{webhook_id}"), 410)
    deleted_at = again["deleted_at"]
    created_at = datetime.fromisoformat(created["created_at"])
    assert datetime.fromisoformat(deleted_at) >= created_at
    assert again == {
        "code": "webhook_deleted",
        "message": f"webhook subscription {webhook_id} was deleted at {deleted_at}; its "
        f"delivery log stays readable at GET /api/webhooks/{webhook_id}/deliveries",
        "deleted_at": deleted_at,
    }
    assert error_of(api.get(f"/api/webhooks/{webhook_id}"), 410) == again


def test_delete_without_recorded_time_gone(store, api):
    webhook_id = create(api)["id"]
    assert api.delete(f"/api/webhooks/{webhook_id}").status_code == 204
    # Subscriptions deleted before migration 0013 have no deletion time.
    with store.write() as connection:
        connection.execute(update(webhook_subscriptions).values(deleted_at=None))

    assert error_of(api.delete(f"/api/webhooks/{webhook_id}"), 410) == {
        "code": "webhook_deleted",
        "message": f"webhook subscription {webhook_id} was deleted at a time that leadq "
        f"did not record; its delivery log stays readable at GET "
        f"/api/webhooks/{webhook_id}/deliveries",
        "deleted_at": None,
    }


def test_openapi_documents_gone(api):
    paths = api.get("/openapi.json").json()["paths"]
    delete = paths["/api/webhooks/{webhook_id}"]["delete"]["responses"]
    retry = paths["/api/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"]["post"]

    assert set(delete) == {"204", "401", "403", "404", "410", "422"}
    assert set(retry["responses"]) == {"202", "401", "403", "404", "409", "410", "422"}
    schema = delete["410"]["content"]["application/json"]["schema"]["$ref"]
    assert schema == "#/components/schemas/DeletedWebhookBody"
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    error = schemas["DeletedWebhookDetail"]
    assert {"code", "message", "deleted_at"} <= set(error["properties"])


def test_unknown_id_not_found(api):
    unknown = {"code": "not_found", "message": "no webhook subscription has id 999"}
    assert error_of(api.get("/api/webhooks/999"), 404) == unknown
    assert error_of(api.delete("/api/webhooks/999"), 404) == unknown
    assert error_of(api.get("/api/webhooks/999/deliveries"), 404) == unknown


def test_deleted_subscription_log_readable(store, api):
    created = create(api)
    webhook_id = created["id"]
    stage_change(store, lead_id=5)
    path = f"/api/webhooks/{webhook_id}/deliveries"
    pending = api.get(path).json()["data"][0]
    assert api.delete(f"/api/webhooks/{webhook_id}").status_code == 204

    response = api.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_before"] is None
    assert len(body["data"]) == 1
    cancelled = body["data"][0]
    assert cancelled["delivery_id"] == pending["delivery_id"]
    assert cancelled["event_type"] == "lead.stage_changed"
    assert cancelled["status"] == "cancelled"
    assert cancelled["next_attempt_at"] is None
    assert cancelled["delivered_at"] is None
    assert cancelled["attempts"] == []
    assert api.get(path, params={"status": "cancelled"}).json()["data"] == [cancelled]
    retry = api.post(f"{path}/{pending['delivery_id']}/retry")
    deleted = error_of(retry, 410)
    assert deleted["code"] == "webhook_deleted"
    assert deleted == error_of(api.get(f"/api/webhooks/{webhook_id}"), 410)


def test_unknown_event_type_lists_valid(api):
    response = api.post(
        "/api/webhooks",
        json=VALID | {"event_types": ["lead.stage_changed", "lead.won"]},
    )
    error = error_of(response, 422)
    assert error["field"] == "event_types.1"
    assert error["message"] == (
        "event_types.1: unknown event type 'lead.won'; valid types: "
        + ", ".join(EVENT_TYPES)
    )


def test_no_event_types(api):
    error = error_of(api.post("/api/webhooks", json=VALID | {"event_types": []}), 422)
    assert error["field"] == "event_types"
    assert error["message"].startswith("event_types: name at least one event type")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.example/in", f"{SCHEME_ERROR}, got 'ftp://files.example/in'"),
        ("hooks.example/leadq", f"{SCHEME_ERROR}, got 'hooks.example/leadq'"),
        ("https:///path-only", "url: the URL 'https:///path-only' has no host"),
        (
            "http://127.0.0.1:99999/",
            "url: the URL 'http://127.0.0.1:99999/' has port 99999; "
            "give a port from 1 to 65535",
        ),
        (
            "http://hooks.example:0/",
            "url: the URL 'http://hooks.example:0/' has port 0; "
            "give a port from 1 to 65535",
        ),
        (
            "https://" + "a" * 2050,
            "url: the URL is 2058 characters long; the maximum is 2048",
        ),
    ],
)
def test_invalid_url(api, url, message):
    error = error_of(api.post("/api/webhooks", json=VALID | {"url": url}), 422)
    assert error["field"] == "url"
    assert error["message"] == message


def test_short_secret(api):
    error = error_of(api.post("/api/webhooks", json=VALID | {"secret": "short"}), 422)
    assert error["field"] == "secret"
    assert "the secret is 5 characters long; it must have 24 to 256" in error["message"]


def test_missing_url_names_field(api):
    error = error_of(
        api.post("/api/webhooks", json={"event_types": ["lead.created"]}), 422
    )
    assert error["field"] == "url"


def test_needs_admin_key(api, store):
    with store.write() as connection:
        read_key = create_key(connection, "read", "reader")
    assert (
        error_of(api.get("/api/webhooks", headers={"authorization": ""}), 401)["code"]
        == "missing_key"
    )
    forbidden = api.post(
        "/api/webhooks", json=VALID, headers={"authorization": f"Bearer {read_key}"}
    )
    assert error_of(forbidden, 403)["code"] == "wrong_key_kind"


def test_deliveries_log_after_retry(store, receiver, start_worker, api):
    receiver.statuses = [500]
    created = create(api, url=receiver.url, secret=receiver.secret)
    stage_change(store, lead_id=5)
    start_worker(store, QUICK)
    receiver.wait_for(2)
    path = f"/api/webhooks/{created['id']}/deliveries"
    wait_until(
        lambda: api.get(path).json()["data"][0]["status"] == "delivered", 20, "delivery"
    )

    log = api.get(path).json()
    entry = log["data"][0]
    assert log["next_before"] is None
    assert entry["delivery_id"] == receiver.received[0].delivery_id
    assert entry["event_type"] == "lead.stage_changed"
    assert entry["next_attempt_at"] is None
    assert entry["delivered_at"].endswith("Z")
    assert [item["status_code"] for item in entry["attempts"]] == [500, 200]
    assert [item["attempt"] for item in entry["attempts"]] == [1, 2]
    assert entry["attempts"][0]["error"] == "no"


def test_deliveries_log_pages_and_filters(store, api):
    created = create(api)
    for lead_id in range(5):
        stage_change(store, lead_id)
    path = f"/api/webhooks/{created['id']}/deliveries"

    first = api.get(path, params={"limit": 2}).json()
    second = api.get(path, params={"limit": 2, "before": first["next_before"]}).json()
    last = api.get(path, params={"limit": 2, "before": second["next_before"]}).json()
    ids = [item["id"] for page in (first, second, last) for item in page["data"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 5
    assert last["next_before"] is None
    assert first["data"][0]["next_attempt_at"] is not None
    assert api.get(path, params={"status": "failed"}).json()["data"] == []
    assert error_of(api.get(path, params={"status": "lost"}), 422)["field"] == "status"


def test_retry_failed_delivery(store, receiver, start_worker, api):
    receiver.statuses = [500]
    created = create(api, url=receiver.url, secret=receiver.secret)
    stage_change(store, lead_id=5)
    start_worker(store, replace(QUICK, max_attempts=1))
    path = f"/api/webhooks/{created['id']}/deliveries"
    wait_until(
        lambda: api.get(path).json()["data"][0]["status"] == "failed", 20, "failure"
    )
    delivery_id = api.get(path).json()["data"][0]["delivery_id"]

    accepted = api.post(f"{path}/{delivery_id}/retry")
    assert accepted.status_code == 202, accepted.text
    arrived = receiver.wait_for(2)
    wait_until(
        lambda: api.get(path).json()["data"][0]["status"] == "delivered",
        20,
        "redelivery",
    )
    assert arrived[1].delivery_id == delivery_id
    verify(receiver.secret, arrived[1].headers, arrived[1].body)


def test_retry_pending_delivery_conflicts(store, api):
    created = create(api)
    stage_change(store, lead_id=5)
    path = f"/api/webhooks/{created['id']}/deliveries"
    delivery_id = api.get(path).json()["data"][0]["delivery_id"]
    error = error_of(api.post(f"{path}/{delivery_id}/retry"), 409)
    assert error["message"] == (
        f"delivery {delivery_id} is pending; "
        "only delivered or failed ones can be sent again"
    )
    assert error_of(api.post(f"{path}/nope/retry"), 404)["code"] == "not_found"
