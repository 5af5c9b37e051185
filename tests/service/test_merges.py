"""Merges of two leads: the lead.merged webhook, stage history, qualifications and the funnel."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, select, update

from leadq.dashboard.funnel import funnel_steps, stage_entries
from leadq.service.erasure import erase_lead
from leadq.qualification.records import list_qualifications, record_for_lead
from leadq.service.identity import merge, merge_reason
from leadq.service.ingest import Message, ingest_messages
from leadq.service.lead_records import read_lead_detail
from leadq.service.merge_rescoring import SURVIVOR_FIELDS
from leadq.service.model_versions import activate_model
from leadq.store.database import now_micros
from leadq.store.tables import leads, outbox, score_snapshots, stage_history, webhook_subscriptions
from tests.service.conftest import HOUR, T0

MODEL = """
name: merge test model
version: 1
key: email
engagement:
  rules:
    - {id: demo, event: demo_requested, points: 10}
stages:
  - {id: sql, sticky: true, when: {score: engagement, at_least: 30}}
  - {id: mql, when: {score: engagement, at_least: 10}}
  - {id: unqualified}
"""

QUALIFIED_MODEL = """
name: merge qualification model
version: 1
key: email
stages:
  - {id: sql, when: {qualification: {framework: bant, result: passed, within_days: 90}}}
  - {id: no_authority, when: {answer: {framework: bant, criterion: authority, is: no_role}}}
  - {id: unqualified}
"""
BANT_PASSED = {"budget": "confirmed", "authority": "decision_maker", "need": 3, "timeline": "next_quarter"}
BANT_FAILED = {"budget": "confirmed", "authority": "no_role", "need": 3, "timeline": "next_quarter"}


@pytest.fixture()
def merged_webhooks(store) -> None:
    """Subscribe to lead.merged webhooks, so merges write outbox rows."""
    with store.write() as connection:
        connection.execute(
            insert(webhook_subscriptions).values(
                url="http://127.0.0.1:9/merged",
                secret="test secret of the merge tests",
                event_types=json.dumps(["lead.merged"]),
                active=True,
                created_at=T0,
            )
        )


def identify(store, user: str, message_id: str, **traits) -> None:
    ingest_messages(store, [Message("identify", message_id, user_id=user, traits=traits)])


def demo(user: str, message_id: str) -> Message:
    return Message("track", message_id, user_id=user, event="demo_requested")


def lead_ids(store) -> dict[str, int]:
    with store.read() as connection:
        return dict(connection.execute(select(leads.c.lead_key, leads.c.id)).all())


def merged_payloads(store) -> list[dict]:
    return payloads_of(store, "lead.merged")


def payloads_of(store, event_type: str) -> list[dict]:
    with store.read() as connection:
        payloads = connection.execute(
            select(outbox.c.payload).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
        ).scalars()
        return [json.loads(payload) for payload in payloads]


def stage_webhooks(store, lead_id: int) -> list[dict]:
    payloads = payloads_of(store, "lead.stage_changed")
    return [payload["data"] for payload in payloads if payload["data"]["lead"]["id"] == lead_id]


@pytest.fixture()
def qualified(store, rows) -> None:
    """Activate the model whose stages read BANT qualifications, and subscribe to stage changes."""
    with store.write() as connection:
        activate_model(connection, QUALIFIED_MODEL, "qualified.yaml")
    rows.subscription()


def changes(store, lead_id: int) -> list[tuple]:
    """Return the lead's stage changes: old and new stage, cause and reason."""
    with store.read() as connection:
        found = connection.execute(
            select(
                stage_history.c.old_stage, stage_history.c.new_stage, stage_history.c.cause, stage_history.c.reason
            )
            .where(stage_history.c.lead_id == lead_id)
            .order_by(stage_history.c.id)
        )
        return [tuple(row) for row in found]


def qualification_leads(store, lead_ids: list[int]) -> list[list[int]]:
    """Return, per lead, the lead ids of its listed qualifications."""
    with store.read() as connection:
        listed = [list_qualifications(connection, lead_id) for lead_id in lead_ids]
    return [[found.lead_id for found in qualifications] for qualifications in listed]


def history(store, lead_id: int) -> list[tuple]:
    with store.read() as connection:
        rows = connection.execute(
            select(stage_history.c.old_stage, stage_history.c.new_stage)
            .where(stage_history.c.lead_id == lead_id)
            .order_by(stage_history.c.at, stage_history.c.id)
        )
        return [tuple(row) for row in rows]


def survivor_state(store, lead_id: int) -> dict:
    """Return the lead's stored stage and scores, as a lead.merged webhook names them."""
    with store.read() as connection:
        row = connection.execute(select(leads).where(leads.c.id == lead_id)).one()
    scores = {"fit": row.fit, "engagement": row.engagement, "product": row.product, "total": row.total}
    return {"stage": row.stage, "rule": row.stage_rule, "grade": row.grade, "scores": scores}


def test_merged_webhook_names_both_leads(store, merged_webhooks):
    identify(store, "u-first", "i-1", email="first@acme.example")
    identify(store, "u-second", "i-2", email="second@acme.example")
    identify(store, "u-second", "i-3", email="first@acme.example")
    ids = lead_ids(store)

    payloads = merged_payloads(store)
    assert len(payloads) == 1
    assert payloads[0]["type"] == "lead.merged"
    assert payloads[0]["data"] == {
        "lead": {"id": ids["u-first"], "lead_key": "u-first", "email": "first@acme.example"},
        "merged_lead": {"id": ids["u-second"], "lead_key": "u-second", "email": "second@acme.example"},
        "merged_lead_id": ids["u-second"],
        **survivor_state(store, ids["u-first"]),
        "probability": None,
        "model_version": {"id": 1, "name": "Default B2B software model", "version": "1"},
    }
    assert payloads[0]["data"]["stage"] == "unqualified"


def test_merged_webhook_fills_survivor_email(store, rows, client, keys, merged_webhooks):
    survivor = rows.lead(lead_key="crm-17", email=None)
    merged = rows.lead(lead_key="u-web", email="web@acme.example")

    headers = {"Authorization": f"Bearer {keys.admin}"}
    response = client.post(f"/api/leads/{merged}/merge", json={"into": survivor}, headers=headers)

    assert response.status_code == 200, response.text
    data = merged_payloads(store)[0]["data"]
    assert data["lead"] == {"id": survivor, "lead_key": "crm-17", "email": "web@acme.example"}
    assert data["merged_lead"] == {"id": merged, "lead_key": "u-web", "email": "web@acme.example"}
    assert data["merged_lead_id"] == merged
    assert data["stage"] == response.json()["stage"]


def test_merged_webhook_carries_new_stage(store, rows):
    with store.write() as connection:
        activate_model(connection, MODEL, "merge.yaml")
    subscription = rows.subscription()
    with store.write() as connection:
        event_types = json.dumps(["lead.stage_changed", "lead.merged"])
        connection.execute(
            update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription).values(event_types=event_types)
        )
    survivor, merged = two_leads(store)
    ingest_messages(store, [demo("u-first", "demo-1"), demo("u-first", "demo-2"), demo("u-second", "demo-3")])

    merge_by_identify(store)

    data = merged_payloads(store)[0]["data"]
    # The survivor was mql with 20 engagement points; the merged lead's demo made it sql.
    assert data["stage"] == "sql"
    assert data["rule"] == "sql: engagement >= 30"
    assert data["grade"] == "D"
    assert data["scores"] == {"fit": 0.0, "engagement": 30.0, "product": 0.0, "total": 30.0}
    assert data["probability"] is None
    assert data["model_version"]["name"] == "merge test model"
    assert data == {**data, **survivor_state(store, survivor)}
    # The merge's stage change is written first, in the same transaction.
    with store.read() as connection:
        types = connection.execute(select(outbox.c.event_type).order_by(outbox.c.id)).scalars().all()
    assert types[-2:] == ["lead.stage_changed", "lead.merged"]
    assert stage_webhooks(store, survivor)[-1]["stage"] == "sql"


def test_chained_merges_leave_first_stage_null(store, merged_webhooks):
    for user, message_id in (("u-first", "i-1"), ("u-second", "i-2"), ("u-third", "i-3")):
        identify(store, user, message_id, email=f"{user}@acme.example")
    ids = lead_ids(store)
    chain = [
        Message("identify", "i-4", user_id="u-third", traits={"email": "u-second@acme.example"}),
        Message("identify", "i-5", user_id="u-second", traits={"email": "u-first@acme.example"}),
    ]

    ingest_messages(store, chain)

    first, second = (payload["data"] for payload in merged_payloads(store))
    assert (first["lead"]["id"], first["merged_lead_id"]) == (ids["u-second"], ids["u-third"])
    assert (second["lead"]["id"], second["merged_lead_id"]) == (ids["u-first"], ids["u-second"])
    for name in SURVIVOR_FIELDS:
        assert first[name] is None, name
    assert second["stage"] == "unqualified"
    assert second["scores"] == survivor_state(store, ids["u-first"])["scores"]


def test_erasure_redacts_sent_merged_webhook(store, merged_webhooks):
    identify(store, "u-first", "i-1", email="first@acme.example")
    identify(store, "u-second", "i-2", email="second@acme.example")
    identify(store, "u-second", "i-3", email="first@acme.example")
    with store.write() as connection:
        connection.execute(update(outbox).values(status="delivered"))
        record = erase_lead(connection, lead_ids(store)["u-first"], T0)

    assert record.webhooks_redacted == 1
    assert merged_payloads(store)[0]["data"] == {"erased": True}


def test_merge_through_identify_keeps_histories_apart(store):
    with store.write() as connection:
        activate_model(connection, MODEL, "merge.yaml")
    identify(store, "u-sql", "i-1", email="sql@acme.example")
    for index in range(3):
        ingest_messages(store, [demo("u-sql", f"demo-{index}")])
    identify(store, "u-later", "i-2")
    identify(store, "u-later", "i-3", email="sql@acme.example")
    ids = lead_ids(store)
    survivor, merged = ids["u-sql"], ids["u-later"]

    assert history(store, survivor) == [(None, "unqualified"), ("unqualified", "mql"), ("mql", "sql")]
    assert history(store, merged) == [(None, "unqualified")]
    with store.read() as connection:
        record = read_lead_detail(connection, merged)
        snapshot_leads = set(connection.execute(select(score_snapshots.c.lead_id)).scalars())
    assert record.id == survivor
    assert record.stage == "sql"
    assert record.merged_ids == [merged]
    assert [change.new_stage for change in record.stage_history] == ["sql", "mql", "unqualified"]
    assert {snapshot.stage for snapshot in record.score_history} == {"unqualified", "mql", "sql"}
    assert snapshot_leads == {survivor, merged}


def test_funnel_counts_merged_history_for_survivor(store, rows):
    survivor = rows.scored_lead(90, 0, 0, stage="unqualified", attributes=json.dumps({"source": "webinar"}))
    merged = rows.lead(merged_into=survivor)
    rows.stage_change(survivor, T0, None, "unqualified")
    rows.stage_change(merged, T0 + HOUR, None, "unqualified")
    rows.stage_change(merged, T0 + 2 * HOUR, "unqualified", "mql")

    with store.read() as connection:
        steps = {step.stage: step for step in funnel_steps(connection, ["unqualified", "mql", "sql"])}
        by_source, by_month = stage_entries(connection, ["unqualified", "mql", "sql"])
    assert steps["unqualified"].reached == 1
    assert steps["mql"].reached == 1
    assert steps["mql"].current == 0
    assert by_source.groups == ["webinar"]
    assert by_source.counts["webinar"] == {"unqualified": 2, "mql": 1}
    assert by_month.counts["2026-05"] == {"unqualified": 2, "mql": 1}


def two_leads(store) -> tuple[int, int]:
    """Identify two leads; return the id of the older, which survives a merge, and the newer."""
    identify(store, "u-first", "i-1", email="first@acme.example")
    identify(store, "u-second", "i-2", email="second@acme.example")
    ids = lead_ids(store)
    return ids["u-first"], ids["u-second"]


def merge_by_identify(store) -> None:
    """Give the newer lead of `two_leads` the older one's email, which merges them."""
    identify(store, "u-second", "i-3", email="first@acme.example")


def test_merge_reason_names_merged_leads():
    assert merge_reason([7]) == "merged lead 7"
    assert merge_reason([9, 7]) == "merged leads 7 and 9"
    assert merge_reason([12, 7, 9]) == "merged leads 7, 9 and 12"


def test_merge_api_moves_qualifications(store, rows, client, keys, qualified):
    survivor, merged = rows.lead(lead_key="crm-1"), rows.lead(lead_key="u-web")
    recorded = record_for_lead(store, merged, "bant", BANT_PASSED, "Sam Seller")
    assert recorded.stage == "sql"

    headers = {"Authorization": f"Bearer {keys.admin}"}
    response = client.post(f"/api/leads/{merged}/merge", json={"into": survivor}, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"lead_id": survivor, "stage": "sql", "previous_stage": None}
    assert qualification_leads(store, [survivor, merged]) == [[survivor], []]
    assert changes(store, survivor) == [(None, "sql", "merge", f"merged lead {merged}")]
    listed = client.get(f"/api/leads/{survivor}/qualifications", headers=headers).json()["items"]
    assert [item["id"] for item in listed] == [recorded.qualification.id]


def test_identify_merge_moves_qualifications(store, qualified):
    survivor, merged = two_leads(store)
    record_for_lead(store, merged, "bant", BANT_PASSED, "Sam Seller")

    merge_by_identify(store)

    assert qualification_leads(store, [survivor, merged]) == [[survivor], []]
    assert changes(store, survivor) == [
        (None, "unqualified", "event", None),
        ("unqualified", "sql", "merge", f"merged lead {merged}"),
    ]
    # The merged lead reached sql and fired its webhook, so the survivor does not fire again.
    assert stage_webhooks(store, survivor) == []


def test_identify_merge_webhook_names_merge(store, rows):
    with store.write() as connection:
        activate_model(connection, MODEL, "merge.yaml")
    rows.subscription()
    survivor, merged = two_leads(store)
    demos = [demo("u-first", "demo-1"), demo("u-first", "demo-2"), demo("u-second", "demo-3")]
    ingest_messages(store, demos)

    merge_by_identify(store)

    assert changes(store, survivor)[-1] == ("mql", "sql", "merge", f"merged lead {merged}")
    webhooks = stage_webhooks(store, survivor)
    assert [data["stage"] for data in webhooks] == ["mql", "sql"]
    assert webhooks[-1]["cause"] == "merge"
    assert webhooks[-1]["reason"] == f"merged lead {merged}"


def test_newer_merged_qualification_decides(store, qualified):
    survivor, merged = two_leads(store)
    record_for_lead(store, survivor, "bant", BANT_PASSED, "Sam Seller")
    later = record_for_lead(store, merged, "bant", BANT_FAILED, "Sam Seller")
    assert later.qualification.result == "failed"

    merge_by_identify(store)

    assert changes(store, survivor)[-1] == ("sql", "no_authority", "merge", f"merged lead {merged}")
    with store.read() as connection:
        stage = connection.execute(select(leads.c.stage).where(leads.c.id == survivor)).scalar_one()
    assert stage == "no_authority"


def test_older_merged_qualification_ignored(store, qualified):
    survivor, merged = two_leads(store)
    record_for_lead(store, merged, "bant", BANT_FAILED, "Sam Seller")
    record_for_lead(store, survivor, "bant", BANT_PASSED, "Sam Seller")

    merge_by_identify(store)

    assert qualification_leads(store, [survivor]) == [[survivor, survivor]]
    assert [change[:3] for change in changes(store, survivor)] == [
        (None, "unqualified", "event"),
        ("unqualified", "sql", "qualification"),
    ]


def test_batch_merges_name_every_merged_lead(store, qualified):
    for user, message_id in (("u-first", "i-1"), ("u-second", "i-2"), ("u-third", "i-3")):
        identify(store, user, message_id, email=f"{user}@acme.example")
    ids = lead_ids(store)
    record_for_lead(store, ids["u-third"], "bant", BANT_PASSED, "Sam Seller")
    merging = [
        Message("identify", "i-4", user_id="u-second", traits={"email": "u-first@acme.example"}),
        Message("identify", "i-5", user_id="u-third", traits={"email": "u-first@acme.example"}),
        Message("track", "t-1", user_id="u-first", event="ping"),
    ]

    ingest_messages(store, merging)

    reason = f"merged leads {ids['u-second']} and {ids['u-third']}"
    assert changes(store, ids["u-first"])[-1] == ("unqualified", "sql", "merge", reason)


def test_identify_merge_without_change_records_nothing(store, qualified):
    survivor, _ = two_leads(store)

    merge_by_identify(store)

    assert changes(store, survivor) == [(None, "unqualified", "event", None)]
