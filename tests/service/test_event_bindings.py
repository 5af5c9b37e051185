"""Stored event bindings: a rescore copies bound events in SQL and scores as
binding them in Python does; erasure deletes the bindings with the events."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, insert, inspect, select

from leadq.engines import PIPELINED_ROWS, run_on_connection
from leadq.service.erasure import erase_lead
from leadq.service.event_bindings import binding_table, has_binding_table
from leadq.service.ingest import Message, ingest_messages, ingest_requests
from leadq.service.lead_tables import read_stored_leads
from leadq.service.model_versions import activate_model, active_model
from leadq.service.rescoring import _scored, rescore
from leadq.service.schedule import rescore_all
from leadq.store.tables import BINDING_TABLE_PREFIX, events, leads

# Every kind of bound column: a property as folded text, as a number and
# through a regular expression, and calendar days and weeks.
MODEL = """
name: bindings test model
version: 1
key: email
timezone: Europe/Berlin
engagement:
  rules:
    - {id: pricing, event: page_viewed, where: {url: {contains: /pricing}}, points: 5}
    - {id: big_download, event: content_downloaded, where: {size: {at_least: 10}}, points: 7}
    - {id: case_study, event: page_viewed, where: {url: {regex: "^/case-stud(y|ies)"}}, points: 3}
    - {id: daily_login, event: logged_in, points: 2, unique_by: day}
    - {id: weekly_open, event: email_opened, points: 1, unique_by: week}
stages:
  - {id: mql, when: {score: engagement, at_least: 10}}
  - {id: unqualified}
"""
# The same rules with one more property: its bindings need another table.
WIDER = MODEL.replace("version: 1", "version: 2").replace(
    "    - {id: daily_login",
    "    - {id: webinar, event: webinar_attended, where: {topic: {equals: pricing}}, points: 4}\n    - {id: daily_login",
)

HOUR = 3_600_000_000
START = 1_767_225_600_000_000  # 2026-01-01 00:00 UTC


def _messages(user: str) -> list[Message]:
    def track(n: int, event: str, **properties) -> Message:
        return Message(
            "track", f"{user}-{n}", user_id=user, event=event, properties=properties, timestamp=START + n * 7 * HOUR
        )

    return [
        track(1, "page_viewed", url=" /Pricing/plans "),
        track(2, "page_viewed", url="/case-studies/acme"),
        track(3, "content_downloaded", size=12),
        track(4, "content_downloaded", size="9"),
        track(5, "content_downloaded", size="not a number"),
        track(6, "logged_in"),
        track(7, "logged_in"),
        track(8, "logged_in"),
        track(9, "email_opened"),
        track(30, "email_opened"),
        track(31, "webinar_attended", topic="Pricing"),
    ]


def _lead_ids(store) -> list[int]:
    with store.read() as connection:
        return list(connection.execute(select(leads.c.id).order_by(leads.c.id)).scalars())


def _scored_both_ways(store, active) -> tuple[list[dict], list[dict]]:
    """Score all leads from the stored bindings and from events bound in Python."""
    lead_ids = _lead_ids(store)
    now = START + 1000 * HOUR
    with store.write() as connection:
        in_store, _ = _scored(connection, active, lead_ids, now)
        stored = read_stored_leads(connection, active.compiled, lead_ids, now)
        in_python = run_on_connection(connection, active.compiled, stored.tables, now)
    return in_store.sort_by("lead_key").to_pylist(), in_python.sort_by("lead_key").to_pylist()


def test_bindings_score_as_python_binding(store):
    with store.write() as connection:
        active = activate_model(connection, MODEL, "bindings.yaml")
    ingest_messages(store, _messages("u1@example.com") + _messages("u2@example.com"))

    in_store, in_python = _scored_both_ways(store, active)

    assert in_store == in_python
    # Logins fall on two days in Berlin, and the opens in two weeks.
    assert [row["engagement_score"] for row in in_store] == [5 + 7 + 3 + 2 * 2 + 1 * 2] * 2


def test_wider_model_binds_into_its_own_table(store):
    with store.write() as connection:
        first = activate_model(connection, MODEL, "bindings.yaml")
    ingest_messages(store, _messages("u1@example.com"))
    with store.write() as connection:
        wider = activate_model(connection, WIDER, "wider.yaml")

    in_store, in_python = _scored_both_ways(store, wider)

    assert in_store == in_python
    assert binding_table(wider.compiled).name != binding_table(first.compiled).name
    assert in_store[0]["engagement_score"] == 5 + 7 + 3 + 2 * 2 + 1 * 2 + 4


def test_erasure_deletes_the_bindings(store):
    with store.write() as connection:
        active = activate_model(connection, MODEL, "bindings.yaml")
    ingest_messages(store, _messages("u1@example.com") + _messages("u2@example.com"))
    bindings = binding_table(active.compiled)
    first, second = _lead_ids(store)

    with store.write() as connection:
        erase_lead(connection, first, START)
    with store.read() as connection:
        bound = connection.execute(select(func.count()).select_from(bindings)).scalar_one()
        left = connection.execute(select(func.count()).select_from(events)).scalar_one()
        kept_ids = set(connection.execute(select(bindings.c.stored_id)).scalars())
        event_ids = set(connection.execute(select(events.c.id).where(events.c.lead_id == second)).scalars())

    assert bound == left == len(_messages("u2@example.com"))
    assert kept_ids == event_ids


def test_rescore_without_table_binds_in_python(store):
    with store.write() as connection:
        active = activate_model(connection, MODEL, "bindings.yaml")
    ingest_messages(store, _messages("u1@example.com"))
    bindings = binding_table(active.compiled)
    with store.write() as connection:
        bindings.drop(connection)
    # A connection remembers the tables it found. New connections act for a
    # store whose binding table the service never created.
    store.engine.dispose()
    lead_id = _lead_ids(store)[0]

    with store.write() as connection:
        result, _ = _scored(connection, active, [lead_id], START + 1000 * HOUR)
        created = has_binding_table(connection, active.compiled)

    assert result["engagement_score"].to_pylist() == [5 + 7 + 3 + 2 * 2 + 1 * 2]
    assert created is False


def test_concurrent_rescores_after_activation(store):
    """Two transactions that stored events rescore at once under a new layout."""
    with store.write() as connection:
        activate_model(connection, MODEL, "bindings.yaml")
    ingest_messages(store, _messages("u1@example.com") + _messages("u2@example.com"))
    with store.write() as connection:
        wider = activate_model(connection, WIDER, "wider.yaml")
    lead_ids = _lead_ids(store)
    barrier = threading.Barrier(2)
    failures = []

    def store_and_rescore(lead_id: int) -> None:
        try:
            with store.write() as connection:
                connection.execute(insert(events).values(
                    message_id=f"late-{lead_id}", lead_id=lead_id, event_name="page_viewed",
                    ts=START, received_at=START, properties="{}", source="api",
                ))  # fmt: skip
                # SQLite admits one writer at a time, so the two overlap only on PostgreSQL.
                if store.engine.dialect.name == "postgresql":
                    barrier.wait(timeout=10)
                rescore(connection, wider, [lead_id], START + 1000 * HOUR, "event")
        except Exception as error:  # noqa: BLE001 - the test reports every failure
            failures.append(repr(error))

    threads = [threading.Thread(target=store_and_rescore, args=(lead_id,)) for lead_id in lead_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []


# SQLite lets a test lower its limit on statement parameters; PostgreSQL's is fixed.
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_binding_many_events_needs_no_parameter_per_event(store):
    with store.write() as connection:
        activate_model(connection, MODEL, "bindings.yaml")
    logins = [
        Message("track", f"login-{n}", user_id="u1@example.com", event="logged_in", timestamp=START + n * HOUR)
        for n in range(300)
    ]
    ingest_messages(store, logins)
    with store.write() as connection:
        wider = activate_model(connection, WIDER, "wider.yaml")
    lead_id = _lead_ids(store)[0]

    with store.write() as connection:
        raw = connection.connection.driver_connection
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 50)
        try:
            result, _ = _scored(connection, wider, [lead_id], START + 1000 * HOUR)
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)

    # 300 hourly logins fall on 13 days in Berlin.
    assert result["engagement_score"].to_pylist() == [2 * 13]


def _count(store, table) -> int:
    with store.read() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_events_are_bound_when_stored(store):
    """A visitor's events belong to no lead, so no rescore reads them, yet they are bound."""
    with store.write() as connection:
        active = activate_model(connection, MODEL, "bindings.yaml")
    visits = [
        Message("page", f"visit-{n}", anonymous_id="visitor-1", properties={"url": "/pricing"}, timestamp=START + n)
        for n in range(3)
    ]
    ingest_messages(store, visits)

    assert _count(store, binding_table(active.compiled)) == _count(store, events) == 3


def test_rolled_back_table_is_not_known(store):
    # A layout of its own, whose table no other test creates.
    probe = MODEL.replace("version: 1", "version: 3").replace(
        "    - {id: daily_login",
        "    - {id: probe, event: page_viewed, where: {rollback_probe: {equals: x}}, points: 1}\n    - {id: daily_login",
    )
    with store.write() as connection:
        activate_model(connection, MODEL, "bindings.yaml")
    with pytest.raises(RuntimeError):
        with store.write() as connection:
            rolled_back = activate_model(connection, probe, "probe.yaml")
            assert has_binding_table(connection, rolled_back.compiled)
            raise RuntimeError("roll back")

    with store.write() as connection:
        known = has_binding_table(connection, rolled_back.compiled)

    assert known is False


def test_each_run_reads_only_its_own_leads(store):
    """The engine's scratch tables are emptied between runs of one transaction and at commit."""
    with store.write() as connection:
        active = activate_model(connection, MODEL, "bindings.yaml")
    ingest_messages(store, _messages("u1@example.com") + _messages("u2@example.com"))
    first, second = _lead_ids(store)
    now = START + 1000 * HOUR

    with store.engine.connect() as connection:
        with connection.begin():
            first_result, _ = _scored(connection, active, [first], now)
            second_result, _ = _scored(connection, active, [second], now)
        with connection.begin():
            left = [
                connection.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar_one()
                for name in _scratch_names(connection)
            ]

    assert first_result["lead_key"].to_pylist() == [str(first)]
    assert second_result["lead_key"].to_pylist() == [str(second)]
    assert left and set(left) == {0}


def _scratch_names(connection) -> list[str]:
    if connection.dialect.name == "postgresql":
        query = "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'"
    else:
        query = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
    return [name for name in connection.exec_driver_sql(query).scalars() if name.startswith("scoring_")]


def test_rescore_of_many_leads_copies_and_binds(store):
    """More leads than go into a pipeline, first bound at ingest, then unbound under a new layout."""
    with store.write() as connection:
        activate_model(connection, MODEL, "bindings.yaml")
    count = PIPELINED_ROWS + 200

    def pricing_views(round_: int) -> list[Message]:
        return [
            Message("track", f"view-{round_}-{n}", user_id=f"u{n}@example.com", event="page_viewed",
                    properties={"url": "/pricing"}, timestamp=START + round_ * HOUR)
            for n in range(count)
        ]  # fmt: skip

    ingest_messages(store, pricing_views(1))
    with store.write() as connection:
        activate_model(connection, WIDER, "wider.yaml")
    ingest_messages(store, pricing_views(2))

    with store.read() as connection:
        scores = connection.execute(select(leads.c.engagement)).scalars().all()
    assert len(scores) == count
    assert set(scores) == {10}


def _binding_tables(store) -> set[str]:
    with store.engine.connect() as connection:
        names = inspect(connection).get_table_names()
    return {name for name in names if name.startswith(BINDING_TABLE_PREFIX)}


def _activate(store, text: str):
    with store.write() as connection:
        return activate_model(connection, text, "model.yaml")


def test_activation_drops_unused_binding_table(store):
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com"))

    wider = _activate(store, WIDER)
    after_wider = _binding_tables(store)
    wider_scores, wider_in_python = _scored_both_ways(store, wider)
    # The first model again: its table is created anew and its events bound again.
    again = _activate(store, MODEL)
    after_again = _binding_tables(store)
    report = rescore_all(store)
    again_scores, again_in_python = _scored_both_ways(store, again)

    assert after_wider == {binding_table(wider.compiled).name}
    assert wider_scores == wider_in_python
    assert again.id == first.id
    assert after_again == {binding_table(first.compiled).name}
    assert (report.leads, report.failed) == (1, {})
    assert again_scores == again_in_python
    assert again_scores[0]["engagement_score"] == 5 + 7 + 3 + 2 * 2 + 1 * 2
    assert _count(store, binding_table(first.compiled)) == _count(store, events)


def test_activation_keeps_shared_binding_table(store):
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com"))

    # Other points and stages keep the layout, so the bindings stay.
    second = _activate(store, MODEL.replace("version: 1", "version: 2").replace("points: 5", "points: 6"))

    assert binding_table(second.compiled).name == binding_table(first.compiled).name
    assert _binding_tables(store) == {binding_table(first.compiled).name}
    assert _count(store, binding_table(first.compiled)) == _count(store, events) == len(_messages("u1"))


def test_rescore_run_follows_new_activation(store):
    """A run that read the first version goes on with the one activated since, whose table exists."""
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com") + _messages("u2@example.com"))
    wider = _activate(store, WIDER)

    report = rescore_all(store, active=first)
    with store.read() as connection:
        versions = connection.execute(select(leads.c.model_version_id, leads.c.total)).all()

    assert (report.leads, report.failed) == (2, {})
    assert sorted(versions) == [(wider.id, 5 + 7 + 3 + 2 * 2 + 1 * 2 + 4)] * 2


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_tracking_retries_after_table_dropped(store):
    """A group that read the active version just before an activation dropped its table is written again."""
    first = _activate(store, MODEL)
    versions_seen = []

    def activate_during_first_attempt(connection, active) -> list:
        versions_seen.append(active.id)
        if len(versions_seen) == 1:
            # This transaction has found the table. Another one activates
            # WIDER, which drops it, and commits before this one goes on.
            assert has_binding_table(connection, active.compiled)
            other = threading.Thread(target=_activate, args=(store, WIDER))
            other.start()
            other.join(timeout=30)
        return [None]

    [result] = ingest_requests(store, [_messages("u1@example.com")], activate_during_first_attempt)
    with store.read() as connection:
        wider = active_model(connection)
        version_id = connection.execute(select(leads.c.model_version_id)).scalar_one()

    assert versions_seen == [first.id, wider.id]
    assert result.stored == len(_messages("u1"))
    assert version_id == wider.id
    assert _binding_tables(store) == {binding_table(wider.compiled).name}
    assert _count(store, binding_table(wider.compiled)) == _count(store, events)


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_busy_binding_table_dropped_later(store):
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com"))
    first_table = binding_table(first.compiled)

    with store.engine.connect() as reader:
        # An open transaction that read the table holds a lock that the drop must wait for.
        reader.execute(select(func.count()).select_from(first_table))
        started = time.monotonic()
        wider = _activate(store, WIDER)
        waited = time.monotonic() - started
        while_busy = _binding_tables(store)
        reader.rollback()
    _activate(store, WIDER)

    assert waited < 10
    assert while_busy == {first_table.name, binding_table(wider.compiled).name}
    assert _binding_tables(store) == {binding_table(wider.compiled).name}
