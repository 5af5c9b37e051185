"""The log line of a retried write names what was written and the database's message."""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy.exc import OperationalError

from leadq.service.ingest import Message, ingest_requests


def _busy_once():
    """Return a screen whose first call fails as a busy SQLite file does, and its list of calls."""
    calls: list[int] = []

    def screen(connection, active):
        calls.append(len(calls))
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
        return [None, None]

    return screen, calls


def _track(message_id: str) -> Message:
    return Message("track", message_id, user_id="u1", event="demo_requested")


def test_retry_log_names_group_messages(store, caplog):
    caplog.set_level(logging.INFO, logger="leadq.service")
    screen, calls = _busy_once()
    requests = [[_track("m1"), _track("m2")], [_track("m3"), _track("m4")]]

    outcomes = ingest_requests(store, requests, screen)

    assert len(calls) == 2
    assert [outcome.stored for outcome in outcomes] == [2, 2]
    retries = [message for message in caplog.messages if message.startswith("retrying ")]
    assert retries == [
        "retrying the tracking messages 'm1', 'm2', 'm3' and 1 more after OperationalError: database is locked"
    ]
