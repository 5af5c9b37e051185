"""Erasure through DELETE /api/leads/{id}, `leadq erase` and the library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from leadq.errors import LeadNotFound
from leadq.service.erasure import erase_email
from leadq.store.tables import deliveries, erasures, metadata, outbox

T0 = 1_777_593_600_000_000  # 2026-05-01T00:00:00Z in microseconds
HOUR = 3_600_000_000
EMAIL = "erin.erased@privacy.example"
KEY = "erin-key-7731"
ANONYMOUS_ID = "anon-erin-5521"
OTHER_EMAIL = "olga.other@privacy.example"


@pytest.fixture()
def person(rows) -> dict:
    """Erin, with a merged lead, history, events, identities and webhooks."""
    erin = rows.scored_lead(
        80, 20, 0, email=EMAIL, lead_key=KEY, attributes=json.dumps({"name": "Erin E."})
    )
    tombstone = rows.lead(
        email="erin@old-job.example", lead_key="erin-old", merged_into=erin
    )
    rows.identity(erin, "email", EMAIL)
    rows.identity(erin, "anonymous_id", ANONYMOUS_ID)
    rows.identity(tombstone, "email", "erin@old-job.example")
    rows.event(erin, "demo_requested", T0, properties=json.dumps({"email": EMAIL}))
    rows.event(tombstone, "form_submitted", T0 + HOUR)
    rows.event(None, "page_viewed", T0 - HOUR, anonymous_id=ANONYMOUS_ID)
    qualification = rows.qualification(erin, T0, {"budget": "confirmed"})
    rows.stage_change(erin, T0, None, "mql", qualification_id=qualification)
    rows.snapshot(erin, T0, 100.0)
    rows.snapshot(tombstone, T0 - HOUR, 10.0)
    rows.outcome(erin, T0 + 2 * HOUR)
    subscription = rows.subscription()
    pending = rows.webhook(subscription, {"lead": {"id": erin, "stage": "mql"}})
    rows.webhook(subscription, {"lead_id": tombstone})
    sent = rows.webhook(
        subscription, {"lead": {"id": erin, "email": EMAIL}}, status="delivered"
    )
    with rows.store.write() as connection:
        attempt = {
            "outbox_id": pending,
            "attempt": 1,
            "at": T0,
            "status_code": 503,
            "duration_ms": 12.0,
        }
        connection.execute(deliveries.insert().values(**attempt))
    return {
        "erin": erin,
        "tombstone": tombstone,
        "subscription": subscription,
        "sent": sent,
    }


@pytest.fixture()
def other(rows, person) -> dict:
    """Olga, whose rows an erasure of Erin must keep."""
    olga = rows.scored_lead(50, 5, 0, email=OTHER_EMAIL, lead_key="olga-key")
    rows.identity(olga, "email", OTHER_EMAIL)
    rows.event(olga, "page_viewed", T0)
    rows.event(None, "page_viewed", T0, anonymous_id="anon-olga")
    rows.stage_change(olga, T0, None, "unqualified")
    webhook = rows.webhook(
        person["subscription"], {"lead": {"id": olga, "email": OTHER_EMAIL}}
    )
    return {"olga": olga, "webhook": webhook}


def stored_text(store) -> str:
    """Every value of every table, as one lower-cased text."""
    parts = []
    with store.read() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.append(" ".join(str(value) for value in row))
    return "\n".join(parts).lower()


def table_counts(store) -> dict[str, int]:
    with store.read() as connection:
        return {
            table.name: connection.execute(
                select(func.count()).select_from(table)
            ).scalar_one()
            for table in metadata.sorted_tables
        }


def erasure_rows(store) -> list[dict]:
    with store.read() as connection:
        rows = connection.execute(select(erasures).order_by(erasures.c.id))
        return [dict(row._mapping) for row in rows]


EXPECTED_COUNTS = {
    "leads_removed": 2,
    "events_removed": 3,
    "identities_removed": 3,
    "stage_changes_removed": 1,
    "score_snapshots_removed": 2,
    "outcomes_removed": 1,
    "qualifications_removed": 1,
    "webhooks_removed": 2,
    "webhooks_redacted": 1,
}


def assert_no_trace(store) -> None:
    stored = stored_text(store)
    for value in (
        EMAIL,
        KEY,
        ANONYMOUS_ID,
        "erin@old-job.example",
        "erin-old",
        "erin e.",
    ):
        assert value not in stored, value


def test_erase_api(client, keys, store, person, other):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    response = client.delete(f"/api/leads/{person['erin']}", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lead_id"] == person["erin"]
    assert body["merged_ids"] == [person["tombstone"]]
    assert {name: body[name] for name in EXPECTED_COUNTS} == EXPECTED_COUNTS
    assert body["at"].endswith("Z")
    assert_no_trace(store)


def test_erase_api_record(client, keys, store, person, other):
    client.delete(
        f"/api/leads/{person['erin']}",
        headers={"Authorization": f"Bearer {keys.admin}"},
    )
    record, merged = erasure_rows(store)
    assert record["lead_id"] == person["erin"]
    assert record["survivor_id"] is None
    assert {name: record[name] for name in EXPECTED_COUNTS} == EXPECTED_COUNTS
    assert merged["lead_id"] == person["tombstone"]
    assert merged["survivor_id"] == person["erin"]
    assert merged["at"] == record["at"]
    assert {name: merged[name] for name in EXPECTED_COUNTS} == dict.fromkeys(
        EXPECTED_COUNTS, 0
    )


def test_erase_keeps_others(client, keys, store, person, other):
    before = table_counts(store)
    client.delete(
        f"/api/leads/{person['erin']}",
        headers={"Authorization": f"Bearer {keys.admin}"},
    )
    after = table_counts(store)
    assert after["leads"] == before["leads"] - 2
    assert after["events"] == before["events"] - 3
    olga = client.get(f"/api/leads/{other['olga']}").json()
    assert olga["email"] == OTHER_EMAIL
    assert len(olga["recent_events"]) == 1
    assert len(olga["stage_history"]) == 1
    assert OTHER_EMAIL in stored_text(store)
    assert "anon-olga" in stored_text(store)


def test_erase_redacts_sent_webhook(client, keys, store, person):
    client.delete(
        f"/api/leads/{person['erin']}",
        headers={"Authorization": f"Bearer {keys.admin}"},
    )
    with store.read() as connection:
        (row,) = connection.execute(select(outbox.c.id, outbox.c.payload)).all()
    assert row.id == person["sent"]
    payload = json.loads(row.payload)
    assert payload["data"] == {"erased": True}
    assert payload["type"] == "lead.stage_changed"


def test_erased_id_410(client, keys, person):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    client.delete(f"/api/leads/{person['erin']}", headers=admin)
    response = client.get(f"/api/leads/{person['erin']}")
    assert response.status_code == 410
    error = response.json()["error"]
    assert error["code"] == "lead_erased"
    assert error["message"].startswith(f"lead {person['erin']} was erased at 20")
    assert (
        client.delete(f"/api/leads/{person['erin']}", headers=admin).status_code == 410
    )


def test_merged_id_410_after_erasure(client, keys, person):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    client.delete(f"/api/leads/{person['erin']}", headers=admin)
    tombstone = person["tombstone"]

    response = client.get(f"/api/leads/{tombstone}")
    again = client.delete(f"/api/leads/{tombstone}", headers=admin)

    assert response.status_code == 410
    error = response.json()["error"]
    assert error["code"] == "lead_erased"
    assert error["message"].startswith(f"lead {tombstone} was erased at 20")
    assert error["message"].endswith(
        f"Z with lead {person['erin']}, which it had been merged into"
    )
    assert error["value"] == tombstone
    assert again.status_code == 410


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("recycle", {"reason": "asked again"}),
        ("stage", {"stage": "mql", "reason": "asked again"}),
        ("merge", {"into": 1}),
        ("qualifications", None),
    ],
)
def test_lead_routes_410_after_erasure(client, keys, person, route, body):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    client.delete(f"/api/leads/{person['erin']}", headers=admin)

    for lead_id in (person["erin"], person["tombstone"]):
        path = f"/api/leads/{lead_id}/{route}"
        if body is None:
            response = client.get(path)
        else:
            response = client.post(path, json=body, headers=admin)
        assert response.status_code == 410, (path, response.text)
        assert response.json()["error"]["code"] == "lead_erased"


def test_merge_into_erased_lead(client, keys, rows, person):
    other = rows.lead(email=OTHER_EMAIL, lead_key="olga")
    missing = person["erin"] + 1000
    admin = {"Authorization": f"Bearer {keys.admin}"}
    client.delete(f"/api/leads/{person['erin']}", headers=admin)

    erased = client.post(f"/api/leads/{other}/merge", json={"into": person["erin"]}, headers=admin)
    unknown = client.post(f"/api/leads/{other}/merge", json={"into": missing}, headers=admin)

    assert erased.status_code == 410, erased.text
    error = erased.json()["error"]
    assert error["code"] == "lead_erased"
    assert error["field"] == "into"
    assert error["value"] == person["erin"]
    assert error["message"].startswith(f"lead {person['erin']} was erased at 20")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"] == {
        "code": "lead_not_found",
        "message": f"no lead has the id {missing}",
        "field": "into",
        "value": missing,
    }


def test_merge_chain_410_after_erasure(client, keys, rows, person):
    # A lead merged into the tombstone, which was merged into Erin.
    chained = rows.lead(merged_into=person["tombstone"])
    admin = {"Authorization": f"Bearer {keys.admin}"}

    erased = client.delete(f"/api/leads/{chained}", headers=admin)

    assert erased.status_code == 200
    assert erased.json()["lead_id"] == person["erin"]
    assert erased.json()["merged_ids"] == sorted([person["tombstone"], chained])
    for lead_id in (person["erin"], person["tombstone"], chained):
        assert client.get(f"/api/leads/{lead_id}").status_code == 410, lead_id


def test_erase_merged_id(client, keys, store, person):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    response = client.delete(f"/api/leads/{person['tombstone']}", headers=admin)
    assert response.status_code == 200
    assert response.json()["lead_id"] == person["erin"]
    assert_no_trace(store)


def test_erase_api_unknown_id(client, keys, person):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    response = client.delete("/api/leads/424242", headers=admin)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no lead has the id 424242"


def leadq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadq", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )


def test_erase_command(store, person, other):
    done = leadq("erase", "  Erin.Erased@Privacy.example ", "--database", store.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"erased lead {person['erin']}: removed 2 leads, 3 events, 3 identities, "
        "1 stage change, 2 score snapshots, 1 outcome, 1 qualification, "
        "2 pending webhooks; "
        "redacted 1 sent webhook\n"
    )
    assert_no_trace(store)
    erased_ids = [row["lead_id"] for row in erasure_rows(store)]
    assert erased_ids == [person["erin"], person["tombstone"]]


def test_erase_command_unknown_email(store, person):
    before = table_counts(store)
    done = leadq("erase", "nobody@privacy.example", "--database", store.url)
    assert done.returncode == 2
    assert done.stderr == (
        "error: no lead has the email 'nobody@privacy.example'; check the spelling, "
        "or list leads with GET /api/leads?q=PREFIX\n"
    )
    assert table_counts(store) == before


def test_erase_command_not_email(store):
    done = leadq("erase", "erin", "--database", store.url)
    assert done.returncode == 2
    assert (
        done.stderr
        == "error: 'erin' is not an email address; write it as name@example.com\n"
    )


def test_erase_by_identity_email(store, rows, person):
    # The old address is only on the merged lead and its identity.
    with store.write() as connection:
        (record,) = erase_email(connection, "erin@old-job.example", T0)
    assert record.lead_id == person["erin"]
    assert record.merged_ids == (person["tombstone"],)
    assert_no_trace(store)


def test_erase_library_unknown(store, person):
    with pytest.raises(LeadNotFound), store.write() as connection:
        erase_email(connection, "nobody@privacy.example", T0)


@pytest.fixture()
def failing_erasure_log(store):
    """Make every insert into `erasures` fail, as a full disk would."""
    if store.dialect == "sqlite":
        statements = [
            (
                "CREATE TRIGGER block_erasures BEFORE INSERT ON erasures "
                "BEGIN SELECT RAISE(ABORT, 'erasure log blocked'); END"
            )
        ]
        cleanup = ["DROP TRIGGER block_erasures"]
    else:
        statements = [
            (
                "CREATE FUNCTION block_erasures() RETURNS trigger LANGUAGE plpgsql "
                "AS $$ BEGIN RAISE EXCEPTION 'erasure log blocked'; END $$"
            ),
            (
                "CREATE TRIGGER block_erasures BEFORE INSERT ON erasures "
                "FOR EACH ROW EXECUTE FUNCTION block_erasures()"
            ),
        ]
        cleanup = [
            "DROP TRIGGER block_erasures ON erasures",
            "DROP FUNCTION block_erasures()",
        ]
    with store.write() as connection:
        for statement in statements:
            connection.execute(text(statement))
    yield
    with store.write() as connection:
        for statement in cleanup:
            connection.execute(text(statement))


def test_erase_failure_changes_nothing(store, person, other, failing_erasure_log):
    before = table_counts(store)
    text_before = stored_text(store)
    with (
        pytest.raises(DatabaseError, match="erasure log blocked"),
        store.write() as connection,
    ):
        erase_email(connection, EMAIL, T0)
    assert table_counts(store) == before
    assert stored_text(store) == text_before


def test_erase_command_failure_exit(store, person, failing_erasure_log):
    before = table_counts(store)
    done = leadq("erase", EMAIL, "--database", store.url)
    assert done.returncode == 1
    assert (
        done.stderr
        == "error: the erasure failed and changed nothing: erasure log blocked\n"
    )
    assert table_counts(store) == before
