"""`leadq import leads` of HubSpot, Salesforce and generic exports, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from leadq.crm.reading import CrmOptions
from leadq.service.imports import import_file
from leadq.store.tables import events, leads
from tests.service.servers import leadq

FIXTURES = Path(__file__).parent / "fixtures"


def stored(store) -> dict[str, dict]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(leads.c.lead_key, leads.c.attributes)).all()
    return {row.lead_key: json.loads(row.attributes) for row in rows}


def rejections(report) -> list[tuple[str, str | None, str]]:
    return [(rejection.where, rejection.column, rejection.reason) for rejection in report.rejected]


def test_hubspot_import(store):
    report = import_file(store, "leads", FIXTURES / "hubspot_contacts.csv")
    assert (report.crm_format, report.crm_detected) == ("hubspot", True)
    assert report.rows == 6
    # The quoted newline in Ana's address puts Dev's row on line 6.
    [(where, column, reason)] = rejections(report)
    assert (where, column) == ("line 6", "Create Date")
    assert reason.startswith("ambiguous date '11/03/2026 14:05'")
    assert report.superseded == 1
    assert report.created == 4

    leads_by_key = stored(store)
    # A rejected row writes nothing.
    assert "dev.patel@umbrella.example" not in leads_by_key
    # Emails match trimmed and in any case, and the last row wins.
    ana = leads_by_key["ana.silva@acme.example"]
    assert ana["company_size"] == "260"
    assert ana["lifecycle_stage"] == "marketingqualifiedlead"
    assert ana["crm_id"] == "51234506"
    assert leads_by_key["bo.chen@globex.example"]["created_at"] == "2023-11-01"


def test_empty_cells_not_filled(store):
    import_file(store, "leads", FIXTURES / "hubspot_contacts.csv")
    cara = stored(store)["cara@initech.example"]
    assert "company" not in cara
    assert "company_size" not in cara
    assert cara["title"] == "Student"
    assert "phone" not in stored(store)["bo.chen@globex.example"]


def test_declared_date_format_imports_all(store):
    report = import_file(store, "leads", FIXTURES / "hubspot_contacts.csv", crm=CrmOptions(date_format="day-first"))
    assert report.rejected == []
    assert stored(store)["dev.patel@umbrella.example"]["created_at"] == "2026-03-11T14:05:00"


def test_salesforce_report_import(store):
    report = import_file(store, "leads", FIXTURES / "salesforce_leads_report.csv")
    assert report.crm_format == "salesforce"
    # Fatima's record spans lines 2 and 3; only her date is ambiguous.
    assert [(where, column) for where, column, _ in rejections(report)] == [("line 2", "Create Date")]
    leads_by_key = stored(store)
    assert set(leads_by_key) == {"gus@vandelay.example", "hana.sato@soylent.example"}
    gus = leads_by_key["gus@vandelay.example"]
    assert gus["lead_status"] == "Working - Contacted"
    assert gus["rating"] == "Hot"
    assert gus["created_at"] == "2026-03-13T09:15:00"


def test_generic_import_with_map(store):
    options = CrmOptions(maps={"Signed Up": "created_at", "Plan": "plan"}, date_format="month-first")
    report = import_file(store, "leads", FIXTURES / "generic_leads.csv", crm=options)
    assert (report.crm_format, report.rejected) == ("generic", [])
    mo = stored(store)["mo@stark.example"]
    assert mo == {
        "email": "mo@stark.example", "Full Name": "Mo Ali", "title": "Engineer",
        "company_size": "20", "created_at": "2026-02-11", "plan": "free",
    }  # fmt: skip


def test_import_cli_options(store, tmp_path):
    done = leadq(
        "import", "leads", str(FIXTURES / "salesforce_leads_report.csv"), "--database", store.url,
        "--format", "salesforce", "--date-format", "day-first", "--map", "Description=notes", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "read as a Salesforce leads export (as --format names)" in done.stdout
    assert "rejected: " not in done.stdout
    assert stored(store)["fatima.khan@hooli.example"]["notes"] == "Asked about pricing;\nwants a call"


def test_import_cli_lists_rejected_row(store, tmp_path):
    done = leadq("import", "leads", str(FIXTURES / "hubspot_contacts.csv"), "--database", store.url, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "read as a HubSpot contacts export (detected from the header" in done.stdout
    assert "rejected: " in done.stdout
    assert "hubspot_contacts.csv, line 6, column 'Create Date': ambiguous date '11/03/2026 14:05'" in " ".join(
        done.stdout.split()
    )


def test_import_names_file_format(store, tmp_path):
    table = pa.table({"email": ["ana@acme.example"], "title": ["CEO"], "company_size": [300]})
    pq.write_table(table, tmp_path / "leads.parquet")
    (tmp_path / "leads.jsonl").write_text('{"email": "bo@acme.example", "title": "CTO"}\n', encoding="utf-8")
    for name, kind in [("leads.parquet", "Parquet file"), ("leads.jsonl", "JSON lines file")]:
        done = leadq("import", "leads", str(tmp_path / name), "--database", store.url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"read as a generic leads {kind} (detected from the header; --format overrides it)" in done.stdout


def test_crm_options_only_for_leads(store, tmp_path):
    done = leadq(
        "import", "events", str(FIXTURES / "generic_leads.csv"), "--database", store.url, "--map", "Plan=plan",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--format and --map apply to `leadq import leads` only" in done.stderr


EVENTS = """email,event,timestamp
ana@acme.example,demo_requested,11/03/2026 14:05
ana@acme.example,page_viewed,45231.5
ana@acme.example,page_viewed,31/02/2026 09:00
ana@acme.example,page_viewed,2026-03-12T10:00:00Z
"""


def test_events_date_format(store, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(EVENTS, encoding="utf-8")
    options = CrmOptions(date_format="day-first")
    report = import_file(store, "events", path, timezone="Europe/Berlin", crm=options)
    assert rejections(report) == [
        ("line 4", "timestamp", "invalid date '31/02/2026 09:00': February 2026 has no day 31; correct the date")
    ]
    assert report.stored == 3
    with store.engine.connect() as connection:
        times = sorted(connection.execute(select(events.c.ts)).scalars())
    # 2023-11-01 12:00 and 2026-03-11 14:05 in Berlin (UTC+1), and the UTC time.
    assert times == [1_698_836_400_000_000, 1_773_234_300_000_000, 1_773_309_600_000_000]


def test_events_without_date_format_unchanged(store, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(EVENTS, encoding="utf-8")
    report = import_file(store, "events", path, timezone="Europe/Berlin")
    assert [where for where, _, _ in rejections(report)] == ["line 2", "line 3", "line 4"]
    assert report.rejected[0].reason.startswith("invalid timestamp '11/03/2026 14:05'")


def test_events_date_format_quotes_file(store, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "email,event,timestamp\n"
        "ana@acme.example,demo_requested,29/03/2026 02:30\n"
        "ana@acme.example,page_viewed,11/03/2036 14:05\n"
        "ana@acme.example,page_viewed,2026-03-12T10:00:00Z\n",
        encoding="utf-8",
    )
    options = CrmOptions(date_format="day-first")
    report = import_file(store, "events", path, timezone="Europe/Berlin", crm=options)
    [(where, column, reason), (later_where, later_column, later_reason)] = rejections(report)
    assert (where, column) == ("line 2", "timestamp")
    assert reason == (
        "local time '29/03/2026 02:30' in Europe/Berlin does not exist: clocks skip it when they go forward; "
        "add the UTC offset to the value, for example 2026-03-01T09:30:00+01:00"
    )
    assert (later_where, later_column) == ("line 3", "timestamp")
    assert later_reason.startswith("timestamp '11/03/2036 14:05' is more than a day after this machine's clock")
    assert report.stored == 1
