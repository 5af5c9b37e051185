"""Identify traits by event time, and the traits of anonymous visitors."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from leadq.service.erasure import erase_lead
from leadq.service.identity import merge
from leadq.service.import_rows import LeadRow
from leadq.service.imports import write_leads
from leadq.service.ingest import Message, ingest_messages, ingest_requests
from leadq.service.model_versions import active_or_default_model
from leadq.store.database import now_micros
from leadq.store.tables import leads, visitor_traits
from tests.service.conftest import HOUR, T0


def identify(message_id: str, *, at: int | None = None, **fields) -> Message:
    traits = fields.pop("traits", {})
    return Message("identify", message_id, timestamp=at, traits=traits, **fields)


def send(store, *messages: Message) -> None:
    ingest_messages(store, list(messages))


def lead_row(store, lead_key: str):
    with store.read() as connection:
        return connection.execute(select(leads).where(leads.c.lead_key == lead_key)).one()


def attributes(store, lead_key: str) -> dict:
    return json.loads(lead_row(store, lead_key).attributes)


def attribute_times(store, lead_key: str) -> dict:
    return json.loads(lead_row(store, lead_key).attribute_times or "{}")


def waiting_traits(store, anonymous_id: str) -> int:
    with store.read() as connection:
        query = select(func.count()).select_from(visitor_traits).where(visitor_traits.c.anonymous_id == anonymous_id)
        return connection.execute(query).scalar_one()


def test_visitor_traits_reach_lead(store):
    send(store, identify("an10", anonymous_id="anon-10", traits={"title": "CEO"}))
    assert waiting_traits(store, "anon-10") == 1
    with store.read() as connection:
        assert connection.execute(select(func.count()).select_from(leads)).scalar_one() == 0

    send(store, identify("an10b", anonymous_id="anon-10", traits={"email": "anon10@acme.example"}))

    row = lead_row(store, "anon10@acme.example")
    assert json.loads(row.attributes) == {"title": "CEO", "email": "anon10@acme.example"}
    assert row.email == "anon10@acme.example"
    assert "title_decision_maker" in {reason["rule"] for reason in json.loads(row.reasons)}
    assert row.fit > 0
    assert waiting_traits(store, "anon-10") == 0


def test_later_visitor_trait_wins(store):
    # Sent out of order: the trait of the later event time arrives first.
    send(store, identify("v-2", anonymous_id="anon-11", at=T0 + HOUR, traits={"title": "CTO", "plan": "team"}))
    send(store, identify("v-1", anonymous_id="anon-11", at=T0, traits={"title": "CEO", "seats": 5}))
    send(store, identify("v-3", user_id="u-11", anonymous_id="anon-11"))

    assert attributes(store, "u-11") == {"title": "CTO", "plan": "team", "seats": 5}
    assert attribute_times(store, "u-11") == {"title": T0 + HOUR, "plan": T0 + HOUR, "seats": T0}


def test_newer_lead_trait_kept(store):
    send(store, identify("l-1", user_id="u-12", at=T0 + 2 * HOUR, traits={"title": "VP"}))
    send(store, identify("v-1", anonymous_id="anon-12", at=T0 + HOUR, traits={"title": "CEO", "plan": "team"}))
    send(store, Message("track", "t-1", user_id="u-12", anonymous_id="anon-12", event="ping"))

    assert attributes(store, "u-12") == {"title": "VP", "plan": "team"}
    assert attribute_times(store, "u-12") == {"title": T0 + 2 * HOUR, "plan": T0 + HOUR}
    assert waiting_traits(store, "anon-12") == 0


def test_newer_visitor_trait_replaces_lead_trait(store):
    send(store, identify("l-1", user_id="u-13", at=T0, traits={"title": "VP"}))
    send(store, identify("v-1", anonymous_id="anon-13", at=T0 + HOUR, traits={"title": "CEO"}))
    send(store, identify("l-2", user_id="u-13", anonymous_id="anon-13", at=T0 + 2 * HOUR))

    assert attributes(store, "u-13") == {"title": "CEO"}


def test_visitor_trait_replaces_untimed_attribute(store, rows):
    rows.lead(lead_key="u-14", attributes=json.dumps({"title": "VP"}))
    send(store, identify("v-1", anonymous_id="anon-14", at=T0, traits={"title": "CEO"}))
    send(store, identify("l-1", user_id="u-14", anonymous_id="anon-14"))

    assert attributes(store, "u-14") == {"title": "CEO"}


def test_visitor_and_link_in_one_batch(store):
    visitor = identify("v-1", anonymous_id="anon-15", at=T0, traits={"title": "CEO"})
    link = identify("l-1", user_id="u-15", anonymous_id="anon-15", at=T0 + HOUR)
    send(store, visitor, link)

    assert attributes(store, "u-15") == {"title": "CEO"}
    assert waiting_traits(store, "anon-15") == 0


def test_visitor_and_link_in_one_group(store):
    requests = [
        [identify("l-1", user_id="u-16", anonymous_id="anon-16", at=T0 + HOUR)],
        [identify("v-1", anonymous_id="anon-16", at=T0, traits={"title": "CEO"})],
    ]
    ingest_requests(store, requests)

    assert attributes(store, "u-16") == {"title": "CEO"}
    assert waiting_traits(store, "anon-16") == 0


def test_linked_visitor_identify_goes_to_lead(store):
    send(store, identify("l-1", user_id="u-17", anonymous_id="anon-17", at=T0))
    send(store, identify("v-1", anonymous_id="anon-17", at=T0 + HOUR, traits={"title": "CEO"}))

    assert attributes(store, "u-17") == {"title": "CEO"}
    assert waiting_traits(store, "anon-17") == 0


def test_later_message_takes_left_traits(store):
    send(store, identify("l-1", user_id="u-26", anonymous_id="anon-26", at=T0))
    # As a visitor's identify that commits after the link took its traits leaves them.
    with store.write() as connection:
        connection.execute(
            visitor_traits.insert().values(
                message_id="v-1", anonymous_id="anon-26", traits='{"title": "CEO"}', ts=T0 + HOUR, received_at=T0
            )
        )
    send(store, Message("page", "p-1", anonymous_id="anon-26"))

    assert attributes(store, "u-26") == {"title": "CEO"}
    assert waiting_traits(store, "anon-26") == 0


def test_older_identify_keeps_newer_value(store):
    send(store, identify("l-2", user_id="u-18", at=T0 + HOUR, traits={"title": "CTO"}))
    send(store, identify("l-1", user_id="u-18", at=T0, traits={"title": "CEO", "plan": "team"}))
    assert attributes(store, "u-18") == {"title": "CTO", "plan": "team"}

    send(store, identify("l-3", user_id="u-18", at=T0 + HOUR, traits={"title": "COO"}))
    assert attributes(store, "u-18") == {"title": "COO", "plan": "team"}


def test_older_email_trait_keeps_lead_email(store):
    send(store, identify("l-2", user_id="u-19", at=T0 + HOUR, traits={"email": "new@acme.example"}))
    send(store, identify("l-1", user_id="u-19", at=T0, traits={"email": "old@acme.example"}))

    row = lead_row(store, "u-19")
    assert row.email == "new@acme.example"
    assert json.loads(row.attributes) == {"email": "new@acme.example"}


def test_repeated_visitor_message_stored_once(store):
    for _ in range(2):
        send(store, identify("v-1", anonymous_id="anon-20", at=T0, traits={"title": "CEO"}))

    assert waiting_traits(store, "anon-20") == 1


def test_visitor_without_traits_stores_nothing(store):
    send(store, identify("v-1", anonymous_id="anon-21", at=T0))

    assert waiting_traits(store, "anon-21") == 0


def test_imported_attribute_beats_older_visitor_trait(store):
    send(store, identify("v-1", anonymous_id="anon-22", at=T0, traits={"title": "CEO", "plan": "team"}))
    with store.write() as connection:
        active = active_or_default_model(connection)
        write_leads(connection, active, [LeadRow("ann@acme.example", None, {"title": "Engineer"})], now_micros())
    send(store, identify("l-1", anonymous_id="anon-22", traits={"email": "ann@acme.example"}))

    assert attributes(store, "ann@acme.example") == {"title": "Engineer", "plan": "team", "email": "ann@acme.example"}


def test_merge_keeps_times_of_kept_values(store):
    send(store, identify("a-1", user_id="u-23", at=T0 + HOUR, traits={"title": "VP"}))
    send(store, identify("b-1", user_id="u-24", at=T0 + 2 * HOUR, traits={"title": "CEO", "plan": "team"}))
    survivor, merged = lead_row(store, "u-23").id, lead_row(store, "u-24").id
    with store.write() as connection:
        merge(connection, survivor, merged, T0 + 3 * HOUR)

    assert attributes(store, "u-23") == {"title": "VP", "plan": "team"}
    assert attribute_times(store, "u-23") == {"title": T0 + HOUR, "plan": T0 + 2 * HOUR}
    assert lead_row(store, "u-24").attribute_times is None


def test_erasure_deletes_waiting_visitor_traits(store, rows):
    lead_id = rows.lead(lead_key="u-25")
    rows.identity(lead_id, "anonymous_id", "anon-25")
    with store.write() as connection:
        connection.execute(
            visitor_traits.insert().values(
                message_id="v-1", anonymous_id="anon-25", traits='{"title": "CEO"}', ts=T0, received_at=T0
            )
        )
        erase_lead(connection, lead_id, T0 + HOUR)

    assert waiting_traits(store, "anon-25") == 0
