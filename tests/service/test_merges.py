"""Merges of two leads: the lead.merged webhook, stage history and the funnel."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, select, update

from leadq.dashboard.funnel import funnel_steps, stage_entries
from leadq.service.erasure import erase_lead
from leadq.service.identity import merge
from leadq.service.ingest import Message, ingest_messages
from leadq.service.lead_records import read_lead_detail
from leadq.service.model_versions import activate_model
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
    with store.read() as connection:
        payloads = connection.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "lead.merged").order_by(outbox.c.id)
        ).scalars()
        return [json.loads(payload) for payload in payloads]


def history(store, lead_id: int) -> list[tuple]:
    with store.read() as connection:
        rows = connection.execute(
            select(stage_history.c.old_stage, stage_history.c.new_stage)
            .where(stage_history.c.lead_id == lead_id)
            .order_by(stage_history.c.at, stage_history.c.id)
        )
        return [tuple(row) for row in rows]


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
    }


def test_merged_webhook_fills_survivor_email(store, rows, merged_webhooks):
    survivor = rows.lead(lead_key="crm-17", email=None)
    merged = rows.lead(lead_key="u-web", email="web@acme.example")
    with store.write() as connection:
        merge(connection, survivor, merged, T0)

    assert merged_payloads(store)[0]["data"] == {
        "lead": {"id": survivor, "lead_key": "crm-17", "email": "web@acme.example"},
        "merged_lead": {"id": merged, "lead_key": "u-web", "email": "web@acme.example"},
        "merged_lead_id": merged,
    }


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
