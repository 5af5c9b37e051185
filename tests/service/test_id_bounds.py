"""Ids past the signed 64-bit range get 422 on every route that takes one."""

from __future__ import annotations

import pytest

TOO_LARGE = "99999999999999999999999"
JUST_TOO_LARGE = str(2**63)
RANGE = "less than or equal to 9223372036854775807"
QUALIFICATION = {"framework": "bant", "answers": {}, "author": "Ann"}
STAGE = {"stage": "qualified", "reason": "called"}
ROUTES = [
    ("GET", "/api/webhooks/{id}", None, "webhook_id"),
    ("DELETE", "/api/webhooks/{id}", None, "webhook_id"),
    ("GET", "/api/webhooks/{id}/deliveries", None, "webhook_id"),
    ("POST", "/api/webhooks/{id}/deliveries/d-1/retry", None, "webhook_id"),
    ("GET", "/api/leads/{id}", None, "lead_id"),
    ("DELETE", "/api/leads/{id}", None, "lead_id"),
    ("POST", "/api/leads/{id}/recycle", {"reason": "again"}, "lead_id"),
    ("POST", "/api/leads/{id}/stage", STAGE, "lead_id"),
    ("POST", "/api/leads/{id}/merge", {"into": 1}, "lead_id"),
    ("GET", "/api/leads/{id}/qualifications", None, "lead_id"),
    ("POST", "/api/leads/{id}/qualifications", QUALIFICATION, "lead_id"),
]


@pytest.fixture()
def admin(client, keys):
    client.headers["Authorization"] = f"Bearer {keys.admin}"
    return client


def rejection(response) -> dict:
    assert response.status_code == 422, response.text
    return response.json()["error"]


@pytest.mark.parametrize("bad_id", [TOO_LARGE, JUST_TOO_LARGE])
@pytest.mark.parametrize(("method", "path", "body", "field"), ROUTES)
def test_path_id_too_large(admin, method, path, body, field, bad_id):
    url = path.format(id=bad_id)
    error = rejection(admin.request(method, url, json=body))
    assert error["field"] == field
    assert error["value"] == bad_id
    assert RANGE in error["message"]


@pytest.mark.parametrize("into", [int(TOO_LARGE), 2**63, 0])
def test_merge_into_out_of_range(admin, rows, into):
    lead_id = rows.lead()
    error = rejection(admin.post(f"/api/leads/{lead_id}/merge", json={"into": into}))
    assert error["field"] == "into"
    assert error["message"].startswith("into: Input should be")


def test_deliveries_before_too_large(admin):
    error = rejection(admin.get(f"/api/webhooks/1/deliveries?before={TOO_LARGE}"))
    assert error["field"] == "before"
    assert RANGE in error["message"]
