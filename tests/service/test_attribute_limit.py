"""The limit on attribute names that identify calls give a lead or a visitor."""

from __future__ import annotations

import json

import pytest

from leadq.service.errors import ApiError
from leadq.service.identity import merge
from leadq.service.ingest import Message, ingest_messages
from leadq.service.traits import ATTRIBUTE_LIMIT
from tests.service.conftest import T0
from tests.service.test_visitor_traits import attributes, identify, lead_row, send, waiting_traits


def names(prefix: str, count: int) -> dict:
    return {f"{prefix}{index}": 1 for index in range(count)}


def rejected(store, message: Message) -> ApiError:
    with pytest.raises(ApiError) as caught:
        send(store, message)
    assert caught.value.code == "too_many_attributes"
    return caught.value


def test_limit_reached_exactly(store):
    send(store, identify("l-1", user_id="u-1", traits=names("a", ATTRIBUTE_LIMIT)))

    error = rejected(store, identify("l-2", user_id="u-1", traits={"b0": 1}))

    assert error.value == ATTRIBUTE_LIMIT + 1
    assert len(attributes(store, "u-1")) == ATTRIBUTE_LIMIT


def test_known_names_stay_writable(store):
    send(store, identify("l-3", user_id="u-2", traits=names("a", ATTRIBUTE_LIMIT)))

    send(store, identify("l-4", user_id="u-2", traits={"a1": 2, " A2 ": 3, "email": "u2@acme.example"}))

    assert attributes(store, "u-2")["a1"] == 2
    assert lead_row(store, "u-2").email == "u2@acme.example"


def test_merged_lead_keeps_known_names(store):
    send(store, identify("l-5", user_id="u-3", traits=names("a", 600)))
    send(store, identify("l-6", user_id="u-4", traits=names("b", 600)))
    with store.write() as connection:
        merge(connection, lead_row(store, "u-3").id, lead_row(store, "u-4").id, T0)

    send(store, identify("l-7", user_id="u-3", traits={"b1": 2}))
    rejected(store, identify("l-8", user_id="u-3", traits={"c0": 1}))

    assert json.loads(lead_row(store, "u-3").attributes)["b1"] == 2


def test_visitor_over_limit_still_linked(store):
    send(store, identify("v-1", anonymous_id="anon-5", traits=names("a", 600)))
    rejected(store, identify("v-2", anonymous_id="anon-5", traits=names("b", 600)))
    assert waiting_traits(store, "anon-5") == 1

    ingest_messages(store, [Message("track", "v-3", user_id="u-5", anonymous_id="anon-5", event="demo_requested")])

    assert len(attributes(store, "u-5")) == 600
