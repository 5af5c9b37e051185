"""`leadq import` as a real subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from leadq.errors import InputError
from leadq.model.loading import default_model_text
from leadq.scoring import micros_since_epoch, score_files
from leadq.service.event_times import FUTURE_TOLERANCE_MICROS
from leadq.service.imports import import_file
from leadq.service.ingest import Message, ingest_messages
from leadq.store.database import now_micros
from leadq.store.tables import events, identities, leads, outbox, outcomes, stage_history
from tests.service.servers import leadq

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo"
AS_OF = "2026-12-01T00:00:00Z"
JSON_LINE_FIX = 'write the line as one JSON object, such as {"email": "ana@example.com"}'
SURROGATE_FIX = "which is not valid Unicode text; remove it or replace it with the intended character"

LEADS = """email,title,company_size,phone
ana@acme.example,VP Marketing,250,555-0100
,CEO,10,555-0101
bob@corp.example,Manager,lots,
eve@corp.example,CTO,40,
"""
EVENTS = """event_id,email,event,timestamp,properties
e1,ana@acme.example,demo_requested,2026-11-25T10:00:00Z,
e2,ana@acme.example,page_viewed,2026-11-26,"{""url"": ""/pricing""}"
e3,ana@acme.example,page_viewed,2026-11-26T10:00:00Z,{not json
e4,ana@acme.example,,2026-11-26T10:00:00Z,
e5,new@lead.example,email_opened,2026-11-27T10:00:00+01:00,
"""


def run_import(store, kind: str, path: Path, *extra: str):
    return leadq("import", kind, str(path), "--database", store.url, *extra, cwd=path.parent)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def count(store, table) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def stored_leads(store) -> dict[str, dict]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(leads).where(leads.c.merged_into.is_(None))).all()
    return {row.lead_key: row._asdict() for row in rows}


def counted(output: str, label: str) -> int:
    found = re.search(rf"{label}\s*│\s*([\d,]+)", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def partial_import_code(done) -> int:
    """Return the exit code of an import that read its file: 1 when it rejected rows."""
    return 1 if counted(done.stdout, "rows rejected") else 0


def test_demo_import_matches_score(store, tmp_path):
    # A sticky stage in the store can keep what the import's rescore (as of
    # now, after 2026-12-01) reached, but files are scored afresh. So the
    # test compares with the default model made non-sticky.
    model = write(tmp_path, "model.yaml", default_model_text().replace("sticky: true", "sticky: false"))
    assert leadq("model", "activate", str(model), "--database", store.url).returncode == 0

    done = run_import(store, "leads", DEMO / "leads.csv")
    assert done.returncode == 0, done.stderr
    assert counted(done.stdout, "leads created") == 300
    started = now_micros()
    done = run_import(store, "events", DEMO / "events.csv")
    finished = now_micros()
    # The demo has events after its as-of time. Those more than a day after
    # the clock are rejected, and the others do not count as of AS_OF.
    rejected = counted(done.stdout, "rows rejected")
    assert done.returncode == partial_import_code(done), done.stderr
    assert demo_events_after(finished + FUTURE_TOLERANCE_MICROS) <= rejected
    assert rejected <= demo_events_after(started + FUTURE_TOLERANCE_MICROS)
    done = leadq("rescore", "--as-of", AS_OF, "--database", store.url)
    assert done.returncode == 0, done.stderr

    scored = leadq("score", str(DEMO / "leads.csv"), "--events", str(DEMO / "events.csv"),
                   "--model", str(model), "--as-of", "2026-12-01", "--format", "csv", cwd=tmp_path)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    stored = stored_leads(store)
    rows = list(csv.DictReader(scored.stdout.splitlines()))
    assert len(rows) == 300
    for row in rows:
        lead = stored[row["lead_id"]]
        total = float(row["fit_score"]) + float(row["engagement_score"]) + float(row["product_score"])
        assert lead["stage"] == row["stage"], row["lead_id"]
        assert lead["total"] == pytest.approx(total, abs=1e-6), row["lead_id"]


def demo_events_after(micros: int) -> int:
    """Count the demo events dated after a time in UTC microseconds."""
    with (DEMO / "events.csv").open(encoding="utf-8") as handle:
        times = [datetime.fromisoformat(row["timestamp"]) for row in csv.DictReader(handle)]
    return sum(micros_since_epoch(moment) > micros for moment in times)


def test_bad_lead_rows_rejected_with_lines(store, tmp_path):
    done = run_import(store, "leads", write(tmp_path, "leads.csv", LEADS))
    assert done.returncode == 1, done.stderr
    assert done.stderr.endswith("rows were rejected and the other rows imported; fix the rows listed above\n")
    assert "leads.csv, line 3, column 'email': the lead key 'email' is empty" in done.stdout
    assert "leads.csv, line 4, column 'company_size': 'lots' is not a number" in done.stdout
    assert counted(done.stdout, "rows read") == 4
    assert counted(done.stdout, "rows rejected") == 2
    assert counted(done.stdout, "leads created") == 2
    assert set(stored_leads(store)) == {"ana@acme.example", "eve@corp.example"}


def test_rejection_names_file_column(store, tmp_path):
    text = "email,Employees,Job Title\nana@acme.example,lots,CEO\nbob@acme.example,10,C\x00TO\neve@corp.example,5,CTO\n"
    done = run_import(store, "leads", write(tmp_path, "leads.csv", text))
    assert done.returncode == 1, done.stderr
    assert "leads.csv, line 2, column 'Employees': 'lots' is not a number" in done.stdout
    assert "leads.csv, line 3, column 'Job Title': the value 'C\\x00TO' contains a NUL character" in done.stdout
    assert set(stored_leads(store)) == {"eve@corp.example"}


def test_bad_event_rows_rejected_with_lines(store, tmp_path):
    done = run_import(store, "events", write(tmp_path, "events.csv", EVENTS))
    assert done.returncode == 1, done.stderr
    assert "line 3, column 'timestamp': timestamp '2026-11-26' has no UTC offset" in done.stdout
    assert "line 4, column 'properties': invalid JSON '{not json'" in done.stdout
    assert "line 5, column 'event': the event name is empty" in done.stdout
    assert counted(done.stdout, "events stored") == 2
    assert counted(done.stdout, "rows rejected") == 3
    # Events of a key with no lead create the lead.
    assert set(stored_leads(store)) == {"ana@acme.example", "new@lead.example"}
    assert count(store, events) == 2


def test_parquet_rows_cite_row_numbers(store, tmp_path):
    path = tmp_path / "events.parquet"
    table = pa.table({
        "email": ["ana@acme.example", "ana@acme.example"],
        "event": ["demo_requested", "page_viewed"],
        "timestamp": ["2026-11-25T10:00:00Z", "yesterday"],
    })  # fmt: skip
    pq.write_table(table, path)
    done = run_import(store, "events", path)
    assert done.returncode == 1, done.stderr
    assert "events.parquet, row 2, column 'timestamp': invalid timestamp 'yesterday'" in done.stdout


def test_timezone_option_reads_local_times(store, tmp_path):
    text = "email,event,timestamp\nana@acme.example,demo_requested,2026-11-25T10:00:00\n"
    done = run_import(store, "events", write(tmp_path, "events.csv", text), "--timezone", "Europe/Berlin")
    assert done.returncode == 0, done.stderr
    with store.engine.connect() as connection:
        ts = connection.execute(select(events.c.ts)).scalar_one()
    assert ts == 1_795_597_200_000_000  # 2026-11-25T09:00:00Z


def test_last_row_wins(store, tmp_path):
    text = (
        "email,title,company_size,phone\n"
        "ANA@acme.example ,Intern,5,555-0100\n"
        "ana@acme.example,VP Marketing,250,\n"
    )
    done = run_import(store, "leads", write(tmp_path, "leads.csv", text))
    assert done.returncode == 0, done.stderr
    assert counted(done.stdout, "rows superseded") == 1
    assert "the last row of each key was imported" in done.stdout
    lead = stored_leads(store)["ana@acme.example"]
    attributes = json.loads(lead["attributes"])
    assert attributes["title"] == "VP Marketing"
    assert attributes["company_size"] == "250"
    assert "phone" not in attributes


def test_blank_cells_keep_stored_attributes(store, tmp_path):
    first = "email,title,company_size,phone\nana@acme.example,Intern,5,555-0100\n"
    second = "email,title,company_size,phone\nana@acme.example,VP Marketing,,\n"
    assert run_import(store, "leads", write(tmp_path, "first.csv", first)).returncode == 0
    done = run_import(store, "leads", write(tmp_path, "second.csv", second))
    assert done.returncode == 0, done.stderr
    assert counted(done.stdout, "leads updated") == 1
    assert counted(done.stdout, "leads created") == 0
    attributes = json.loads(stored_leads(store)["ana@acme.example"]["attributes"])
    assert attributes == {
        "email": "ana@acme.example", "title": "VP Marketing", "company_size": "5", "phone": "555-0100",
    }  # fmt: skip


def test_reimported_events_stored_once(store, tmp_path):
    text = (
        "email,event,timestamp,properties\n"
        "ana@acme.example,page_viewed,2026-11-25T10:00:00Z,\n"
        "ana@acme.example,page_viewed,2026-11-25T10:00:00Z,\n"
        'ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""url"": ""/pricing""}"\n'
    )
    path = write(tmp_path, "events.csv", text)
    done = run_import(store, "events", path)
    assert done.returncode == 0, done.stderr
    # Two equal rows without ids are two events, as `leadq score` counts them.
    assert counted(done.stdout, "events stored") == 3
    done = run_import(store, "events", path)
    assert done.returncode == 0, done.stderr
    assert counted(done.stdout, "events stored") == 0
    assert counted(done.stdout, "events repeated") == 3
    assert count(store, events) == 3


def test_demo_events_reimport_stores_nothing(store, tmp_path):
    first = run_import(store, "events", DEMO / "events.csv")
    assert first.returncode == partial_import_code(first), first.stderr
    stored = count(store, events)
    done = run_import(store, "events", DEMO / "events.csv")
    assert done.returncode == partial_import_code(done), done.stderr
    assert counted(done.stdout, "events stored") == 0
    assert count(store, events) == stored


def test_message_id_shared_with_tracking_api(store, tmp_path):
    message = Message("track", "m-1", user_id="u1", event="demo_requested", traits={"email": "ana@acme.example"})
    ingest_messages(store, [message])
    text = "messageId,email,event,timestamp\nm-1,ana@acme.example,demo_requested,2026-11-25T10:00:00Z\n"
    done = run_import(store, "events", write(tmp_path, "events.csv", text))
    assert done.returncode == 0, done.stderr
    assert counted(done.stdout, "events repeated") == 1
    assert count(store, events) == 1


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("leads.csv", "name,title,company_size\nAna,CEO,10\n", "leads.csv: missing column 'email', the lead key"),
        ("leads.csv", "email,Title,title\nana@acme.example,CEO,CTO\n",
         "leads.csv: the columns 'Title', 'title' all become the lead field 'job_title'; their names differ only "
         "in case, which leadq ignores, so rename or remove all but one of them"),
        ("events.csv", "email,event\nana@acme.example,demo_requested\n",
         "events.csv: missing the timestamp column (expected 'timestamp')"),
        ("leads.xlsx", "email\nana@acme.example\n", "leads.xlsx: unsupported file type"),
    ],
)  # fmt: skip
def test_file_error_stores_nothing(store, tmp_path, name, text, message):
    kind = "events" if name.startswith("events") else "leads"
    done = run_import(store, kind, write(tmp_path, name, text))
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr
    assert message in " ".join(done.stderr.split())
    assert count(store, leads) == 0
    assert count(store, events) == 0


def test_absent_columns_keep_stored_values(store, tmp_path):
    full = "email,title,company_size,phone\nana@acme.example,Manager,250,555-0100\n"
    assert run_import(store, "leads", write(tmp_path, "full.csv", full)).returncode == 0
    partial = "email,Title\nana@acme.example,CEO\nnew@acme.example,CTO\n"
    done = run_import(store, "leads", write(tmp_path, "partial.csv", partial))
    assert done.returncode == 0, done.stderr
    output = " ".join(done.stdout.split())
    missing = "stored values stay, and rules see a field as missing for leads without a stored value"
    assert (
        f"note: the model reads the lead fields 'company', 'country', 'industry', 'phone', which the file "
        f"lacks; {missing}"
    ) in output
    assert (
        "note: the file lacks the column 'company_size', which the model's `columns:` maps to the lead field "
        f"'employees'; {missing}"
    ) in output
    by_key = stored_leads(store)
    ana, new = by_key["ana@acme.example"], by_key["new@acme.example"]
    assert json.loads(ana["attributes"]) == {
        "email": "ana@acme.example", "title": "CEO", "company_size": "250", "phone": "555-0100",
    }  # fmt: skip
    assert json.loads(new["attributes"]) == {"email": "new@acme.example", "title": "CTO"}
    # Ana: decision maker +25, 50 to 5000 employees +25, no company -10.
    assert ana["fit"] == 40.0
    # New: decision maker +25, no phone -5, no company -10.
    assert new["fit"] == 10.0


def test_missing_file_is_an_error(store, tmp_path):
    done = run_import(store, "leads", tmp_path / "nowhere.csv")
    assert done.returncode == 2
    assert "nowhere.csv: file not found" in done.stderr


def test_every_row_rejected_exits_2(store, tmp_path):
    text = "email,title,company_size\n,CEO,10\nbob@corp.example,CEO,many\n"
    done = run_import(store, "leads", write(tmp_path, "leads.csv", text))
    assert done.returncode == 2
    assert "line 2, column 'email'" in done.stdout
    assert "every row was rejected, so nothing was imported" in done.stderr
    assert count(store, leads) == 0


def test_outcomes(store, tmp_path):
    leads_text = "email,title,company_size\nana@acme.example,CEO,250\neve@corp.example,CTO,40\n"
    assert run_import(store, "leads", write(tmp_path, "leads.csv", leads_text)).returncode == 0
    text = (
        "email,outcome,at,value\n"
        "ANA@acme.example,won,2026-11-30T10:00:00Z,12000\n"
        "bob@corp.example,won,2026-11-30T10:00:00Z,\n"
        "eve@corp.example,lost,,\n"
        "eve@corp.example,won,2026-11-30T10:00:00Z,12k\n"
        "eve@corp.example,,2026-11-30T10:00:00Z,\n"
        "eve@corp.example,won,2099-01-01T00:00:00Z,\n"
        "eve@corp.example,maybe,2026-11-30T10:00:00Z,\n"
    )
    path = write(tmp_path, "outcomes.csv", text)
    done = run_import(store, "outcomes", path)
    assert done.returncode == 1, done.stderr
    assert "line 3, column 'email': no lead has the key 'bob@corp.example'" in done.stdout
    assert "line 5, column 'value': '12k' is not a number, but an outcome's value is an amount of money" in done.stdout
    assert "line 6, column 'outcome': the outcome is empty" in done.stdout
    assert "line 7, column 'at': outcome time '2099-01-01T00:00:00Z' is more than a day after" in done.stdout
    assert "line 8, column 'outcome': 'maybe' is not an outcome; write one of 0, 1, converted," in done.stdout
    assert counted(done.stdout, "outcomes stored") == 2
    by_key = {key: lead["id"] for key, lead in stored_leads(store).items()}
    with store.engine.connect() as connection:
        rows = connection.execute(select(outcomes).order_by(outcomes.c.id)).all()
    assert [(row.lead_id, row.outcome, row.value, row.source) for row in rows] == [
        (by_key["ana@acme.example"], "won", 12000.0, "import"),
        (by_key["eve@corp.example"], "lost", None, "import"),
    ]
    assert rows[0].at == 1_796_032_800_000_000  # 2026-11-30T10:00:00Z

    # An outcome at a given time is stored once, however often it is imported.
    done = run_import(store, "outcomes", path)
    assert counted(done.stdout, "outcomes repeated") == 1


def test_user_id_key_links_email(store, tmp_path):
    model = default_model_text().replace("key: email ", "key: lead_id")
    assert leadq("model", "activate", str(write(tmp_path, "model.yaml", model)), "--database", store.url).returncode == 0
    text = "lead_id,email,title,company_size\n L-1 ,Ana@Acme.example,CEO,250\n"
    done = run_import(store, "leads", write(tmp_path, "leads.csv", text))
    assert done.returncode == 0, done.stderr
    lead = stored_leads(store)["L-1"]
    assert lead["email"] == "ana@acme.example"
    with store.engine.connect() as connection:
        lead_identities = dict(connection.execute(select(identities.c.kind, identities.c.value)).all())
    assert lead_identities == {"user_id": "L-1", "email": "ana@acme.example"}


def test_import_records_stage_changes(store, tmp_path):
    leads_text = "email,title,company_size,industry,country\nana@acme.example,VP Sales,250,Software,Germany\n"
    assert run_import(store, "leads", write(tmp_path, "leads.csv", leads_text)).returncode == 0
    with store.engine.connect() as connection:
        causes = connection.execute(select(stage_history.c.cause)).scalars().all()
    assert causes == ["import"]


def test_import_merge_rescored_as_merge(store, tmp_path):
    model = default_model_text().replace("key: email ", "key: lead_id")
    assert leadq("model", "activate", str(write(tmp_path, "model.yaml", model)), "--database", store.url).returncode == 0
    first = "lead_id,email,title,company_size\nL-1,ana@acme.example,VP Sales,250\n"
    assert run_import(store, "leads", write(tmp_path, "first.csv", first)).returncode == 0
    # L-2 has L-1's email, so the import merges L-2 into L-1, and L-2's title
    # disqualifies L-1.
    second = "lead_id,email,title,company_size\nL-2,ana@acme.example,Student,250\n"
    subscribe = ("webhooks", "add", "http://127.0.0.1:9/merged", "--event", "lead.merged")
    assert leadq(*subscribe, "--database", store.url).returncode == 0

    done = run_import(store, "leads", write(tmp_path, "second.csv", second))

    assert done.returncode == 0, done.stderr
    with store.engine.connect() as connection:
        ids = dict(connection.execute(select(leads.c.lead_key, leads.c.id)).all())
        payloads = connection.execute(select(outbox.c.payload).where(outbox.c.event_type == "lead.merged")).scalars().all()
        history = connection.execute(
            select(stage_history.c.lead_id, stage_history.c.cause, stage_history.c.reason).order_by(stage_history.c.id)
        ).all()
    assert [tuple(row) for row in history] == [
        (ids["L-1"], "import", None),
        (ids["L-1"], "merge", f"merged lead {ids['L-2']}"),
    ]
    assert len(payloads) == 1
    merged = json.loads(payloads[0])["data"]
    assert (merged["lead"]["id"], merged["merged_lead_id"]) == (ids["L-1"], ids["L-2"])
    assert merged["stage"] == "disqualified"


def test_bad_emails_rejected_with_lines(store, tmp_path):
    text = (
        "email,title,company_size\n"
        "ana@acme.example,CEO,250\n"
        "not-an-email,CTO,40\n"
        "bob@corp,CFO,10\n"
        "eve@corp.example,CMO,12\n"
    )
    done = run_import(store, "leads", write(tmp_path, "leads.csv", text))
    assert done.returncode == 1, done.stderr
    output = " ".join(done.stdout.split())
    assert (
        "leads.csv, line 3, column 'email': the lead key 'not-an-email' is not an email address; "
        "write an address such as ana@example.com, or remove the row"
    ) in output
    assert "leads.csv, line 4, column 'email': the lead key 'bob@corp' is not an email address" in output
    assert counted(done.stdout, "rows rejected") == 2
    assert set(stored_leads(store)) == {"ana@acme.example", "eve@corp.example"}


def test_bad_email_column_rejected(store, tmp_path):
    model = default_model_text().replace("key: email ", "key: lead_id")
    assert leadq("model", "activate", str(write(tmp_path, "model.yaml", model)), "--database", store.url).returncode == 0
    text = "lead_id,email,title,company_size\nL-1,ana@acme.example,CEO,250\nL-2,,CTO,40\nL-3,ana at acme,CFO,10\n"
    done = run_import(store, "leads", write(tmp_path, "leads.csv", text))
    assert done.returncode == 1, done.stderr
    output = " ".join(done.stdout.split())
    assert (
        "leads.csv, line 4, column 'email': 'ana at acme' is not an email address; "
        "write an address such as ana@example.com, or leave the cell empty"
    ) in output
    assert counted(done.stdout, "rows rejected") == 1
    stored = stored_leads(store)
    assert set(stored) == {"L-1", "L-2"}
    assert stored["L-2"]["email"] is None


def test_bad_email_key_rejects_event(store, tmp_path):
    text = "email,event,timestamp\nana@acme.example,demo_requested,2026-11-25T10:00:00Z\n,ping,x\nana,ping,2026-11-25T10:00:00Z\n"
    done = run_import(store, "events", write(tmp_path, "events.csv", text))
    assert done.returncode == 1, done.stderr
    assert "events.csv, line 4, column 'email': the lead key 'ana' is not an email address" in done.stdout
    assert counted(done.stdout, "events stored") == 1
    assert set(stored_leads(store)) == {"ana@acme.example"}


def test_future_events_rejected_with_lines(store, tmp_path):
    soon = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    text = (
        "email,event,timestamp\n"
        "ana@acme.example,demo_requested,2099-01-01T00:00:00Z\n"
        f"ana@acme.example,page_viewed,{soon}\n"
        "ana@acme.example,page_viewed,2026-11-25T10:00:00Z\n"
    )
    done = run_import(store, "events", write(tmp_path, "events.csv", text))
    assert done.returncode == 1, done.stderr
    output = " ".join(done.stdout.split())
    assert (
        "events.csv, line 2, column 'timestamp': timestamp '2099-01-01T00:00:00Z' is more than a day "
        "after this machine's clock ("
    ) in output
    assert "use the time the event happened, with its UTC offset" in output
    assert counted(done.stdout, "rows rejected") == 1
    assert counted(done.stdout, "events stored") == 2
    with store.engine.connect() as connection:
        latest = connection.execute(select(func.max(events.c.ts))).scalar_one()
    assert latest < now_micros() + FUTURE_TOLERANCE_MICROS


def test_events_outside_years_rejected(store, tmp_path):
    text = (
        "email,event,timestamp\n"
        "ana@acme.example,demo_requested,0000-12-01T00:00:00Z\n"
        "ana@acme.example,page_viewed,1969-12-31T23:59:59Z\n"
        "ana@acme.example,page_viewed,9999-12-31T23:00:00-05:00\n"
        "ana@acme.example,page_viewed,1970-01-01T00:00:00Z\n"
    )
    done = run_import(store, "events", write(tmp_path, "events.csv", text))

    assert done.returncode == 1, done.stderr
    output = " ".join(done.stdout.split())
    fix = "is outside the years 1970 to 9999 in UTC; use the time the event happened, with its UTC offset"
    assert f"events.csv, line 2, column 'timestamp': timestamp '0000-12-01T00:00:00Z' {fix}" in output
    assert f"events.csv, line 3, column 'timestamp': timestamp '1969-12-31T23:59:59Z' {fix}" in output
    assert f"events.csv, line 4, column 'timestamp': timestamp '9999-12-31T23:00:00-05:00' {fix}" in output
    assert counted(done.stdout, "rows rejected") == 3
    assert counted(done.stdout, "events stored") == 1
    with store.engine.connect() as connection:
        assert connection.execute(select(events.c.ts)).scalars().all() == [0]


def test_outcome_outside_years_rejected(store, tmp_path):
    leads_text = "email,title,company_size\nana@acme.example,CEO,250\n"
    assert run_import(store, "leads", write(tmp_path, "leads.csv", leads_text)).returncode == 0
    text = "email,outcome,at\nana@acme.example,won,0000-12-01T00:00:00Z\n"

    done = run_import(store, "outcomes", write(tmp_path, "outcomes.csv", text))

    assert done.returncode == 2
    output = " ".join(done.stdout.split())
    assert (
        "outcomes.csv, line 2, column 'at': outcome time '0000-12-01T00:00:00Z' is outside the "
        "years 1970 to 9999 in UTC; use the time the event happened, with its UTC offset"
    ) in output
    assert count(store, outcomes) == 0


def test_overflowing_number_rejected(store, tmp_path):
    text = "email,title,company_size,phone\nana@acme.example,CEO,1e400,\neve@corp.example,CTO,250,\n"
    done = run_import(store, "leads", write(tmp_path, "leads.csv", text))
    assert done.returncode == 1, done.stderr
    assert "leads.csv, line 2, column 'company_size': '1e400' is not a finite number" in done.stdout
    assert set(stored_leads(store)) == {"eve@corp.example"}


def test_unstorable_event_values_rejected(store, tmp_path):
    text = (
        "event_id,email,event,timestamp,properties\n"
        'n1,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""n"": 1e400}"\n'
        'n2,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""n"": NaN}"\n'
        'n3,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""note"": ""a\\u0000b""}"\n'
        "n4,ana@acme.example,page\x00viewed,2026-11-25T10:00:00Z,\n"
        "n5,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,\n"
        'n6,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""url"": ""/a\\ud800""}"\n'
    )
    done = run_import(store, "events", write(tmp_path, "events.csv", text))
    assert done.returncode == 1, done.stderr
    assert (
        "line 2, column 'properties': properties.n is 1e400, a number beyond the range of a double; "
        "write numbers between -1.8e308 and 1.8e308"
    ) in done.stdout
    assert "line 3, column 'properties': properties.n is NaN, which is not valid JSON; write a number or null" in done.stdout
    assert "line 4, column 'properties': properties.note 'a\\x00b' contains a NUL character; remove it" in done.stdout
    assert "line 5, column 'event': the value 'page\\x00viewed' contains a NUL character; remove it" in done.stdout
    assert (
        "line 7, column 'properties': properties.url '/a\\ud800' contains an unpaired UTF-16 surrogate (\\ud800), "
        f"{SURROGATE_FIX}"
    ) in done.stdout
    assert counted(done.stdout, "rows rejected") == 5
    with store.engine.connect() as connection:
        stored = connection.execute(select(events.c.message_id)).scalars().all()
    assert stored == ["n5"]


def rejected_lines(output: str) -> list[str]:
    return [line.removeprefix("rejected: ") for line in output.splitlines() if line.startswith("rejected: ")]


def json_event(event_id: str, **fields) -> str:
    record = {"event_id": event_id, "email": "ana@acme.example", "event": "page_viewed"}
    record |= {"timestamp": "2026-11-25T10:00:00Z"} | fields
    return json.dumps(record)


def test_json_lines_bad_lines_rejected(store, tmp_path):
    text = "\n".join([
        json_event("j1", properties={"plan": "team"}).replace('"team"', '"team", "n": 1e400'),
        json_event("j2"),
        json_event("j3").replace('"email"', '"email": "bob@corp.example", "email"'),
        json_event("j4")[:40],
        "",
        json_event("j5", url="/pricing").replace("/pricing", "\\ud800"),
        json_event("j6", url="/pricing"),
    ]) + "\n"  # fmt: skip
    path = write(tmp_path, "events.jsonl", text)
    done = run_import(store, "events", path)
    assert done.returncode == 1, done.stderr
    assert rejected_lines(done.stdout) == [
        f"{path}, line 1, column 'properties': properties.n is 1e400, a number beyond the range of a double; "
        "write numbers between -1.8e308 and 1.8e308",
        f"{path}, line 3: invalid JSON: duplicate key 'email'; write each key once per object",
        f"{path}, line 4: invalid JSON: Unterminated string starting at column 29; {JSON_LINE_FIX}",
        f"{path}, line 6, column 'url': the value '\\ud800' contains an unpaired UTF-16 surrogate (\\ud800), "
        f"{SURROGATE_FIX}",
    ]
    assert done.stderr == f"{path}: 4 rows were rejected and the other rows imported; fix the rows listed above\n"
    assert counted(done.stdout, "rows read") == 6
    assert counted(done.stdout, "rows rejected") == 4
    with store.engine.connect() as connection:
        stored = connection.execute(select(events.c.message_id).order_by(events.c.message_id)).scalars().all()
    assert stored == ["j2", "j6"]


def test_json_lines_integer_over_int_limit(store, tmp_path):
    # Python's int() rejects integers of over 4,300 digits.
    long = "9" * 5000
    text = "\n".join([
        json_event("j1", seats=1).replace('"seats": 1', f'"seats": {long}'),
        json_event("j2", properties={"n": 1}).replace('"n": 1', f'"n": -{long}'),
        json_event("j3"),
    ]) + "\n"  # fmt: skip
    path = write(tmp_path, "events.jsonl", text)
    done = run_import(store, "events", path)
    assert done.returncode == 1, done.stderr
    assert rejected_lines(done.stdout) == [
        f"{path}, line 1, column 'seats': the value is {'9' * 37}..., a number beyond the range of a double; "
        "write numbers between -1.8e308 and 1.8e308",
        f"{path}, line 2, column 'properties': properties.n is -{'9' * 36}..., a number beyond the range of a "
        "double; write numbers between -1.8e308 and 1.8e308",
    ]
    with store.engine.connect() as connection:
        assert connection.execute(select(events.c.message_id)).scalars().all() == ["j3"]


def test_json_lines_key_problems_reject_line(store, tmp_path):
    text = "\n".join([
        json.dumps({"email": "ana@acme.example", "title": "CEO"}),
        json.dumps({"email": "bob@corp.example", "": "x"}),
        '{"email": "eve@corp.example", "title": "CTO", " title ": "CFO"}',
        json.dumps({"email": "dan@corp.example", " title": "VP"}),
    ]) + "\n"  # fmt: skip
    path = write(tmp_path, "leads.jsonl", text)
    done = run_import(store, "leads", path)
    assert done.returncode == 1, done.stderr
    assert rejected_lines(done.stdout) == [
        f'{path}, line 2: the key \'\' is blank; name the field, such as "title", or remove the key',
        f"{path}, line 3: the keys 'title' and ' title ' name one column once surrounding spaces are trimmed; "
        "write each key once per object",
    ]
    stored = stored_leads(store)
    assert set(stored) == {"ana@acme.example", "dan@corp.example"}
    assert json.loads(stored["dan@corp.example"]["attributes"])["title"] == "VP"


def assert_score_rejects_as_import(tmp_path: Path, header: str, rows: list[str], rejected: list[str]) -> None:
    """Check that `leadq score` stops at each rejected row, with the import's message."""
    for index, message in enumerate(rejected):
        alone = write(tmp_path, "events.csv", header + "\n" * index + rows[index])
        with pytest.raises(InputError) as caught:
            score_files(DEMO / "leads.csv", alone, as_of=datetime(2026, 12, 1, tzinfo=timezone.utc))
        assert str(caught.value) == message


def test_property_numbers_rejected_as_score_does(store, tmp_path):
    header = "event_id,email,event,timestamp,properties\n"
    rows = [
        'n1,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""plan"": ""team"", ""n"": [1, -Infinity]}"\n',
        'n2,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""plan"": ""team"", ""n"": inf}"\n',
        'n3,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""plan"": ""team"",}"\n',
        "n4,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,null\n",
    ]
    path = write(tmp_path, "events.csv", header + "".join(rows))
    done = run_import(store, "events", path)
    assert done.returncode == 1, done.stderr
    fix = 'write the properties as a JSON object, for example {"url": "/pricing"}'
    assert rejected_lines(done.stdout) == [
        f"{path}, line 2, column 'properties': properties.n[1] is -Infinity, which is not valid JSON; "
        "write a number or null",
        f"""{path}, line 3, column 'properties': invalid JSON '{{"plan": "team", "n": inf}}'; {fix}""",
        f"""{path}, line 4, column 'properties': invalid JSON '{{"plan": "team",}}'; {fix}""",
    ]
    with store.engine.connect() as connection:
        assert connection.execute(select(events.c.message_id)).scalars().all() == ["n4"]

    assert_score_rejects_as_import(tmp_path, header, rows, rejected_lines(done.stdout))


@pytest.mark.parametrize("name", ["events.csv", "events.jsonl"])
def test_blank_properties_cell_stored_empty(store, tmp_path, name):
    cells = ["", "  ", "\t \u00a0", '{"url": "/pricing"}']
    rows = [
        {"event_id": f"b{index}", "email": "ana@acme.example", "event": "page_viewed",
         "timestamp": "2026-11-25T10:00:00Z", "properties": cell}
        for index, cell in enumerate(cells)
    ]  # fmt: skip
    path = tmp_path / name
    if name.endswith(".jsonl"):
        write(tmp_path, name, "".join(json.dumps(row) + "\n" for row in rows))
    else:
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    done = run_import(store, "events", path)
    assert done.returncode == 0, done.stdout + done.stderr
    with store.engine.connect() as connection:
        stored = connection.execute(select(events.c.message_id, events.c.properties)).all()
    assert {message_id: json.loads(properties) for message_id, properties in stored} == {
        "b0": {}, "b1": {}, "b2": {}, "b3": {"url": "/pricing"},
    }  # fmt: skip

    # `leadq score` reads the same file: blank cells have no properties.
    run = score_files(DEMO / "leads.csv", path, as_of=datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert run.report.events == 4


def test_property_repeated_key_rejected_as_score_does(store, tmp_path):
    header = "event_id,email,event,timestamp,properties\n"
    rows = [
        'r1,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""plan"": ""a"", ""plan"": ""b""}"\n',
        'r2,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""plan"": ""a"", ""x"": [{""q"": 1, ""q"": 2}]}"\n',
        'r3,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{""a"": {""q"": 1}, ""b"": {""q"": 2}}"\n',
    ]
    path = write(tmp_path, "events.csv", header + "".join(rows))
    done = run_import(store, "events", path)
    assert done.returncode == 1, done.stderr
    assert rejected_lines(done.stdout) == [
        f"{path}, line 2, column 'properties': properties contains the key 'plan' more than once; write each key once",
        f"{path}, line 3, column 'properties': properties.x[0] contains the key 'q' more than once; write each key once",
    ]
    with store.engine.connect() as connection:
        assert connection.execute(select(events.c.message_id)).scalars().all() == ["r3"]

    assert_score_rejects_as_import(tmp_path, header, rows, rejected_lines(done.stdout))


NESTING_MESSAGE = (
    "the JSON value is nested too deeply, with objects or arrays more than 32 levels deep; "
    "flatten it to at most 32 levels"
)


def test_deeply_nested_events_rejected(store, tmp_path):
    deep = '{"a": ' + "[" * 100_000
    cells = write(tmp_path, "events.csv", (
        "event_id,email,event,timestamp,properties\n"
        f"d1,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,{deep}\n"
        f'd2,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,"{{""a"": {"[" * 32}{"]" * 32}}}"\n'
        "d3,ana@acme.example,page_viewed,2026-11-25T10:00:00Z,\n"
    ))  # fmt: skip
    deep_line = json_event("j1")[:-1] + ', "properties": ' + deep
    lines = write(tmp_path, "events.jsonl", deep_line + "\n" + json_event("j2") + "\n")

    from_cells = run_import(store, "events", cells)
    from_lines = run_import(store, "events", lines)

    assert from_cells.returncode == 1, from_cells.stderr
    assert rejected_lines(from_cells.stdout) == [
        f"{cells}, line 2, column 'properties': {NESTING_MESSAGE}",
        f"{cells}, line 3, column 'properties': {NESTING_MESSAGE}",
    ]
    assert from_lines.returncode == 1, from_lines.stderr
    assert rejected_lines(from_lines.stdout) == [f"{lines}, line 1: {NESTING_MESSAGE}"]
    assert "Traceback" not in from_cells.stderr + from_lines.stderr
    with store.engine.connect() as connection:
        stored = connection.execute(select(events.c.message_id).order_by(events.c.message_id)).scalars().all()
    assert stored == ["d3", "j2"]


def test_deeply_nested_lead_line_rejected(store, tmp_path):
    text = '{"email": "ana@acme.example"}\n{"email": "bob@corp.example", "tags": ' + "[" * 100_000 + "\n"
    path = write(tmp_path, "leads.jsonl", text)
    done = run_import(store, "leads", path)
    assert done.returncode == 1, done.stderr
    assert rejected_lines(done.stdout) == [f"{path}, line 2: {NESTING_MESSAGE}"]
    assert set(stored_leads(store)) == {"ana@acme.example"}


def test_json_lines_every_line_invalid(store, tmp_path):
    path = write(tmp_path, "leads.jsonl", '{"email": "ana@acme.example"\nnot json\n')
    done = run_import(store, "leads", path)
    assert done.returncode == 2, done.stderr
    assert rejected_lines(done.stdout) == [
        f"{path}, line 1: invalid JSON: Expecting ',' delimiter at column 29; {JSON_LINE_FIX}",
        f"{path}, line 2: invalid JSON: Expecting value at column 1; {JSON_LINE_FIX}",
    ]
    assert done.stderr == f"error: {path}: every row was rejected, so nothing was imported; fix the rows listed above\n"
    assert count(store, leads) == 0


def test_csv_value_over_limit_rejected(store, tmp_path):
    # 3 MB is also more than the 2 MiB that pyarrow's first block reads.
    notes = "B" * 3_000_000
    text = f"email,title,company_size,notes\nh@acme.example,CEO,10,{notes}\nh2@acme.example,CEO,10,x\n"
    path = write(tmp_path, "leads.csv", text)
    done = run_import(store, "leads", path)
    assert done.returncode == 1, done.stderr
    assert rejected_lines(done.stdout) == [
        f"{path}, line 2, column 'notes': the value is 2.9 MiB (3,000,000 bytes), more than the 1 MiB "
        "that an import stores in one value; shorten it or leave it out of the file"
    ]
    assert set(stored_leads(store)) == {"h2@acme.example"}


def test_json_lines_value_over_limit_rejected(store, tmp_path):
    lines = [
        json.dumps({"email": "big@acme.example", "title": "CEO", "company_size": 5, "notes": "é" * 600_000}),
        json.dumps({"email": "nested@acme.example", "company_size": 5, "tags": ["x" * 2**20]}),
        json.dumps({"email": "ok@acme.example", "title": "CEO", "notes": "é" * 500_000}),
    ]
    report = import_file(store, "leads", write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    reasons = [(rejection.where, rejection.column, rejection.reason) for rejection in report.rejected]
    assert reasons == [
        ("line 1", "notes", "the value is 1.1 MiB (1,200,000 bytes), more than the 1 MiB that an import stores "
         "in one value; shorten it or leave it out of the file"),
        ("line 2", "tags", "the value is 1.0 MiB (1,048,580 bytes), more than the 1 MiB that an import stores "
         "in one value; shorten it or leave it out of the file"),
    ]  # fmt: skip
    assert set(stored_leads(store)) == {"ok@acme.example"}


