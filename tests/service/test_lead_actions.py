"""POST /api/leads/{id}/merge of ids that are one lead already."""

from __future__ import annotations

import pytest

NOTHING_TO_MERGE = "and there is nothing to merge"


@pytest.fixture()
def admin(client, keys):
    client.headers["Authorization"] = f"Bearer {keys.admin}"
    return client


def same_lead_message(admin, lead_id: int, into: int) -> str:
    response = admin.post(f"/api/leads/{lead_id}/merge", json={"into": into})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "same_lead"
    assert error["field"] == "into"
    return error["message"]


def test_merge_into_merged_lead(admin, rows):
    survivor = rows.lead()
    merged = rows.lead(merged_into=survivor)
    expected = (
        f"lead {merged} was already merged into lead {survivor}, so the two are "
        f"one lead {NOTHING_TO_MERGE}"
    )
    assert same_lead_message(admin, survivor, merged) == expected
    assert same_lead_message(admin, merged, survivor) == expected


def test_merge_two_merged_leads(admin, rows):
    survivor = rows.lead()
    first = rows.lead(merged_into=survivor)
    second = rows.lead(merged_into=first)
    assert same_lead_message(admin, second, first) == (
        f"leads {second} and {first} were both merged into lead {survivor} "
        f"already, so they are one lead {NOTHING_TO_MERGE}"
    )


def test_merge_into_itself(admin, rows):
    lead_id = rows.lead()
    assert same_lead_message(admin, lead_id, lead_id) == (
        f"lead {lead_id} cannot be merged into itself; send the id of another "
        "lead as into"
    )


def test_merge_from_merged_id_rejected(admin, rows):
    survivor = rows.lead()
    merged = rows.lead(merged_into=survivor)
    other = rows.lead()

    response = admin.post(f"/api/leads/{merged}/merge", json={"into": other})

    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "lead_merged"
    assert error["field"] == "lead_id"
    assert error["message"] == (
        f"lead {merged} was already merged into lead {survivor}; to merge lead {survivor} "
        f"and every lead merged into it into lead {other}, send POST /api/leads/{survivor}/merge"
    )
    assert admin.get(f"/api/leads/{survivor}").json()["id"] == survivor
    assert admin.get(f"/api/leads/{other}").json()["id"] == other
