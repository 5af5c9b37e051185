"""GET /api/leads/{id}: the full record, merged ids and missing leads."""

from __future__ import annotations

import json

import pytest

T0 = 1_777_593_600_000_000  # 2026-05-01T00:00:00Z in microseconds
HOUR = 3_600_000_000

REASONS = [
    {"rule": "title_vp", "section": "fit", "points": 30},
    {"rule": "pricing_page", "section": "engagement", "points": 12.5},
]


@pytest.fixture()
def scored(rows) -> int:
    account = rows.account("acme", {"name": "Acme", "employees": 250})
    model = rows.model_version("name: test model\nstages: [{id: mql}]\n")
    lead_id = rows.scored_lead(
        80,
        12.5,
        0,
        stage="mql",
        stage_rule="mql.any.0",
        stage_since=T0 + 2 * HOUR,
        reasons=json.dumps(REASONS),
        attributes=json.dumps({"job_title": "VP Sales", "country": "DE"}),
        account_id=account,
        model_version_id=model,
    )
    rows.stage_change(
        lead_id,
        T0 + HOUR,
        None,
        "unqualified",
        rule="unqualified",
        model_version_id=model,
    )
    rows.stage_change(
        lead_id,
        T0 + 2 * HOUR,
        "unqualified",
        "mql",
        rule="mql.any.0",
        cause="manual",
        reason="called us",
    )
    rows.snapshot(lead_id, T0 + HOUR, 40.0, stage="unqualified", model_version_id=model)
    rows.snapshot(lead_id, T0 + 2 * HOUR, 92.5)
    return lead_id


def test_record_scores_and_reasons(client, scored):
    response = client.get(f"/api/leads/{scored}")
    assert response.status_code == 200, response.text
    lead = response.json()
    assert lead["id"] == scored
    assert (lead["fit"], lead["engagement"], lead["product"], lead["total"]) == (
        80,
        12.5,
        0,
        92.5,
    )
    assert lead["grade"] == "A"
    assert lead["stage"] == "mql"
    assert lead["stage_rule"] == "mql.any.0"
    assert lead["stage_since"] == "2026-05-01T02:00:00Z"
    assert lead["reasons"] == REASONS
    assert lead["attributes"] == {"job_title": "VP Sales", "country": "DE"}
    assert lead["account"]["group_id"] == "acme"
    assert lead["account"]["traits"] == {"name": "Acme", "employees": 250}
    assert lead["merged_from"] is None
    assert lead["merged_ids"] == []
    assert "content-location" not in response.headers


def test_record_stage_history(client, scored):
    history = client.get(f"/api/leads/{scored}").json()["stage_history"]
    assert [change["new_stage"] for change in history] == ["mql", "unqualified"]
    latest, first = history
    assert latest == {
        "at": "2026-05-01T02:00:00Z",
        "old_stage": "unqualified",
        "new_stage": "mql",
        "rule": "mql.any.0",
        "model_version": None,
        "cause": "manual",
        "reason": "called us",
        "qualification_id": None,
        "probability": None,
    }
    assert first["old_stage"] is None
    assert first["model_version"]["name"] == "test model"
    assert first["model_version"]["version"] == "7"


def test_record_score_history(client, scored):
    history = client.get(f"/api/leads/{scored}").json()["score_history"]
    assert [snapshot["total"] for snapshot in history] == [92.5, 40.0]
    assert history[0]["at"] == "2026-05-01T02:00:00Z"
    assert history[1]["stage"] == "unqualified"
    assert history[1]["model_version"]["version"] == "7"
    assert [snapshot["probability"] for snapshot in history] == [None, None]


def test_record_recent_events(client, rows, scored):
    for minute in range(60):
        properties = json.dumps({"path": f"/page/{minute}"})
        rows.event(
            scored, "page_viewed", T0 + minute * 60_000_000, properties=properties
        )
    events = client.get(f"/api/leads/{scored}").json()["recent_events"]
    assert len(events) == 50
    assert events[0]["properties"] == {"path": "/page/59"}
    assert events[0]["timestamp"] == "2026-05-01T00:59:00Z"
    assert events[0]["received_at"] == "2026-05-01T00:59:00.000001Z"
    assert events[-1]["properties"] == {"path": "/page/10"}
    assert events[0]["event"] == "page_viewed"
    assert events[0]["source"] == "track"


def test_record_unscored_lead(client, rows):
    lead_id = rows.lead(reasons=None)
    lead = client.get(f"/api/leads/{lead_id}").json()
    assert lead["total"] is None
    assert lead["stage"] is None
    assert lead["reasons"] == []
    assert lead["account"] is None
    assert lead["stage_history"] == []
    assert lead["score_history"] == []
    assert lead["recent_events"] == []


def test_record_merged_id(client, rows, scored):
    tombstone = rows.lead(merged_into=scored)
    rows.event(tombstone, "form_submitted", T0 + 3 * HOUR)
    response = client.get(f"/api/leads/{tombstone}")
    assert response.status_code == 200
    lead = response.json()
    assert lead["id"] == scored
    assert lead["merged_from"] == tombstone
    assert lead["stage"] == "mql"
    assert response.headers["content-location"] == f"/api/leads/{scored}"
    assert lead["recent_events"][0]["event"] == "form_submitted"


def test_record_merge_chain(client, rows):
    survivor = rows.scored_lead(60, 0, 0)
    middle = rows.lead(merged_into=survivor)
    oldest = rows.lead(merged_into=middle)
    lead = client.get(f"/api/leads/{oldest}").json()
    assert lead["id"] == survivor
    assert lead["merged_from"] == oldest
    assert client.get(f"/api/leads/{survivor}").json()["merged_ids"] == [middle, oldest]


def test_record_not_found(client, rows):
    rows.lead()
    response = client.get("/api/leads/999")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "lead_not_found",
            "message": "no lead has the id 999",
            "field": "lead_id",
            "value": 999,
        }
    }


@pytest.mark.parametrize("bad_id", ["abc", "0", "9223372036854775808"])
def test_record_invalid_id(client, bad_id):
    response = client.get(f"/api/leads/{bad_id}")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "lead_id"
    assert error["value"] == bad_id
