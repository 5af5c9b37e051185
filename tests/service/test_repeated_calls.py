"""Identify and group calls whose message id was applied before change nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from leadq.service.erasure import erase_lead
from leadq.service.ingest import Message, ingest_messages, ingest_requests
from leadq.store.tables import applied_calls, leads
from tests.service.conftest import T0
from tests.service.test_visitor_groups import group, group_of
from tests.service.test_visitor_traits import attributes, identify, lead_row, send, waiting_traits


def count_leads(store) -> int:
    with store.read() as connection:
        return connection.execute(select(func.count()).select_from(leads)).scalar_one()


def test_retried_identify_keeps_newer_value(store):
    send(store, identify("r-1", user_id="u-1", traits={"title": "CEO"}))
    send(store, identify("r-2", user_id="u-1", traits={"title": "CTO"}))
    send(store, identify("r-1", user_id="u-1", traits={"title": "CEO"}))

    assert attributes(store, "u-1") == {"title": "CTO"}


def test_identify_repeated_in_batch(store):
    ingest_messages(
        store,
        [
            identify("r-1", user_id="u-2", traits={"title": "CEO"}),
            identify("r-2", user_id="u-2", traits={"title": "CTO"}),
            identify("r-1", user_id="u-2", traits={"title": "CEO"}),
        ],
    )

    assert attributes(store, "u-2") == {"title": "CTO"}


def test_identify_repeated_in_group(store):
    retried = [identify("r-1", user_id="u-3", traits={"title": "CEO"})]
    newer = [identify("r-2", user_id="u-3", traits={"title": "CTO"})]
    ingest_requests(store, [retried, newer, retried])

    assert attributes(store, "u-3") == {"title": "CTO"}


def test_retried_visitor_identify_after_link(store):
    send(store, identify("v-1", anonymous_id="anon-4", traits={"title": "CEO"}))
    send(store, identify("v-2", user_id="u-4", anonymous_id="anon-4"))
    send(store, identify("v-3", user_id="u-4", traits={"title": "CTO"}))
    send(store, identify("v-1", anonymous_id="anon-4", traits={"title": "CEO"}))

    assert attributes(store, "u-4") == {"title": "CTO"}
    assert waiting_traits(store, "anon-4") == 0


def test_retried_identify_creates_no_erased_lead(store):
    send(store, identify("e-1", user_id="u-5", traits={"email": "erased@acme.example"}))
    with store.write() as connection:
        erase_lead(connection, lead_row(store, "u-5").id, T0)
    send(store, identify("e-1", user_id="u-5", traits={"email": "erased@acme.example"}))

    assert count_leads(store) == 0


def test_retried_group_keeps_newer_account(store):
    send(store, group("g-1", "acme", user_id="u-6"))
    send(store, group("g-2", "globex", user_id="u-6"))
    send(store, group("g-1", "acme", user_id="u-6"))

    assert group_of(store, "u-6") == "globex"


def test_calls_share_message_ids(store):
    send(store, identify("s-1", user_id="u-7", traits={"title": "CEO"}))
    send(store, group("s-1", "acme", user_id="u-7"))

    assert group_of(store, "u-7") is None
    with store.read() as connection:
        assert connection.execute(select(applied_calls.c.message_id)).scalars().all() == ["s-1"]


def test_event_and_call_share_id(store):
    """Events keep their message ids apart from calls, so neither hides the other."""
    event = Message("track", "s-2", user_id="u-8", event="demo_requested", timestamp=T0)
    result = ingest_messages(store, [event, identify("s-2", user_id="u-8", traits={"title": "CEO"})])

    assert (result.stored, result.repeated) == (1, 0)
    assert attributes(store, "u-8") == {"title": "CEO"}
