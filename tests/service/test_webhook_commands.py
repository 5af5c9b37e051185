"""`leadq webhooks add`, `list` and `remove`, run as real subprocesses."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import update

from leadq.service.lead_records import as_datetime
from leadq.service.webhooks import EVENT_TYPES, list_subscriptions, stored_subscription
from leadq.store.tables import webhook_subscriptions

URL = "https://hooks.example/leadq"


def leadq(store, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadq", "webhooks", *args, "--database", store.url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_add_prints_id_and_secret(store):
    done = leadq(
        store, "add", URL, "--event", "lead.stage_changed", "--event", "lead.created"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("id: ")
    assert lines[1].startswith("secret: whsec_")
    assert "shown only this once" in done.stderr

    with store.read() as connection:
        subscription = list_subscriptions(connection)[0]
    assert lines[0] == f"id: {subscription.id}"
    assert subscription.url == URL
    assert subscription.event_types == ("lead.stage_changed", "lead.created")


def test_add_with_given_secret(store):
    done = leadq(store, "add", URL, "--event", "lead.merged", "--secret", "x" * 30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "secret: " + "x" * 30


def test_add_unknown_event(store):
    done = leadq(store, "add", URL, "--event", "lead.won")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert message == (
        "error: --event: unknown event type 'lead.won'; valid types: "
        + ", ".join(EVENT_TYPES)
    )


def test_add_rejects_other_scheme(store):
    done = leadq(store, "add", "mailto:sales@example.com", "--event", "lead.created")
    assert done.returncode == 2
    assert "URL: the URL must start with http:// or https://" in done.stderr


def test_add_rejects_port_out_of_range(store):
    done = leadq(store, "add", "http://127.0.0.1:99999/", "--event", "lead.created")
    assert done.returncode == 2
    assert done.stderr == (
        "error: URL: the URL 'http://127.0.0.1:99999/' has port 99999; "
        "give a port from 1 to 65535\n"
    )
    with store.read() as connection:
        assert list_subscriptions(connection) == []


def test_list_and_remove(store):
    leadq(store, "add", URL, "--event", "lead.created")
    leadq(store, "add", URL + "/2", "--event", "lead.merged", "--event", "lead.created")
    listed = leadq(store, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [row[1:] for row in rows] == [
        [URL, "lead.created"],
        [URL + "/2", "lead.merged,lead.created"],
    ]

    removed = leadq(store, "remove", rows[0][0])
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == f"removed webhook subscription {rows[0][0]}\n"
    assert [
        line.split("\t")[0] for line in leadq(store, "list").stdout.splitlines()
    ] == [rows[1][0]]


def test_remove_unknown(store):
    done = leadq(store, "remove", "99")
    assert done.returncode == 2
    assert done.stderr == "error: no webhook subscription has id 99\n"


def test_remove_twice_says_when(store):
    added = leadq(store, "add", URL, "--event", "lead.created")
    subscription_id = int(added.stdout.splitlines()[0].removeprefix("id: "))
    assert leadq(store, "remove", str(subscription_id)).returncode == 0

    again = leadq(store, "remove", str(subscription_id))

    with store.read() as connection:
        deleted_at = stored_subscription(connection, subscription_id).deleted_at
    removed_at = as_datetime(deleted_at).isoformat().replace("+00:00", "Z")
    assert again.returncode == 2
    assert " ".join(again.stderr.split()) == (
        f"error: webhook subscription {subscription_id} was already removed at "
        f"{removed_at}; `leadq webhooks list` shows the active subscriptions"
    )
    assert again.stdout == ""


def test_remove_untimed_removal(store):
    # As a subscription deleted before leadq recorded the time.
    added = leadq(store, "add", URL, "--event", "lead.created")
    subscription_id = int(added.stdout.splitlines()[0].removeprefix("id: "))
    with store.write() as connection:
        connection.execute(update(webhook_subscriptions).values(active=False))

    again = leadq(store, "remove", str(subscription_id))

    assert again.returncode == 2
    assert " ".join(again.stderr.split()) == (
        f"error: webhook subscription {subscription_id} was already removed at a "
        "time that leadq did not record; `leadq webhooks list` shows the active "
        "subscriptions"
    )


def test_remove_id_too_large(store):
    done = leadq(store, "remove", "99999999999999999999999")
    assert done.returncode == 2
    assert "Invalid value for 'ID'" in done.stderr
    assert "less than or equal to 9223372036854775807" in done.stderr
