"""Many rows written with one statement, on each database the store supports."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from leadq.service.ingest import Message, ingest_messages
from leadq.store.column_writes import insert_rows, sent_together, update_rows
from leadq.store.tables import accounts, events, leads, score_snapshots
from tests.conftest import empty_postgres


def _accounts(count: int, start: int = 0) -> list[dict]:
    return [
        {
            "group_id": f"g{n}",
            "traits": f'{{"name": "Firma {n} \u00e9 \\" \\\\"}}',
            "created_at": n,
            "updated_at": 2**62 + n,
        }
        for n in range(start, start + count)
    ]


def _stored_accounts(store) -> list[tuple]:
    query = select(accounts.c.group_id, accounts.c.traits, accounts.c.updated_at).order_by(accounts.c.id)
    with store.read() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_insert_keeps_order_and_values(store):
    with store.write() as connection:
        returned = insert_rows(connection, accounts, _accounts(3), returning=("id", "group_id"))
    assert [row.group_id for row in returned] == ["g0", "g1", "g2"]
    assert _stored_accounts(store) == [(row["group_id"], row["traits"], row["updated_at"]) for row in _accounts(3)]


def test_insert_skips_taken_keys(store):
    with store.write() as connection:
        insert_rows(connection, accounts, _accounts(2))
    with store.write() as connection:
        returned = insert_rows(
            connection, accounts, _accounts(3, start=1), conflict_keys=("group_id",), returning=("group_id",)
        )
    assert [row.group_id for row in returned] == ["g2", "g3"]
    assert [row[0] for row in _stored_accounts(store)] == ["g0", "g1", "g2", "g3"]


def _lead(store) -> int:
    ingest_messages(store, [Message("track", "m1", user_id="u1", event="demo_requested")])
    with store.read() as connection:
        return connection.execute(select(leads.c.id)).scalar_one()


def _snapshot(lead_id: int, at: int, **scores) -> dict:
    row = {"lead_id": lead_id, "at": at, "engagement": 1.5, "product": 0.0, "grade": "A", "stage": "mql"}
    return {**row, **scores}


def test_insert_keeps_nulls_and_exact_floats(store):
    lead_id = _lead(store)
    rows = [
        _snapshot(lead_id, 1, fit=0.1 + 0.2, total=1e-300, probability=None),
        _snapshot(lead_id, 2, fit=-0.0, total=2.0**53 + 1, probability=0.7),
    ]
    with store.write() as connection:
        insert_rows(connection, score_snapshots, rows)
    query = select(score_snapshots.c.fit, score_snapshots.c.total, score_snapshots.c.probability)
    with store.read() as connection:
        stored = [tuple(row) for row in connection.execute(query.where(score_snapshots.c.at < 3))]
    assert sorted(stored, key=str) == sorted([(0.1 + 0.2, 1e-300, None), (-0.0, 2.0**53 + 1, 0.7)], key=str)


@pytest.fixture()
def postgresql(postgres_store):
    """An empty store on PostgreSQL alone, for what only its statements do."""
    return empty_postgres(postgres_store)


def test_insert_rejects_nan_on_postgresql(postgresql):
    store = postgresql
    row = _snapshot(_lead(store), 1, fit=math.nan, total=0.0, probability=None)
    with pytest.raises(ValueError, match="not JSON compliant"), store.write() as connection:
        insert_rows(connection, score_snapshots, [row])


def test_insert_takes_rows_without_a_lead(store):
    rows = [
        {
            "message_id": message_id,
            "lead_id": None,
            "anonymous_id": anonymous_id,
            "event_name": "page_viewed",
            "ts": 1,
            "received_at": 2,
            "properties": "{}",
            "source": "api",
        }
        for message_id, anonymous_id in (("a", None), ("b", "visitor"))
    ]
    with store.write() as connection:
        insert_rows(connection, events, rows)
    query = select(events.c.message_id, events.c.lead_id, events.c.anonymous_id).order_by(events.c.id)
    with store.read() as connection:
        assert [tuple(row) for row in connection.execute(query)] == [("a", None, None), ("b", None, "visitor")]


def test_update_sets_each_rows_values(store):
    with store.write() as connection:
        insert_rows(connection, accounts, _accounts(3))
    with store.write() as connection:
        ids = list(connection.execute(select(accounts.c.id).order_by(accounts.c.id)).scalars())
        rows = [{"id": ids[2], "traits": "{}", "updated_at": 7}, {"id": ids[0], "traits": "[]", "updated_at": 9}]
        update_rows(connection, accounts, "id", rows)
    assert _stored_accounts(store) == [
        ("g0", "[]", 9),
        ("g1", _accounts(2)[1]["traits"], 2**62 + 1),
        ("g2", "{}", 7),
    ]


def test_no_rows_write_nothing(store):
    with store.write() as connection:
        assert insert_rows(connection, accounts, [], returning=("id",)) == []
        update_rows(connection, accounts, "id", [])
    assert _stored_accounts(store) == []


def test_insert_statement_ignores_row_count(postgresql):
    store = postgresql
    sent = []

    def record(connection, cursor, statement, parameters, context, executemany):
        sent.append((statement, executemany))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        for start, count in ((0, 2), (2, 500)):
            with store.write() as connection:
                insert_rows(connection, accounts, _accounts(count, start), returning=("id",))
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    inserts = [item for item in sent if item[0].startswith("INSERT")]
    assert len(inserts) == 2
    assert inserts[0] == inserts[1]
    assert inserts[0][1] is False
    assert len(_stored_accounts(store)) == 502


def test_statements_sent_together_run_in_order(store):
    with store.write() as connection, sent_together(connection):
        insert_rows(connection, accounts, _accounts(2))
        update_rows(connection, accounts, "id", [{"id": 2, "traits": "{}", "updated_at": 5}])
    assert [row[1:] for row in _stored_accounts(store)] == [(_accounts(1)[0]["traits"], 2**62), ("{}", 5)]


def test_failure_sent_together_raises_integrity_error(store):
    with store.write() as connection:
        insert_rows(connection, accounts, _accounts(1))
    with pytest.raises(IntegrityError), store.write() as connection, sent_together(connection):
        insert_rows(connection, accounts, _accounts(2, start=5))
        insert_rows(connection, accounts, _accounts(1))
    assert [row[0] for row in _stored_accounts(store)] == ["g0"]
