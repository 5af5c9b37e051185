"""GET /api/stages: leads per stage and grade, in the model's rank order."""

from __future__ import annotations

CUSTOM_MODEL = """
name: custom
stages:
  - id: hot
    when: {score: total, at_least: 80}
  - id: cold
rank_order: [cold, hot]
"""


def test_stages_counts_by_grade(client, rows):
    rows.scored_lead(90, 0, 0, stage="sql")
    rows.scored_lead(60, 0, 0, stage="sql")
    rows.scored_lead(80, 0, 0, stage="sql")
    rows.scored_lead(10, 0, 0, stage="disqualified")
    rows.lead()
    survivor = rows.scored_lead(30, 0, 0, stage="mql")
    rows.scored_lead(90, 0, 0, stage="sql", merged_into=survivor)
    response = client.get("/api/stages")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 6
    assert body["stages"] == [
        {
            "stage": "sql",
            "count": 3,
            "grades": [{"grade": "A", "count": 2}, {"grade": "B", "count": 1}],
        },
        {"stage": "pql", "count": 0, "grades": []},
        {"stage": "mql", "count": 1, "grades": [{"grade": "C", "count": 1}]},
        {"stage": "unqualified", "count": 0, "grades": []},
        {"stage": "disqualified", "count": 1, "grades": [{"grade": "D", "count": 1}]},
        {"stage": None, "count": 1, "grades": [{"grade": None, "count": 1}]},
    ]
    assert body["grades"] == [
        {"grade": "A", "count": 2},
        {"grade": "B", "count": 1},
        {"grade": "C", "count": 1},
        {"grade": "D", "count": 1},
        {"grade": None, "count": 1},
    ]


def test_stages_active_model_order(client, rows):
    rows.model_version(CUSTOM_MODEL, active=True)
    rows.scored_lead(90, 0, 0, stage="hot")
    rows.scored_lead(90, 0, 0, stage="retired")
    stages = [item["stage"] for item in client.get("/api/stages").json()["stages"]]
    assert stages == ["cold", "hot", "retired"]


def test_stages_empty_store(client):
    body = client.get("/api/stages").json()
    assert body["total"] == 0
    assert [item["count"] for item in body["stages"]] == [0, 0, 0, 0, 0]
    assert body["grades"] == []
