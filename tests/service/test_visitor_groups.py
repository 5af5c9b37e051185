"""Group calls by event time, and the group calls of anonymous visitors."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from leadq.service.erasure import erase_lead
from leadq.service.identity import merge
from leadq.service.ingest import Message, ingest_requests
from leadq.store.tables import accounts, leads, visitor_groups
from tests.service.conftest import HOUR, T0
from tests.service.test_visitor_traits import identify, lead_row, send


def group(message_id: str, group_id: str, *, at: int | None = None, traits: dict | None = None, **fields) -> Message:
    return Message("group", message_id, group_id=group_id, timestamp=at, traits=traits or {}, **fields)


def group_of(store, lead_key: str) -> str | None:
    """Return the group id of the lead's account, or None when it is in none."""
    with store.read() as connection:
        query = (
            select(accounts.c.group_id)
            .select_from(leads.outerjoin(accounts, leads.c.account_id == accounts.c.id))
            .where(leads.c.lead_key == lead_key)
        )
        return connection.execute(query).scalar_one()


def waiting_groups(store, anonymous_id: str) -> int:
    with store.read() as connection:
        query = select(func.count()).select_from(visitor_groups).where(visitor_groups.c.anonymous_id == anonymous_id)
        return connection.execute(query).scalar_one()


def test_visitor_group_reaches_lead(store):
    industry = {"industry": "Software", "employees": 300}
    send(store, group("g-1", "acme", anonymous_id="anon-1", at=T0, traits=industry))
    assert waiting_groups(store, "anon-1") == 1
    with store.read() as connection:
        assert connection.execute(select(func.count()).select_from(leads)).scalar_one() == 0
        stored = connection.execute(select(accounts.c.traits).where(accounts.c.group_id == "acme")).scalar_one()
    assert json.loads(stored) == industry

    send(store, identify("i-1", anonymous_id="anon-1", traits={"email": "ann@acme.example"}))

    row = lead_row(store, "ann@acme.example")
    assert group_of(store, "ann@acme.example") == "acme"
    assert row.account_at == T0
    rules = {reason["rule"] for reason in json.loads(row.reasons)}
    assert {"industry_target", "size_sweet_spot"} <= rules
    assert waiting_groups(store, "anon-1") == 0


def test_latest_visitor_group_wins(store):
    # Sent out of order: the call of the later event time arrives first.
    send(store, group("g-2", "acme", anonymous_id="anon-2", at=T0 + HOUR))
    send(store, group("g-1", "globex", anonymous_id="anon-2", at=T0))
    send(store, identify("i-1", user_id="u-2", anonymous_id="anon-2"))

    assert group_of(store, "u-2") == "acme"
    assert lead_row(store, "u-2").account_at == T0 + HOUR
    assert waiting_groups(store, "anon-2") == 0


def test_newer_lead_account_kept(store):
    send(store, group("g-1", "globex", user_id="u-3", at=T0 + 2 * HOUR))
    send(store, group("g-2", "acme", anonymous_id="anon-3", at=T0 + HOUR))
    send(store, Message("track", "t-1", user_id="u-3", anonymous_id="anon-3", event="ping"))

    assert group_of(store, "u-3") == "globex"
    assert lead_row(store, "u-3").account_at == T0 + 2 * HOUR
    assert waiting_groups(store, "anon-3") == 0


def test_newer_visitor_group_moves_lead(store):
    send(store, group("g-1", "globex", user_id="u-4", at=T0))
    send(store, group("g-2", "acme", anonymous_id="anon-4", at=T0 + HOUR))
    send(store, identify("i-1", user_id="u-4", anonymous_id="anon-4", at=T0 + 2 * HOUR))

    assert group_of(store, "u-4") == "acme"
    assert lead_row(store, "u-4").account_at == T0 + HOUR


def test_visitor_group_moves_untimed_account(store, rows):
    globex = rows.account("globex", {})
    rows.lead(lead_key="u-5", account_id=globex)
    send(store, group("g-1", "acme", anonymous_id="anon-5", at=T0))
    send(store, identify("i-1", user_id="u-5", anonymous_id="anon-5"))

    assert group_of(store, "u-5") == "acme"


def test_visitor_group_and_link_in_one_batch(store):
    send(store, group("g-1", "acme", anonymous_id="anon-6", at=T0), identify("i-1", user_id="u-6", anonymous_id="anon-6"))

    assert group_of(store, "u-6") == "acme"
    assert waiting_groups(store, "anon-6") == 0


def test_visitor_group_and_link_in_one_group(store):
    requests = [
        [identify("i-1", user_id="u-7", anonymous_id="anon-7", at=T0 + HOUR)],
        [group("g-1", "acme", anonymous_id="anon-7", at=T0)],
    ]
    ingest_requests(store, requests)

    assert group_of(store, "u-7") == "acme"
    assert waiting_groups(store, "anon-7") == 0


def test_linked_visitor_group_goes_to_lead(store):
    send(store, identify("i-1", user_id="u-8", anonymous_id="anon-8", at=T0))
    send(store, group("g-1", "acme", anonymous_id="anon-8", at=T0 + HOUR))

    assert group_of(store, "u-8") == "acme"
    assert waiting_groups(store, "anon-8") == 0


def test_older_group_call_keeps_newer_account(store):
    send(store, group("g-2", "globex", user_id="u-9", at=T0 + HOUR))
    send(store, group("g-1", "acme", user_id="u-9", at=T0, traits={"plan": "gold"}))
    assert group_of(store, "u-9") == "globex"

    send(store, group("g-3", "acme", user_id="u-9", at=T0 + HOUR))
    assert group_of(store, "u-9") == "acme"
    with store.read() as connection:
        traits = connection.execute(select(accounts.c.traits).where(accounts.c.group_id == "acme")).scalar_one()
    assert json.loads(traits) == {"plan": "gold"}


def test_repeated_visitor_group_stored_once(store):
    for _ in range(2):
        send(store, group("g-1", "acme", anonymous_id="anon-10", at=T0))

    assert waiting_groups(store, "anon-10") == 1


def test_merge_takes_merged_account_and_time(store):
    send(store, identify("a-1", user_id="u-11", at=T0))
    send(store, group("g-1", "acme", user_id="u-12", at=T0 + HOUR))
    survivor, merged = lead_row(store, "u-11").id, lead_row(store, "u-12").id
    with store.write() as connection:
        merge(connection, survivor, merged, T0 + 2 * HOUR)

    assert group_of(store, "u-11") == "acme"
    assert lead_row(store, "u-11").account_at == T0 + HOUR


def test_merge_keeps_survivor_account(store):
    send(store, group("g-1", "globex", user_id="u-13", at=T0))
    send(store, group("g-2", "acme", user_id="u-14", at=T0 + HOUR))
    survivor, merged = lead_row(store, "u-13").id, lead_row(store, "u-14").id
    with store.write() as connection:
        merge(connection, survivor, merged, T0 + 2 * HOUR)

    assert group_of(store, "u-13") == "globex"
    assert lead_row(store, "u-13").account_at == T0


def test_erasure_deletes_waiting_visitor_groups(store, rows):
    lead_id = rows.lead(lead_key="u-15")
    rows.identity(lead_id, "anonymous_id", "anon-15")
    acme = rows.account("acme", {})
    with store.write() as connection:
        connection.execute(
            visitor_groups.insert().values(
                message_id="g-1", anonymous_id="anon-15", account_id=acme, ts=T0, received_at=T0
            )
        )
        erase_lead(connection, lead_id, T0 + HOUR)

    assert waiting_groups(store, "anon-15") == 0
