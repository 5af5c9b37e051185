"""Lists of values passed as one parameter, on each database the store supports."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from leadq.service.ingest import Message, ingest_messages
from leadq.service.rescoring import lock_leads
from leadq.store.tables import leads
from leadq.store.value_lists import in_list

BY_ID = select(leads.c.id).where(in_list(leads.c.id, "ids"))


def test_in_list_renders_per_dialect():
    assert "= ANY (%(ids)s::BIGINT[])" in str(BY_ID.compile(dialect=postgresql.psycopg.dialect()))
    rendered = str(BY_ID.compile(dialect=sqlite.dialect()))
    assert "IN (__[POSTCOMPILE_ids])" in rendered
    assert "= 1" not in rendered


def test_in_list_matches_given_values(store):
    ingest_messages(store, [Message("track", f"m{n}", user_id=f"u{n}", event="demo_requested") for n in range(3)])
    with store.read() as connection:
        ids = sorted(connection.execute(select(leads.c.id)).scalars())
        found = {count: sorted(connection.execute(BY_ID, {"ids": ids[:count]}).scalars()) for count in (0, 1, 3)}
    assert found == {0: [], 1: ids[:1], 3: ids}


def test_lock_takes_more_ids_than_parameters(store):
    # PostgreSQL takes at most 65,535 parameters in one statement.
    ingest_messages(store, [Message("track", "m1", user_id="u1", event="demo_requested")])
    with store.write() as connection:
        locked = lock_leads(connection, range(1, 70_001))
    assert [row.id for row in locked] == [1]
