"""The stage rule that a lead's record shows while a sticky stage keeps the lead."""

from __future__ import annotations

from sqlalchemy import func, select

from leadq.qualification.records import record_for_lead
from leadq.service.schedule import rescore_all
from leadq.store.tables import stage_history

BANT_PASSED = {"budget": "confirmed", "authority": "decision_maker", "need": 3, "timeline": "next_quarter"}
BANT_FAILED = {"budget": "confirmed", "authority": "no_role", "need": 3, "timeline": "next_quarter"}
BANT_RULE = "sql: bant passed in 90 days"


def history_count(store, lead_id: int) -> int:
    with store.read() as connection:
        query = select(func.count()).select_from(stage_history).where(stage_history.c.lead_id == lead_id)
        return connection.execute(query).scalar_one()


def test_failed_bant_makes_rule_sticky(rows, store):
    lead_id = rows.lead()
    record_for_lead(store, lead_id, "bant", BANT_PASSED, "Sam Seller")
    assert rows.record(lead_id)["stage_rule"] == BANT_RULE

    failed = record_for_lead(store, lead_id, "bant", BANT_FAILED, "Sam Seller")

    assert failed.qualification.result == "failed"
    assert failed.stage == "sql"
    assert rows.record(lead_id)["stage"] == "sql"
    assert rows.record(lead_id)["stage_rule"] == "sticky"
    # The stage did not change, so no stage history row was added.
    assert history_count(store, lead_id) == 1


def test_rescore_keeps_sticky_rule(rows, store):
    lead_id = rows.lead()
    record_for_lead(store, lead_id, "bant", BANT_PASSED, "Sam Seller")
    record_for_lead(store, lead_id, "bant", BANT_FAILED, "Sam Seller")

    report = rescore_all(store)

    assert report.failed == {}
    assert rows.record(lead_id)["stage_rule"] == "sticky"


def test_rule_returns_when_it_holds_again(rows, store):
    lead_id = rows.lead()
    record_for_lead(store, lead_id, "bant", BANT_PASSED, "Sam Seller")
    record_for_lead(store, lead_id, "bant", BANT_FAILED, "Sam Seller")

    record_for_lead(store, lead_id, "bant", BANT_PASSED, "Sam Seller")

    assert rows.record(lead_id)["stage_rule"] == BANT_RULE
    assert history_count(store, lead_id) == 1


def test_stale_stored_rule_becomes_sticky(rows, store):
    lead_id = rows.lead(stage="sql", stage_rule=BANT_RULE, reached='["sql"]')

    rescore_all(store)

    assert rows.record(lead_id)["stage"] == "sql"
    assert rows.record(lead_id)["stage_rule"] == "sticky"


def test_held_manual_stage_keeps_manual_rule(rows, store):
    lead_id = rows.lead(stage="sql", stage_rule="manual", reached='["sql"]')

    rescore_all(store)

    assert rows.record(lead_id)["stage"] == "sql"
    assert rows.record(lead_id)["stage_rule"] == "manual"
