"""Reading CRM exports into leadq's lead columns: detection, mappings, values."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from leadq.crm.reading import CrmOptions, ModelNames, parse_maps, read_crm_leads, read_lead_file
from leadq.crm.vendors import LEADQ_COLUMNS, detect_format
from leadq.errors import InputError, OptionError
from leadq.inputs import read_source

FIXTURES = Path(__file__).parent / "fixtures"
# The built-in model's `columns:` and the fields its rules read.
MODEL_NAMES = ModelNames(
    columns=frozenset({"title", "company_size"}),
    fields=frozenset({"job_title", "employees", "industry", "country", "email", "phone", "company"}),
)


def read(name: str, **options):
    return read_crm_leads(read_source(FIXTURES / name), CrmOptions(**options), MODEL_NAMES)


def test_hubspot_export_detected():
    # The file starts with a UTF-8 byte order mark, which is not part of "Record ID".
    assert (FIXTURES / "hubspot_contacts.csv").read_bytes().startswith(codecs.BOM_UTF8)
    crm = read("hubspot_contacts.csv")
    assert (crm.format, crm.detected) == ("hubspot", True)
    assert crm.source.table.column_names[:8] == [
        "crm_id", "first_name", "last_name", "email", "phone", "company", "title", "industry",
    ]  # fmt: skip
    assert "Street Address" in crm.source.table.column_names


def test_hubspot_values_normalized():
    rows = read("hubspot_contacts.csv").source.table.to_pylist()
    assert [row["lifecycle_stage"] for row in rows] == [
        "marketingqualifiedlead", "salesqualifiedlead", "lead", "customer", "subscriber", "marketingqualifiedlead",
    ]  # fmt: skip
    assert rows[0]["created_at"] == "2026-11-03T14:05:00"
    assert rows[1]["created_at"] == "2023-11-01"  # Excel serial 45231
    assert rows[0]["Street Address"] == "500 Market St\nSuite 200"


def test_empty_cells_stay_empty():
    rows = read("hubspot_contacts.csv").source.table.to_pylist()
    # Cara's company and size are empty, below Bo's filled cells.
    assert rows[1]["company"] == "Globex"
    assert rows[2]["company"] is None
    assert rows[2]["company_size"] is None
    assert rows[1]["phone"] is None
    assert rows[2]["phone"] == "+44 20 5550 0103"


def test_ambiguous_date_rejects_row():
    crm = read("hubspot_contacts.csv")
    assert list(crm.problems) == [3]
    assert crm.problems[3].column == "Create Date"
    assert crm.problems[3].reason.startswith("ambiguous date '11/03/2026 14:05'")


def test_declared_order_reads_date():
    crm = read("hubspot_contacts.csv", date_format="month-first")
    assert crm.problems == {}
    assert crm.source.table["created_at"][3].as_py() == "2026-11-03T14:05:00"


def test_salesforce_report_semicolons():
    crm = read("salesforce_leads_report.csv", date_format="day-first")
    assert (crm.format, crm.problems) == ("salesforce", {})
    rows = crm.source.table.to_pylist()
    assert [row["crm_id"] for row in rows] == ["00Q5g00000AbCdE", "00Q5g00000AbCdF", "00Q5g00000AbCdG"]
    assert rows[0]["lead_status"] == "Open - Not Contacted"
    assert rows[0]["created_at"] == "2026-03-11T14:05:00"
    assert rows[0]["Description"] == "Asked about pricing;\nwants a call"
    assert rows[1]["company_size"] == "60"


def test_salesforce_report_undeclared_dates():
    crm = read("salesforce_leads_report.csv")
    # 11/03/2026 could be either; 13/03/2026 and 2026-03-31 cannot.
    assert list(crm.problems) == [0]
    assert crm.source.table["created_at"].to_pylist() == [None, "2026-03-13T09:15:00", "2026-03-31"]


def test_salesforce_api_names():
    crm = read("salesforce_leads_api.csv")
    assert crm.format == "salesforce"
    assert crm.source.table["crm_id"][0].as_py() == "00Q5g00000AbCdEEAV"
    assert crm.source.table["created_at"][0].as_py() == "2026-03-11T14:05:00+00:00"


def test_format_option_overrides_detection():
    crm = read("salesforce_leads_api.csv", format="generic")
    assert (crm.format, crm.detected) == ("generic", False)
    assert "FirstName" in crm.source.table.column_names


def test_map_option_wins():
    crm = read("generic_leads.csv", maps={"Signed Up": "created_at", "Full Name": "name"}, date_format="day-first")
    assert crm.format == "generic"
    assert crm.source.table.column_names == ["email", "name", "title", "company_size", "created_at", "Plan"]
    assert crm.source.table["created_at"].to_pylist() == ["2026-11-02", "2026-11-02"]


def test_model_columns_keep_their_name():
    source = read_source(FIXTURES / "hubspot_contacts.csv")
    crm = read_crm_leads(source, CrmOptions(), ModelNames(columns=frozenset({"Job Title", "Number of Employees"})))
    assert "Job Title" in crm.source.table.column_names
    assert "title" not in crm.source.table.column_names


def test_two_columns_one_field(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Email,Email Address\na@x.example,b@x.example\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_crm_leads(read_source(path), CrmOptions(), ModelNames())
    assert "the columns 'Email', 'Email Address' all become the lead field 'email'" in str(raised.value)


def header_file(tmp_path, header: str) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(header + "\n" + ",".join(["x"] * len(header.split(","))) + "\n", encoding="utf-8")
    return path


def test_model_names_match_any_case(tmp_path):
    path = header_file(tmp_path, "EMAIL ,Title,Company_Size, Industry,Plan")
    crm = read_crm_leads(read_source(path), CrmOptions(), MODEL_NAMES)
    assert crm.source.table.column_names == ["email", "title", "company_size", "industry", "Plan"]


def test_vendor_name_before_case_of_field(tmp_path):
    # `employees` is a field of the model, which maps company_size to it;
    # the generic name Employees means company_size.
    crm = read_crm_leads(read_source(header_file(tmp_path, "email,Employees")), CrmOptions(), MODEL_NAMES)
    assert crm.source.table.column_names == ["email", "company_size"]


def test_columns_differing_in_case(tmp_path):
    path = header_file(tmp_path, "email,Title,title")
    with pytest.raises(InputError) as raised:
        read_crm_leads(read_source(path), CrmOptions(), MODEL_NAMES)
    assert str(raised.value) == (
        f"{path}: the columns 'Title', 'title' all become the lead field 'title'; their names differ "
        "only in case, which leadq ignores, so rename or remove all but one of them"
    )


def test_map_matches_any_case(tmp_path):
    path = header_file(tmp_path, "email,Signed Up")
    crm = read_crm_leads(read_source(path), CrmOptions(maps={"signed up": "signup"}), MODEL_NAMES)
    assert crm.source.table.column_names == ["email", "signup"]


def test_score_columns_left_out(tmp_path):
    path = header_file(tmp_path, "email,leadq_total_score,Leadq_Grade__c,LEADQ_STAGE,leadq_notes")
    crm = read_crm_leads(read_source(path), CrmOptions(), MODEL_NAMES)
    assert crm.source.table.column_names == ["email", "leadq_notes"]
    assert crm.score_columns == ["leadq_total_score", "Leadq_Grade__c", "LEADQ_STAGE"]


def test_score_columns_kept_when_named(tmp_path):
    path = header_file(tmp_path, "email,leadq_total_score,Leadq_Grade__c")
    names = ModelNames(columns=frozenset({"leadq_total_score"}), fields=frozenset({"email"}))
    crm = read_crm_leads(read_source(path), CrmOptions(maps={"Leadq_Grade__c": "old_grade"}), names)
    assert crm.source.table.column_names == ["email", "leadq_total_score", "old_grade"]
    assert crm.score_columns == []


def test_map_unknown_column():
    with pytest.raises(InputError) as raised:
        read("generic_leads.csv", maps={"Signup": "created_at"})
    assert "--map names the column 'Signup', which the file does not have" in str(raised.value)


def test_map_option_parsed():
    assert parse_maps(["Lead Score = crm_score", "Plan=plan"]) == {"Lead Score": "crm_score", "Plan": "plan"}
    with pytest.raises(OptionError, match="write COLUMN=FIELD"):
        parse_maps(["Lead Score"])


def test_score_reading_raises_first_problem():
    with pytest.raises(InputError) as raised:
        read_lead_file(FIXTURES / "hubspot_contacts.csv", encoding=None, options=CrmOptions(), fixed_names=ModelNames())
    assert "hubspot_contacts.csv, line 6, column 'Create Date': ambiguous date" in str(raised.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["Record ID", "First Name", "Email", "Phone Number", "Lifecycle Stage"], "hubspot"),
        (["firstname", "lastname", "email", "jobtitle", "lifecyclestage", "hs_object_id"], "hubspot"),
        (["Lead ID", "First Name", "Email", "Lead Status", "Lead Source", "Rating"], "salesforce"),
        (["Id", "FirstName", "LastName", "Company", "LeadSource", "Status", "NumberOfEmployees"], "salesforce"),
        (["email", "title", "status"], "generic"),
        (["email", "first_name", "company_size"], "generic"),
        # The X Education leads file has two Salesforce report labels.
        (["Prospect ID", "Lead Source", "Last Activity", "Country"], "generic"),
        # leadq's HubSpot export: two HubSpot-only columns and leadq's.
        (["email", "firstname", "jobtitle", "lifecyclestage", *LEADQ_COLUMNS], "hubspot"),
        (["email", "firstname", "jobtitle", *LEADQ_COLUMNS], "generic"),
        (["lead_id", "email", "first_name", "title", *LEADQ_COLUMNS], "generic"),
    ],
)  # fmt: skip
def test_format_detected(header, expected):
    assert detect_format(header) == expected
