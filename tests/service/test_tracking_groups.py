"""Tracking requests written together in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from leadq.service.errors import ApiError
from leadq.service.ingest import Message, ingest_requests
from leadq.service.model_versions import activate_model
from leadq.service.tracking_writer import TrackingRequest, TrackingWriter
from leadq.store.tables import events, leads


def ping(user: str, message_id: str) -> Message:
    return Message("track", message_id, user_id=user, event="demo_requested")


def count_events(store, *where) -> int:
    with store.read() as connection:
        return connection.execute(select(func.count()).select_from(events).where(*where)).scalar_one()


def test_screened_request_stores_nothing(store):
    requests = [[ping("u1", "a-1")], [ping("u2", "b-1"), ping("u2", "b-2")], [ping("u3", "c-1")]]
    rejected = ApiError(400, "invalid_value", "rejected by the screen")
    outcomes = ingest_requests(store, requests, lambda connection, active: [None, rejected, None])
    assert outcomes[1] is rejected
    assert (outcomes[0].stored, outcomes[2].stored) == (1, 1)
    assert count_events(store) == 2
    assert count_events(store, events.c.message_id.like("b-%")) == 0


def test_repeat_across_requests_counts_once(store):
    requests = [[ping("u1", "same")], [ping("u1", "same"), ping("u1", "other")]]
    first, second = ingest_requests(store, requests)
    assert (first.stored, first.repeated) == (1, 0)
    assert (second.stored, second.repeated) == (1, 1)
    assert count_events(store) == 2


def test_leads_merged_mid_group_keep_every_event(store):
    requests = [
        [Message("identify", "i-1", user_id="u-a", traits={"email": "same@example.com"})],
        [ping("u-b", "b-1")],
        [Message("identify", "i-2", user_id="u-b", traits={"email": "same@example.com"})],
        [ping("u-b", "b-2")],
    ]
    ingest_requests(store, requests)
    with store.read() as connection:
        rows = {row.lead_key: row for row in connection.execute(select(leads))}
    survivor = rows["u-a"]
    assert rows["u-b"].merged_into == survivor.id
    assert count_events(store, events.c.lead_id == survivor.id) == 2
    assert survivor.engagement > 0


def write_demo_requests(store, count: int, users: int) -> list:
    """Send `count` one-event requests for `users` leads through a TrackingWriter at once."""
    writer = TrackingWriter(store, lambda connection, active, requests: [None] * len(requests))

    async def send_all():
        sends = [
            writer.write(TrackingRequest([ping(f"u{index % users}", f"w-{index}")], [""], "unused"))
            for index in range(count)
        ]
        return await asyncio.gather(*sends)

    try:
        return asyncio.run(send_all())
    finally:
        writer.stop()


def test_writer_answers_each_request(store):
    results = write_demo_requests(store, 30, users=3)

    assert [result.stored for result in results] == [1] * 30
    assert count_events(store) == 30


DEMO_MODEL = """
name: demo count
version: 1
key: email
engagement:
  max: 1000
  rules:
    - {id: demo, event: demo_requested, points: 1}
stages:
  - {id: mql, when: {score: engagement, at_least: 10}}
  - {id: unqualified}
"""


def test_concurrent_groups_count_every_event(store):
    """Groups for the same two leads, one after another, count every event once."""
    with store.write() as connection:
        activate_model(connection, DEMO_MODEL, "demo.yaml")

    write_demo_requests(store, 80, users=2)

    with store.read() as connection:
        scores = connection.execute(select(leads.c.engagement).order_by(leads.c.id)).scalars().all()
    assert scores == [40, 40]


def lead_keys(store) -> list[str]:
    with store.read() as connection:
        return sorted(connection.execute(select(leads.c.lead_key)).scalars())


def test_repeated_message_for_another_user_changes_no_lead(store):
    ingest_requests(store, [[ping("u-first", "reused-1")]])

    [repeat] = ingest_requests(store, [[ping("u-second", "reused-1")]])

    assert (repeat.stored, repeat.repeated) == (0, 1)
    assert lead_keys(store) == ["u-first"]


def test_repeat_within_a_group_changes_no_lead(store):
    [first, repeat] = ingest_requests(store, [[ping("u-first", "reused-2")], [ping("u-second", "reused-2")]])

    assert (first.stored, first.repeated) == (1, 0)
    assert (repeat.stored, repeat.repeated) == (0, 1)
    assert lead_keys(store) == ["u-first"]


def test_repeated_message_with_an_email_merges_nothing(store):
    ingest_requests(store, [[ping("u-a", "first-a")], [ping("u-b", "first-b")]])
    with_email = Message(
        "track", "first-b", user_id="u-a", event="demo_requested", traits={"email": "b@example.com"}
    )
    ingest_requests(store, [[Message("identify", "i-b", user_id="u-b", traits={"email": "b@example.com"})]])

    [repeat] = ingest_requests(store, [[with_email]])

    assert repeat.repeated == 1
    with store.read() as connection:
        merged = connection.execute(select(func.count()).select_from(leads).where(leads.c.merged_into.is_not(None)))
        assert merged.scalar_one() == 0
