"""Stored event bindings: a rescore copies bound events in SQL and scores as
binding them in Python does; erasure deletes the bindings with the events."""

from __future__ import annotations

from sqlalchemy import func, select

from leadq.engines import run_on_connection
from leadq.service.erasure import erase_lead
from leadq.service.event_bindings import binding_table
from leadq.service.ingest import Message, ingest_messages
from leadq.service.lead_tables import read_stored_leads
from leadq.service.model_versions import activate_model
from leadq.service.rescoring import _scored
from leadq.store.tables import events, leads

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
