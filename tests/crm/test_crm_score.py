"""`leadq score` reads CRM exports as `leadq import leads` does."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from leadq.crm.reading import CrmOptions
from leadq.errors import InputError
from leadq.scoring import score_files

FIXTURES = Path(__file__).parent / "fixtures"
AS_OF = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_score_hubspot_export():
    run = score_files(FIXTURES / "hubspot_contacts.csv", as_of=AS_OF, crm=CrmOptions(date_format="day-first"))
    assert sorted(run.table["lead_id"].to_pylist()) == [
        "ana.silva@acme.example", "bo.chen@globex.example", "cara@initech.example",
        "dev.patel@umbrella.example", "eve.moreau@evil.example",
    ]  # fmt: skip
    assert run.report.duplicate_keys == 1
    ana = run.find("ANA.SILVA@acme.example")
    # VP title, 260 employees, software, United States.
    assert ana.fit_score == 75.0
    assert run.find("cara@initech.example").stage == "disqualified"


def test_score_salesforce_report():
    run = score_files(FIXTURES / "salesforce_leads_report.csv", as_of=AS_OF, crm=CrmOptions(date_format="day-first"))
    assert run.find("gus@vandelay.example").grade == "B"


def test_score_ambiguous_date_is_an_error():
    with pytest.raises(InputError) as raised:
        score_files(FIXTURES / "salesforce_leads_report.csv", as_of=AS_OF)
    assert str(raised.value).startswith(
        f"{FIXTURES / 'salesforce_leads_report.csv'}, line 2, column 'Create Date': ambiguous date '11/03/2026 14:05'"
    )


def test_score_events_date_format(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("email,event,timestamp\nbo.chen@globex.example,demo_requested,28/11/2026 14:05\n", encoding="utf-8")
    options = CrmOptions(date_format="day-first")
    run = score_files(
        FIXTURES / "hubspot_contacts.csv", events, as_of=AS_OF, crm=options, timezone="Europe/Berlin"
    )
    bo = run.find("bo.chen@globex.example")
    assert [reason.rule_id for reason in bo.reasons()][:1] == ["demo_request"]
    assert bo.stage == "sql"


def test_score_events_bad_declared_time(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("email,event,timestamp\nbo.chen@globex.example,demo_requested,11/28/2026\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        score_files(FIXTURES / "hubspot_contacts.csv", events, as_of=AS_OF, crm=CrmOptions(date_format="day-first"))
    assert str(raised.value) == f"{events}, line 2, column 'timestamp': invalid date '11/28/2026': no such day"
