"""`leadq score` reads CRM exports as `leadq import leads` does."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from leadq.crm.reading import CrmOptions
from leadq.errors import InputError
from leadq.model.loading import default_model_text, load_model
from leadq.scoring import score_files
from tests.service.servers import leadq

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
    assert str(raised.value) == (
        f"{events}, line 2, column 'timestamp': invalid date '11/28/2026': read day-first as --date-format "
        "declares, its month is 28; correct the date, or check the file's order and --date-format"
    )


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


FIELDS = "industry,country,phone,company"
VALUES = "SaaS,Germany,555-0100,Acme"


def test_score_absent_mapped_column_rejected(tmp_path):
    write(tmp_path, "leads.csv", f"email,title,{FIELDS}\nana@acme.example,CEO,{VALUES}\n")
    done = leadq("score", "leads.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert " ".join(done.stderr.split()) == (
        "error: leads.csv: a rule of the model reads the lead field 'employees' from the column "
        "'company_size' (the model's `columns:` maps it), which the file does not have; its columns are: "
        "'email', 'title', 'industry', 'country', 'phone', 'company'. Add the column, or map an existing "
        "one to 'employees' under `columns:` in the model"
    )


def test_score_model_names_any_case(tmp_path):
    lower = write(tmp_path, "lower.csv", f"email,title,company_size,{FIELDS}\nana@acme.example,CEO,300,{VALUES}\n")
    mixed = write(
        tmp_path, "mixed.csv",
        f"EMAIL ,Title,Company_Size,{FIELDS.title()}\nana@acme.example,CEO,300,{VALUES}\n",
    )  # fmt: skip
    expected = score_files(lower, as_of=AS_OF).find("ana@acme.example")
    ana = score_files(mixed, as_of=AS_OF).find("ana@acme.example")
    assert expected.fit_score == 75.0
    assert ana.fit_score == expected.fit_score
    assert [reason.rule_id for reason in ana.reasons()] == [reason.rule_id for reason in expected.reasons()]


def test_score_unread_mapped_column_absent(tmp_path):
    text = default_model_text().replace("columns:\n", 'columns:\n  "Lead Score": crm_score\n')
    model = write(tmp_path, "model.yaml", text)
    leads = write(tmp_path, "leads.csv", f"email,title,company_size,{FIELDS}\nana@acme.example,CEO,300,{VALUES}\n")
    run = score_files(leads, model=load_model(model), as_of=AS_OF)
    assert run.find("ana@acme.example").fit_score == 75.0


KEY_MODEL = """
name: mapped key
key: lead_id
columns:
  Prospect ID: lead_id
fit:
  rules:
    - id: software
      field: industry
      equals: software
      points: 20
stages:
  - id: fit
    when: {score: fit, at_least: 20}
  - id: other
"""


def test_score_absent_mapped_key(tmp_path):
    model = write(tmp_path, "model.yaml", KEY_MODEL)
    write(tmp_path, "leads.csv", "id,industry\np-1,Software\n")
    done = leadq("score", "leads.csv", "--model", str(model), cwd=tmp_path)
    assert done.returncode == 2
    assert " ".join(done.stderr.split()) == (
        "error: leads.csv: missing column 'Prospect ID', which the model's `columns:` maps to the lead key "
        "'lead_id'; the file's columns are: 'id', 'industry'"
    )
    write(tmp_path, "leads.csv", "prospect id,industry\np-1,Software\n")
    run = score_files(tmp_path / "leads.csv", model=load_model(model), as_of=AS_OF)
    assert run.find("p-1").fit_score == 20.0


# DuckDB reads the events file in batches, SQLite reads it whole.
@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_score_events_declared_time_quoted(tmp_path, engine):
    events = tmp_path / "events.csv"
    events.write_text(
        "email,event,timestamp\n"
        "bo.chen@globex.example,page_viewed,2026-11-01T10:00:00Z\n"
        "bo.chen@globex.example,demo_requested,28/11/2026 14:05\n",
        encoding="utf-8",
    )
    options = CrmOptions(date_format="day-first")
    with pytest.raises(InputError) as raised:
        score_files(FIXTURES / "hubspot_contacts.csv", events, as_of=AS_OF, crm=options, engine=engine)
    assert str(raised.value) == (
        f"{events}, line 3, column 'timestamp': timestamp '28/11/2026 14:05' has no UTC offset; add one, "
        "for example 2026-03-01T09:30:00+01:00, or name the time zone of local times with --timezone, "
        "for example --timezone Europe/Berlin"
    )


def score_error(path: Path) -> str:
    with pytest.raises(InputError) as raised:
        score_files(path, as_of=AS_OF)
    return str(raised.value)


def test_columns_one_field_named_as_in_file(tmp_path):
    # The vendor's name makes `Employees` company_size, which the default model maps to `employees`.
    path = write(tmp_path, "leads.csv", "email,employees,Employees\na@x.io,100,5\n")
    assert score_error(path) == (
        f"{path}: the columns 'employees', 'Employees' all become the lead field 'employees'; their names "
        "differ only in case, which leadq ignores, so rename or remove all but one of them"
    )


def test_missing_field_lists_file_columns(tmp_path):
    path = write(tmp_path, "leads.jsonl", '{"email": "a@x.io", "job_title": "CEO", "Employees": 5}\n')
    assert "its columns are: 'email', 'job_title', 'Employees'. Add the column" in score_error(path)


def test_case_twins_name_model_field(tmp_path):
    path = write(tmp_path, "leads.jsonl", '{"email": "a@x.io", "company_size": 100, "COMPANY_SIZE": 5}\n')
    assert score_error(path).startswith(
        f"{path}: the columns 'company_size', 'COMPANY_SIZE' all become the lead field 'employees'; "
    )


def test_bad_value_names_file_column(tmp_path):
    path = write(tmp_path, "leads.csv", f"email,title,Employees,{FIELDS}\nana@acme.example,CEO,lots,{VALUES}\n")
    assert score_error(path).startswith(
        f"{path}, line 2, column 'Employees': 'lots' is not a number, but a rule compares 'employees' "
        "(mapped from column 'Employees') as one"
    )
