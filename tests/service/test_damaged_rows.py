"""Stored rows whose JSON columns were damaged by hand: each reader names the lead and the repair."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select, update

from leadq.qualification.records import record_for_lead
from leadq.service.damaged_leads import MAX_LISTED
from leadq.service.ingest import Message, ingest_messages
from leadq.service.schedule import rescore_all
from leadq.store.tables import accounts, events, leads, outcomes, qualifications, stage_history
from tests.service.conftest import HOUR, T0
from tests.service.servers import leadq

BANT_PASSED = {"budget": "confirmed", "authority": "decision_maker", "need": 3, "timeline": "next_quarter"}


def attributes_error(lead_id: int, text: str = "{not json") -> str:
    return (
        f"the stored attributes of lead {lead_id} are not a JSON object ({text!r}); "
        "set them to a JSON object such as '{}' in the database, or erase the lead"
    )


def reasons_error(lead_id: int, text: str) -> str:
    return (
        f"the stored reasons of lead {lead_id} are not a JSON array of objects with a text rule, "
        f"a text section and numeric points ({text!r}); run `leadq rescore` to write them anew, "
        "or erase the lead"
    )


def traits_error(account_id: int, lead_id: int, text: str) -> str:
    return (
        f"the stored traits of account {account_id}, the account of lead {lead_id}, "
        f"are not a JSON object ({text!r}); set them to a JSON object such as '{{}}' in the database"
    )


def reached_error(lead_id: int, text: str) -> str:
    return (
        f"the stored reached stages of lead {lead_id} are not a JSON array of stage ids ({text!r}); "
        "set them to a JSON array such as '[]' in the database, or erase the lead"
    )


def properties_error(event_id: int, lead_id: int, text: str) -> str:
    return (
        f"the stored properties of event {event_id} of lead {lead_id} are not a JSON object ({text!r}); "
        "set them to a JSON object such as '{}' in the database, or erase the lead"
    )


def answers_error(qualification_id: int, lead_id: int, text: str) -> str:
    return (
        f"the stored answers of qualification {qualification_id} of lead {lead_id} are not a JSON object "
        f'of criterion ids to answers such as {{"value": "confirmed", "note": null}} ({text!r}); '
        "restore them from a backup, or delete the qualification in the database with "
        f"`UPDATE stage_history SET qualification_id = NULL WHERE qualification_id = {qualification_id}; "
        f"DELETE FROM qualifications WHERE id = {qualification_id};` and run `leadq rescore`, or erase the lead"
    )


def qualification_reasons_error(qualification_id: int, lead_id: int, text: str) -> str:
    return (
        f"the stored reasons of qualification {qualification_id} of lead {lead_id} are not a JSON array "
        f"of text ({text!r}); set them to a JSON array such as '[]' in the database, or erase the lead"
    )


def damage(store, table, row_id: int, **values) -> None:
    """Write the values straight into the row, as a hand edit in the database would."""
    with store.write() as connection:
        connection.execute(update(table).where(table.c.id == row_id).values(**values))


def lead_id_of(store, lead_key: str) -> int:
    with store.read() as connection:
        return connection.execute(select(leads.c.id).where(leads.c.lead_key == lead_key)).scalar_one()


def stored_attributes(store, lead_key: str) -> str:
    with store.read() as connection:
        return connection.execute(select(leads.c.attributes).where(leads.c.lead_key == lead_key)).scalar_one()


def count(store, table, *where) -> int:
    with store.read() as connection:
        return connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


# Lead detail


@pytest.mark.parametrize(
    ("column", "text", "expected"),
    [
        ("attributes", "{not json", attributes_error),
        ("attributes", "[1, 2]", attributes_error),
        ("reasons", "[oops", reasons_error),
        ("reasons", "[1]", reasons_error),
        ("reasons", '[{"rule": "demo", "section": "fit"}]', reasons_error),
        ("reasons", '[{"rule": "demo", "section": "fit", "points": "5"}]', reasons_error),
    ],
)
def test_lead_record_names_damaged_column(client, rows, store, column, text, expected):
    lead_id = rows.scored_lead(80, 10, 0, reasons="[]")
    damage(store, leads, lead_id, **{column: text})

    answer = client.get(f"/api/leads/{lead_id}")

    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "damaged_lead", "message": expected(lead_id, text)}}


def test_lead_record_names_damaged_account(client, rows, store):
    account_id = rows.account("acme", {"industry": "software"})
    lead_id = rows.scored_lead(80, 10, 0, account_id=account_id)
    damage(store, accounts, account_id, traits="nope")

    answer = client.get(f"/api/leads/{lead_id}")

    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "damaged_lead", "message": traits_error(account_id, lead_id, "nope")}}


def test_lead_record_shortens_long_text(client, rows, store):
    lead_id = rows.scored_lead(80, 10, 0)
    damage(store, leads, lead_id, attributes="{" + "x" * 100)

    answer = client.get(f"/api/leads/{lead_id}")

    assert answer.json()["error"]["message"] == attributes_error(lead_id, "{" + "x" * 56 + "...")


def test_leads_list_keeps_damaged_lead(client, rows, store):
    damaged = rows.scored_lead(80, 10, 0)
    other = rows.scored_lead(20, 0, 0)
    damage(store, leads, damaged, attributes="{not json", reasons="[oops")

    answer = client.get("/api/leads")

    assert answer.status_code == 200, answer.text
    assert [lead["id"] for lead in answer.json()["leads"]] == [damaged, other]


# Writes through the API


def test_identify_of_damaged_lead_fails_alone(server, keys, store):
    ingest_messages(store, [Message("identify", "m-1", user_id="u1"), Message("identify", "m-2", user_id="u2")])
    damaged = lead_id_of(store, "u1")
    damage(store, leads, damaged, attributes="{not json")
    auth = (keys.write, "")

    with httpx.Client(base_url=server, auth=auth, trust_env=False, timeout=30) as http:
        failed = http.post("/v1/identify", json={"userId": "u1", "traits": {"plan": "team"}})
        stored = http.post("/v1/identify", json={"userId": "u2", "traits": {"plan": "team"}})

    assert failed.status_code == 500
    assert failed.json() == {"error": {"code": "damaged_lead", "message": attributes_error(damaged)}}
    assert stored.status_code == 200, stored.text
    assert json.loads(stored_attributes(store, "u2")) == {"plan": "team"}


def test_group_call_names_damaged_account(server, keys, rows, store):
    account_id = rows.account("acme", {"industry": "software"})
    damage(store, accounts, account_id, traits="{broken")
    ingest_messages(store, [Message("identify", "m-1", user_id="u1")])
    lead_id = lead_id_of(store, "u1")
    body = {"userId": "u1", "groupId": "acme", "traits": {"employees": 40}}

    with httpx.Client(base_url=server, auth=(keys.write, ""), trust_env=False, timeout=30) as http:
        answer = http.post("/v1/group", json=body)

    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "damaged_lead", "message": traits_error(account_id, lead_id, "{broken")}}
    assert rows.record(lead_id)["account_id"] is None


def test_merge_into_damaged_lead_fails(server, keys, rows, store):
    survivor = rows.scored_lead(80, 10, 0)
    merged = rows.scored_lead(20, 0, 0)
    damage(store, leads, survivor, reached="oops")
    headers = {"Authorization": f"Bearer {keys.admin}"}

    with httpx.Client(base_url=server, headers=headers, trust_env=False, timeout=30) as http:
        answer = http.post(f"/api/leads/{merged}/merge", json={"into": survivor})

    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "damaged_lead", "message": reached_error(survivor, "oops")}}
    assert rows.record(merged)["merged_into"] is None


def test_rescore_names_damaged_reached_stages(rows, store):
    lead_id = rows.lead(reached='{"mql": true}')

    report = rescore_all(store)

    assert report.failed == {lead_id: reached_error(lead_id, '{"mql": true}')}


# Commands


def test_export_names_damaged_lead(rows, store, tmp_path):
    damaged = rows.scored_lead(80, 10, 0)
    rows.scored_lead(20, 0, 0)
    damage(store, leads, damaged, reasons="[oops")
    output = tmp_path / "leads.csv"

    done = leadq("export", "--format", "generic", "--output", str(output), "--database", store.url)

    assert done.returncode == 1
    assert done.stderr == f"error: {reasons_error(damaged, '[oops')}\n"
    assert not output.exists()


def test_report_names_damaged_lead(rows, store):
    damaged = rows.scored_lead(80, 10, 0)
    rows.outcome(damaged, T0 + HOUR)
    damage(store, leads, damaged, attributes="{not json")

    done = leadq("report", "--database", store.url)

    assert done.returncode == 1
    assert done.stderr == f"error: {attributes_error(damaged)}\n"


def damaged_leads_error(rows: int, leads: int, outcome: str) -> str:
    return (
        f"{rows} stored rows of {leads} leads do not contain the JSON they should, so {outcome}; "
        "repair each one and run the command again:"
    )


def test_export_names_every_damaged_lead(rows, store, tmp_path):
    first, second = rows.scored_lead(80, 10, 0), rows.scored_lead(50, 0, 0)
    rows.scored_lead(20, 0, 0)
    damage(store, leads, first, reasons="[oops", attributes="[1]")
    damage(store, leads, second, attributes="{not json")
    output = tmp_path / "leads.csv"

    done = leadq("export", "--format", "generic", "--output", str(output), "--database", store.url)

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {damaged_leads_error(3, 2, 'nothing was exported')}",
        f"error: {attributes_error(first, '[1]')}",
        f"error: {reasons_error(first, '[oops')}",
        f"error: {attributes_error(second)}",
    ]
    assert not output.exists()


def test_export_counts_damaged_rows_beyond_cap(rows, store, tmp_path):
    damaged = [rows.scored_lead(80, 10, 0, attributes="[1]") for _ in range(MAX_LISTED + 2)]

    done = leadq("export", "--format", "generic", "--database", store.url)

    lines = done.stderr.splitlines()
    assert done.returncode == 1
    assert done.stdout == ""
    assert lines[0] == f"error: {damaged_leads_error(MAX_LISTED + 2, MAX_LISTED + 2, 'nothing was exported')}"
    assert lines[1:-1] == [f"error: {attributes_error(lead_id, '[1]')}" for lead_id in damaged[:MAX_LISTED]]
    assert lines[-1] == "error: and 2 more damaged rows, which the command lists once these are repaired"


def test_report_names_every_damaged_lead(rows, store, tmp_path):
    first, second, third = rows.lead(), rows.lead(), rows.lead()
    rows.outcome(first, T0 + HOUR)
    damage(store, leads, first, attributes="{not json")
    event_id = rows.event(second, "demo_requested", T0)
    damage(store, events, event_id, properties="[oops")
    qualification_id = rows.qualification(third, T0, {})
    damage(store, qualifications, qualification_id, answers="{oops")
    html = tmp_path / "report.html"

    done = leadq("report", "--html", str(html), "--database", store.url)

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {damaged_leads_error(3, 3, 'no report was written')}",
        f"error: {attributes_error(first)}",
        f"error: {properties_error(event_id, second, '[oops')}",
        f"error: {answers_error(qualification_id, third, '{oops')}",
    ]
    assert not html.exists()


LEADS = """email,title,company_size,phone
ana@acme.example,VP Marketing,250,555-0100
bob@corp.example,Manager,40,
"""
# Per kind: the file, and the lines that write to ana's lead.
IMPORTS = {
    "leads": (LEADS, [2]),
    "events": (
        "event_id,email,event,timestamp\n"
        "e1,bob@corp.example,demo_requested,2026-11-25T10:00:00Z\n"
        "e2,ana@acme.example,demo_requested,2026-11-25T10:00:00Z\n"
        "e3,ana@acme.example,page_viewed,2026-11-26T10:00:00Z\n",
        [3, 4],
    ),
    "outcomes": (
        "email,outcome,at\n"
        "ana@acme.example,won,2026-11-20T00:00:00Z\n"
        "bob@corp.example,lost,2026-11-20T00:00:00Z\n",
        [2],
    ),
}


@pytest.mark.parametrize("kind", sorted(IMPORTS))
def test_import_rejects_rows_of_damaged_lead(store, tmp_path, kind):
    first = tmp_path / "first.csv"
    first.write_text(LEADS, encoding="utf-8")
    assert leadq("import", "leads", str(first), "--database", store.url).returncode == 0
    ana = lead_id_of(store, "ana@acme.example")
    damage(store, leads, ana, attributes="{not json")
    text, lines = IMPORTS[kind]
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")

    done = leadq("import", kind, str(path), "--database", store.url)

    assert done.returncode == 1, done.stderr
    for line in lines:
        assert f"rejected: {path}, line {line}: {attributes_error(ana)}\n" in done.stdout
    assert done.stdout.count("rejected: ") == len(lines)
    rejected = "1 row was" if len(lines) == 1 else f"{len(lines)} rows were"
    assert done.stderr == f"{path}: {rejected} rejected and the other rows imported; fix the rows listed above\n"
    bob = lead_id_of(store, "bob@corp.example")
    if kind == "events":
        assert count(store, events, events.c.lead_id == bob) == 1
        assert count(store, events, events.c.lead_id == ana) == 0
    if kind == "outcomes":
        assert count(store, outcomes, outcomes.c.lead_id == bob) == 1
        assert count(store, outcomes, outcomes.c.lead_id == ana) == 0


def test_import_of_only_damaged_lead_stores_nothing(store, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(LEADS, encoding="utf-8")
    assert leadq("import", "leads", str(first), "--database", store.url).returncode == 0
    ana = lead_id_of(store, "ana@acme.example")
    damage(store, leads, ana, attributes="{not json")
    path = tmp_path / "ana.csv"
    path.write_text("email,title,company_size,phone\nana@acme.example,CEO,300,\n", encoding="utf-8")

    done = leadq("import", "leads", str(path), "--database", store.url)

    assert done.returncode == 2
    assert f"rejected: {path}, line 2: {attributes_error(ana)}\n" in done.stdout
    assert done.stderr == (
        f"error: {path}: every row was rejected, so nothing was imported; fix the rows listed above\n"
    )
    assert stored_attributes(store, "ana@acme.example") == "{not json"


# Events


DAMAGED_PROPERTIES = ["{oops", "[1, 2]", '"page"', "null"]


@pytest.mark.parametrize("text", DAMAGED_PROPERTIES)
def test_rescore_names_damaged_event(rows, store, text):
    damaged = rows.lead()
    other = rows.lead()
    event_id = rows.event(damaged, "page_viewed", T0, properties=text)
    rows.event(other, "page_viewed", T0, properties='{"path": "/pricing"}')

    report = rescore_all(store)

    assert report.failed == {damaged: properties_error(event_id, damaged, text)}
    assert report.leads == 1
    assert rows.record(damaged)["scored_at"] is None
    assert rows.record(other)["scored_at"] is not None


def test_rescore_command_names_damaged_event(rows, store):
    damaged = rows.lead()
    rows.lead()
    event_id = rows.event(damaged, "page_viewed", T0, properties="{oops")

    done = leadq("rescore", "--database", store.url)

    assert done.returncode == 1
    failed = f"rescore of lead {damaged} failed, so it keeps its old scores: "
    assert f"{failed}{properties_error(event_id, damaged, '{oops')}\n" in done.stderr
    assert "1 of the leads failed and the others were rescored" in done.stderr


def test_track_with_damaged_event_fails_alone(server, keys, rows, store):
    ingest_messages(store, [Message("identify", "m-1", user_id="u1"), Message("identify", "m-2", user_id="u2")])
    damaged, other = lead_id_of(store, "u1"), lead_id_of(store, "u2")
    event_id = rows.event(damaged, "page_viewed", T0, properties="[oops")
    auth = (keys.write, "")

    with httpx.Client(base_url=server, auth=auth, trust_env=False, timeout=30) as http:
        failed = http.post("/v1/track", json={"userId": "u1", "event": "demo_requested"})
        stored = http.post("/v1/track", json={"userId": "u2", "event": "demo_requested"})

    assert failed.status_code == 500
    message = properties_error(event_id, damaged, "[oops")
    assert failed.json() == {"error": {"code": "damaged_lead", "message": message}}
    assert stored.status_code == 200, stored.text
    assert count(store, events, events.c.lead_id == damaged) == 1
    assert count(store, events, events.c.lead_id == other) == 1


@pytest.mark.parametrize("text", ["{oops", "[1]"])
def test_lead_record_shows_damaged_event_empty(client, rows, store, caplog, text):
    lead_id = rows.scored_lead(80, 10, 0)
    event_id = rows.event(lead_id, "page_viewed", T0, properties=text)

    answer = client.get(f"/api/leads/{lead_id}")

    assert answer.status_code == 200, answer.text
    assert [event["id"] for event in answer.json()["recent_events"]] == [event_id]
    assert answer.json()["recent_events"][0]["properties"] == {}
    logged = f"the record of lead {lead_id} shows event {event_id} with no properties: "
    assert logged + properties_error(event_id, lead_id, text) in caplog.messages


def test_report_names_damaged_event(rows, store):
    lead_id = rows.scored_lead(80, 10, 0)
    rows.outcome(lead_id, T0 + HOUR)
    event_id = rows.event(lead_id, "page_viewed", T0, properties="{oops")

    done = leadq("report", "--database", store.url)

    assert done.returncode == 1
    assert done.stderr == f"error: {properties_error(event_id, lead_id, '{oops')}\n"


def test_import_with_damaged_event_rejects_rows(store, rows, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(LEADS, encoding="utf-8")
    assert leadq("import", "leads", str(first), "--database", store.url).returncode == 0
    ana, bob = lead_id_of(store, "ana@acme.example"), lead_id_of(store, "bob@corp.example")
    event_id = rows.event(ana, "page_viewed", T0, properties="{oops")
    text, lines = IMPORTS["events"]
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8")

    done = leadq("import", "events", str(path), "--database", store.url)

    assert done.returncode == 1, done.stderr
    for line in lines:
        assert f"rejected: {path}, line {line}: {properties_error(event_id, ana, '{oops')}\n" in done.stdout
    assert count(store, events, events.c.lead_id == bob) == 1
    assert count(store, events, events.c.lead_id == ana) == 1


# Qualifications


DAMAGED_QUALIFICATIONS = [
    ("answers", "{oops", answers_error),
    ("answers", "[]", answers_error),
    ("answers", '{"budget": "confirmed"}', answers_error),
    ("answers", '{"budget": {"note": null}}', answers_error),
    ("answers", '{"budget": {"value": {"unit": "EUR"}, "note": null}}', answers_error),
    ("answers", '{"budget": {"value": "confirmed", "note": 7}}', answers_error),
    ("reasons", "[oops", qualification_reasons_error),
    ("reasons", '[{"rule": "budget"}]', qualification_reasons_error),
]


@pytest.mark.parametrize(("column", "text", "expected"), DAMAGED_QUALIFICATIONS)
def test_qualification_history_names_damaged_column(client, rows, store, column, text, expected):
    lead_id = rows.lead()
    rows.qualification(lead_id, T0, {"budget": "confirmed"})
    damaged = rows.qualification(lead_id, T0 + HOUR, {"need": 2})
    damage(store, qualifications, damaged, **{column: text})

    answer = client.get(f"/api/leads/{lead_id}/qualifications")

    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "damaged_lead", "message": expected(damaged, lead_id, text)}}


def test_qualification_history_keeps_amount_answer(client, rows, store):
    lead_id = rows.lead()
    amount = {"value": {"amount": 50000.0, "unit": "EUR"}, "note": "approved"}
    qualification_id = rows.qualification(lead_id, T0, {})
    damage(store, qualifications, qualification_id, answers=json.dumps({"budget": amount}))

    answer = client.get(f"/api/leads/{lead_id}/qualifications")

    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][0]["answers"] == {"budget": amount}


def test_rescore_names_damaged_answers(rows, store):
    damaged = rows.lead()
    other = rows.lead()
    qualification_id = rows.qualification(damaged, T0, {})
    damage(store, qualifications, qualification_id, answers="{oops")
    rows.qualification(other, T0, {"budget": "confirmed"})

    report = rescore_all(store)

    assert report.failed == {damaged: answers_error(qualification_id, damaged, "{oops")}
    assert report.leads == 1
    assert rows.record(other)["scored_at"] is not None


def test_answers_repair_leaves_consistent_lead(rows, store):
    lead_id = rows.lead()
    recorded = record_for_lead(store, lead_id, "bant", BANT_PASSED, "Sam Seller")
    assert recorded.stage == "sql"
    damage(store, qualifications, recorded.qualification.id, answers="oops")
    repair = rescore_all(store).failed[lead_id].split("`")[1]

    with store.write() as connection:
        for statement in filter(str.strip, repair.split(";")):
            connection.exec_driver_sql(statement)
    report = rescore_all(store)

    assert report.failed == {}
    assert count(store, qualifications) == 0
    assert count(store, stage_history, stage_history.c.lead_id == lead_id) == 1
    # sql is sticky, so the lead keeps it, and its rule no longer names the removed BANT.
    assert rows.record(lead_id)["stage"] == "sql"
    assert rows.record(lead_id)["stage_rule"] == "sticky"


def test_qualify_command_names_damaged_answers(rows, store, tmp_path):
    lead_id = rows.lead(email="ana@acme.example")
    qualification_id = rows.qualification(lead_id, T0, {})
    damage(store, qualifications, qualification_id, answers="[]")
    path = tmp_path / "answers.yaml"
    path.write_text("answers:\n  budget: confirmed\n", encoding="utf-8")

    done = leadq("qualify", "ana@acme.example", "--answers", str(path), "--database", store.url)

    assert done.returncode == 1
    assert done.stderr == f"error: {answers_error(qualification_id, lead_id, '[]')}\n"
    assert count(store, qualifications) == 1


def test_qualify_report_names_damaged_answers(rows, store):
    lead_id = rows.lead()
    rows.qualification(rows.lead(), T0, {"budget": "confirmed"})
    text = '{"budget": 1}'
    qualification_id = rows.qualification(lead_id, T0, {})
    damage(store, qualifications, qualification_id, answers=text)

    done = leadq("qualify-report", "--database", store.url)

    assert done.returncode == 1
    assert done.stderr == f"error: {answers_error(qualification_id, lead_id, text)}\n"
