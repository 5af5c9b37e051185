"""Events with a time ahead of the clock count once that time has passed."""

from __future__ import annotations

from sqlalchemy import select

from leadq.service.identity import merge
from leadq.service.import_rows import EventRow
from leadq.service.imports import write_events
from leadq.service.ingest import Message, ingest_messages
from leadq.service.model_versions import activate_model, active_or_default_model
from leadq.service.schedule import RescoreWorker, rescore_due
from leadq.store.database import now_micros
from leadq.store.tables import leads, stage_history
from tests.service.conftest import HOUR
from tests.service.test_rescore_schedule import FIRST
from tests.service.webhook_receiver import wait_until


def demo(message_id: str, at: int, **fields) -> Message:
    return Message("track", message_id, event="demo_requested", timestamp=at, **fields)


def lead(store, lead_key: str):
    with store.read() as connection:
        columns = select(leads.c.id, leads.c.engagement, leads.c.stage, leads.c.rescore_at)
        return connection.execute(columns.where(leads.c.lead_key == lead_key)).one()


def activated(store):
    with store.write() as connection:
        activate_model(connection, FIRST, "first.yaml")
        return active_or_default_model(connection)


def test_future_event_counts_when_due(store):
    active = activated(store)
    now = now_micros()
    ingest_messages(store, [demo("f-1", now - HOUR, user_id="u-1"), demo("f-2", now + HOUR, user_id="u-1")])
    assert (lead(store, "u-1").engagement, lead(store, "u-1").rescore_at) == (10.0, now + HOUR)

    early = rescore_due(store, active, as_of=now + HOUR - 1)
    assert early.leads == 0

    due = rescore_due(store, active, as_of=now + HOUR)
    row = lead(store, "u-1")
    assert (due.leads, due.stage_changes) == (1, 1)
    assert (row.engagement, row.stage, row.rescore_at) == (20.0, "mql", None)
    with store.read() as connection:
        cause = connection.execute(
            select(stage_history.c.cause).where(stage_history.c.lead_id == row.id, stage_history.c.new_stage == "mql")
        ).scalar_one()
    assert cause == "schedule"


def test_next_future_event_noted_after_rescore(store):
    active = activated(store)
    now = now_micros()
    ingest_messages(store, [demo("f-3", now + 2 * HOUR, user_id="u-2"), demo("f-4", now + HOUR, user_id="u-2")])
    assert lead(store, "u-2").rescore_at == now + HOUR

    rescore_due(store, active, as_of=now + HOUR)

    assert (lead(store, "u-2").engagement, lead(store, "u-2").rescore_at) == (10.0, now + 2 * HOUR)


def test_event_in_the_past_notes_nothing(store):
    activated(store)
    ingest_messages(store, [demo("f-5", now_micros() - HOUR, user_id="u-3")])

    assert lead(store, "u-3").rescore_at is None


def test_claimed_visitor_event_noted(store):
    activated(store)
    now = now_micros()
    ingest_messages(store, [demo("f-6", now + HOUR, anonymous_id="anon-6")])
    ingest_messages(store, [Message("identify", "f-7", user_id="u-6", anonymous_id="anon-6")])

    assert lead(store, "u-6").rescore_at == now + HOUR


def test_merge_keeps_earliest_noted_time(store):
    activated(store)
    now = now_micros()
    ingest_messages(store, [demo("f-8", now + 2 * HOUR, user_id="u-7"), demo("f-9", now + HOUR, user_id="u-8")])
    survivor, merged = lead(store, "u-7").id, lead(store, "u-8").id
    with store.write() as connection:
        merge(connection, survivor, merged, now)

    assert lead(store, "u-7").rescore_at == now + HOUR
    assert lead(store, "u-8").rescore_at is None


def test_imported_future_event_noted(store):
    active = activated(store)
    now = now_micros()
    with store.write() as connection:
        write_events(connection, active, [EventRow("ann@acme.example", "f-10", "demo_requested", now + HOUR, {})], now)

    assert lead(store, "ann@acme.example").rescore_at == now + HOUR


def test_worker_counts_event_when_due(store):
    activated(store)
    ingest_messages(store, [demo("f-11", now_micros() + 1_000_000, user_id="u-9")])
    assert lead(store, "u-9").engagement == 0.0

    worker = RescoreWorker(store, every_seconds=3600, poll_seconds=0.1)
    try:
        wait_until(lambda: lead(store, "u-9").engagement == 10.0, 30, "the event to count")
    finally:
        worker.stop()
    assert lead(store, "u-9").rescore_at is None
