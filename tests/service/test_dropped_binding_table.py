"""Writes that meet an activation in flight: admin actions, qualifications,
import batches and rescore runs.

An activation drops the binding tables that the new version does not use.
On PostgreSQL a request may read the active version just before the
activation commits and find its binding table gone when it rescores. The
tests hold the request at its first statement that names that table,
until another thread has activated a wider model and committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from leadq.service.event_bindings import binding_table
from leadq.service.imports import import_file
from leadq.service.ingest import ingest_messages
from leadq.service.schedule import rescore_all
from leadq.store.tables import leads, qualifications
from tests.service.test_event_bindings import (
    MODEL,
    WIDER,
    _activate,
    _binding_tables,
    _messages,
)

BANT_PASSED = {
    "budget": "confirmed",
    "authority": "decision_maker",
    "need": 3,
    "timeline": "next_quarter",
}


@pytest.fixture()
def admin(client, keys):
    client.headers["Authorization"] = f"Bearer {keys.admin}"
    return client


@contextmanager
def activation_at_binding_read(store, first, text: str, *, wait: bool = True) -> Iterator[list]:
    """Activate `text` in another thread when a statement first names the binding table of `first`.

    With `wait`, on PostgreSQL, that statement runs only after the
    activation has committed. SQLite lets one writer in at a time, so there
    the activation always waits for the statement's transaction to end.
    Yields the list that receives the activation.
    """
    table_name = binding_table(first.compiled).name
    activations: list = []
    threads: list[threading.Thread] = []

    def activate() -> None:
        activations.append(_activate(store, text))

    def before_cursor_execute(connection, cursor, statement, parameters, context, executemany):
        if threads or table_name not in statement:
            return
        threads.append(threading.Thread(target=activate))
        threads[0].start()
        if wait and store.engine.dialect.name == "postgresql":
            threads[0].join(timeout=30)
            assert activations, "the activation did not commit within 30 s"

    event.listen(store.engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield activations
    finally:
        event.remove(store.engine, "before_cursor_execute", before_cursor_execute)
        for thread in threads:
            thread.join(timeout=30)


def _lead_ids(store) -> list[int]:
    with store.read() as connection:
        return list(connection.execute(select(leads.c.id).order_by(leads.c.id)).scalars())


def _version_of(store, lead_id: int) -> int:
    query = select(leads.c.model_version_id).where(leads.c.id == lead_id)
    with store.read() as connection:
        return connection.execute(query).scalar_one()


def _retries(caplog) -> list[str]:
    return [message for message in caplog.messages if message.startswith("retrying ")]


# Each action's path and body for a lead id, and the work that its retry logs.
ACTIONS = {
    "recycle": lambda lead_id: (
        f"/api/leads/{lead_id}/recycle",
        {"reason": "went cold"},
        f"a recycle of lead {lead_id}",
    ),
    "qualification": lambda lead_id: (
        f"/api/leads/{lead_id}/qualifications",
        {"framework": "bant", "answers": BANT_PASSED, "author": "Sam Seller"},
        f"a qualification of lead {lead_id}",
    ),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_action_retried_after_table_drop(store, admin, caplog, action):
    caplog.set_level(logging.INFO, logger="leadq.service")
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com"))
    [lead_id] = _lead_ids(store)
    path, body, work = ACTIONS[action](lead_id)

    with activation_at_binding_read(store, first, WIDER) as activations:
        response = admin.post(path, json=body)
    [wider] = activations

    assert response.status_code in (200, 201), response.text
    assert _binding_tables(store) == {binding_table(wider.compiled).name}
    if store.engine.dialect.name == "postgresql":
        # The first attempt found the table dropped, so the second read WIDER.
        [retry] = _retries(caplog)
        assert retry.startswith(f"retrying {work} after UndefinedTable: relation ")
        assert _version_of(store, lead_id) == wider.id
    else:
        assert _retries(caplog) == []
        assert _version_of(store, lead_id) == first.id


def test_qualification_stored_once_after_retry(store, admin):
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com"))
    [lead_id] = _lead_ids(store)
    path, body, _ = ACTIONS["qualification"](lead_id)

    with activation_at_binding_read(store, first, WIDER):
        response = admin.post(path, json=body)
    query = select(qualifications.c.id, qualifications.c.result)
    with store.read() as connection:
        stored = connection.execute(query).all()

    assert response.status_code == 201, response.text
    assert response.json()["id"] == stored[0].id
    assert [row.result for row in stored] == ["passed"]


def test_merge_holds_activation_until_commit(store, admin):
    """A merge moves events before it rescores, which locks `events` on
    PostgreSQL, so an activation cannot create or drop a binding table until
    the merge commits."""
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com") + _messages("u2@example.com"))
    survivor, merged = _lead_ids(store)

    with activation_at_binding_read(store, first, WIDER, wait=False) as activations:
        response = admin.post(f"/api/leads/{merged}/merge", json={"into": survivor})
    [wider] = activations

    assert response.status_code == 200, response.text
    assert _version_of(store, survivor) == first.id
    assert _binding_tables(store) == {binding_table(wider.compiled).name}


def test_import_batch_retried_after_table_drop(store, caplog, tmp_path):
    """A leads batch writes no events, so an activation can drop the table
    before the batch's rescore reads it."""
    caplog.set_level(logging.INFO, logger="leadq.service")
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com"))
    path = tmp_path / "leads.csv"
    path.write_text("email,company\nu1@example.com,Acme\n", encoding="utf-8")

    with activation_at_binding_read(store, first, WIDER) as activations:
        report = import_file(store, "leads", path)
    [wider] = activations
    [lead_id] = _lead_ids(store)

    assert (report.updated, report.rescored, report.rejected) == (1, 1, [])
    assert _binding_tables(store) == {binding_table(wider.compiled).name}
    if store.engine.dialect.name == "postgresql":
        [retry] = _retries(caplog)
        assert retry.startswith("retrying an import batch after UndefinedTable: relation ")
        assert _version_of(store, lead_id) == wider.id
    else:
        assert _retries(caplog) == []
        assert _version_of(store, lead_id) == first.id


def test_rescore_run_survives_table_drop(store):
    """A batch that finds its table dropped is rescored lead by lead with
    the version active now."""
    first = _activate(store, MODEL)
    ingest_messages(store, _messages("u1@example.com") + _messages("u2@example.com"))

    with activation_at_binding_read(store, first, WIDER) as activations:
        report = rescore_all(store, active=first)
    [wider] = activations
    expected = wider.id if store.engine.dialect.name == "postgresql" else first.id
    versions = [_version_of(store, lead_id) for lead_id in _lead_ids(store)]

    assert (report.leads, report.failed) == (2, {})
    assert versions == [expected, expected]
    assert _binding_tables(store) == {binding_table(wider.compiled).name}
