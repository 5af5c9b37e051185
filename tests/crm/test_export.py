"""`leadq export`: CSV files in HubSpot's and Salesforce's import formats."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from sqlalchemy import select

from leadq.crm.export import ExportLead, build_export, hubspot_stage, value_maps, write_export
from leadq.crm.export_sources import leads_from_store
from leadq.crm.reading import CrmOptions, ModelNames, read_crm_leads
from leadq.crm.vendors import LEADQ_COLUMNS, SALESFORCE_LEADQ_COLUMNS, VENDORS
from leadq.inputs import read_source
from leadq.service.imports import import_file
from leadq.store.tables import leads
from tests.service.servers import leadq

FIXTURES = Path(__file__).parent / "fixtures"

# Contact property internal names (HubSpot contacts API) and Lead API field
# names (Salesforce field reference), as tests/crm/README.md lists them.
HUBSPOT_PROPERTIES = {
    "email", "firstname", "lastname", "company", "jobtitle", "phone", "city", "state", "country", "website",
    "lifecyclestage",
}  # fmt: skip
HUBSPOT_LIFECYCLE_VALUES = {
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
    "evangelist", "other",
}  # fmt: skip
# HubSpot custom property names: lower-case letters, digits and underscores.
HUBSPOT_CUSTOM = re.compile(r"[a-z][a-z0-9_]*")
SALESFORCE_FIELDS = {
    "Id", "FirstName", "LastName", "Company", "Title", "Email", "Phone", "LeadSource", "Industry", "City",
    "State", "Country", "Website", "AnnualRevenue", "NumberOfEmployees", "Status", "Rating",
}  # fmt: skip
SALESFORCE_STATUSES = {"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"}
SALESFORCE_RATINGS = {"Hot", "Warm", "Cold"}
# Salesforce custom field API names: a letter first, no double underscore, then __c.
SALESFORCE_CUSTOM = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c")


def exported(store, crm_format: str, **values) -> list[dict]:
    built = build_export(crm_format, leads_from_store(store), value_maps(crm_format, values, {}))
    stream = io.StringIO()
    write_export(built, stream)
    return list(csv.DictReader(io.StringIO(stream.getvalue())))


def test_hubspot_export_format(store):
    import_file(store, "leads", FIXTURES / "hubspot_contacts.csv", crm=CrmOptions(date_format="day-first"))
    rows = exported(store, "hubspot")
    header = list(rows[0])
    standard = [name for name in header if not name.startswith("leadq_")]
    assert set(standard) <= HUBSPOT_PROPERTIES
    assert all(HUBSPOT_CUSTOM.fullmatch(name) for name in header)
    assert {row["lifecyclestage"] for row in rows} <= HUBSPOT_LIFECYCLE_VALUES
    by_email = {row["email"]: row for row in rows}
    assert set(by_email) == {
        "ana.silva@acme.example", "bo.chen@globex.example", "cara@initech.example",
        "dev.patel@umbrella.example", "eve.moreau@evil.example",
    }  # fmt: skip
    cara = by_email["cara@initech.example"]
    assert (cara["lifecyclestage"], cara["leadq_stage"], cara["leadq_grade"]) == ("other", "disqualified", "D")
    assert cara["leadq_top_reasons"] == "title_student -20; company_missing -10; country_core_market +10"
    assert cara["company"] == ""


def test_export_guards_formulas(store):
    import_file(store, "leads", FIXTURES / "hubspot_contacts.csv", crm=CrmOptions(date_format="day-first"))
    by_email = {row["email"]: row for row in exported(store, "hubspot")}
    eve = by_email["eve.moreau@evil.example"]
    assert eve["company"] == "'=HYPERLINK(\"http://evil.example\",\"Click\")"
    assert eve["jobtitle"] == "'@Manager"
    # Phone numbers start with + but call no function, so they stay as written.
    assert by_email["ana.silva@acme.example"]["phone"] == "+1 415 555 0100"


def test_salesforce_export_format(store):
    import_file(store, "leads", FIXTURES / "salesforce_leads_api.csv")
    rows = exported(store, "salesforce")
    header = list(rows[0])
    assert {name for name in header if not name.endswith("__c")} <= SALESFORCE_FIELDS
    assert all(SALESFORCE_CUSTOM.fullmatch(name) for name in header if name.endswith("__c"))
    assert {row["Status"] for row in rows} <= SALESFORCE_STATUSES
    assert {row["Rating"] for row in rows} <= SALESFORCE_RATINGS
    by_id = {row["Id"]: row for row in rows}
    assert set(by_id) == {"00Q5g00000AbCdEEAV", "00Q5g00000AbCdFEAV"}
    gus = by_id["00Q5g00000AbCdFEAV"]
    assert (gus["LastName"], gus["Company"], gus["NumberOfEmployees"]) == ("Weber", "Vandelay", "60")
    assert (gus["Leadq_Grade__c"], gus["Rating"], gus["Status"]) == ("B", "Warm", "Open - Not Contacted")


def test_stage_values_overridden(store):
    import_file(store, "leads", FIXTURES / "hubspot_contacts.csv", crm=CrmOptions(date_format="day-first"))
    rows = exported(store, "hubspot", unqualified="opportunity", disqualified="evangelist")
    stages = {row["email"]: row["lifecyclestage"] for row in rows}
    assert stages["cara@initech.example"] == "evangelist"
    assert stages["eve.moreau@evil.example"] == "opportunity"
    # Dev is a customer in HubSpot, which an export never moves back.
    assert stages["dev.patel@umbrella.example"] == "customer"


def test_hubspot_stage_never_moves_back():
    assert hubspot_stage("lead", "customer") == "customer"
    assert hubspot_stage("salesqualifiedlead", "marketingqualifiedlead") == "salesqualifiedlead"
    assert hubspot_stage("other", "salesqualifiedlead") == "other"
    assert hubspot_stage("other", "opportunity") == "opportunity"
    assert hubspot_stage("lead", "other") == "lead"
    assert hubspot_stage("lead", "") == "lead"
    assert hubspot_stage("", "customer") == ""


def test_unmapped_stage_reported():
    lead = ExportLead("a@x.example", "a@x.example", {}, 10.0, 0.0, 0.0, "D", "nurture", [], None)
    built = build_export("salesforce", [lead], value_maps("salesforce", {}, {"D": "Cold"}))
    assert built.unmapped_stages == {"nurture": 1}
    assert built.missing_required == 1
    assert built.rows[0][built.header.index("Status")] == ""


def stored_attributes(store) -> dict[str, dict]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(leads.c.lead_key, leads.c.attributes)).all()
    return {row.lead_key: json.loads(row.attributes) for row in rows}


def export_and_import(store, tmp_path: Path, crm_format: str) -> str:
    """Export the store's leads in a format, import the file back and return the import's output."""
    path = tmp_path / f"{crm_format}.csv"
    done = leadq("export", "--format", crm_format, "--database", store.url, "--output", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = leadq("import", "leads", str(path), "--database", store.url, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return " ".join(done.stdout.split())


def score_columns_note(columns: list[str]) -> str:
    names = ", ".join(repr(name) for name in columns)
    return (
        f"note: the columns {names} hold scores of an earlier leadq export; they were not imported, "
        "because leadq scores the leads itself"
    )


def test_generic_export_imports_back(store, tmp_path):
    import_file(store, "leads", FIXTURES / "hubspot_contacts.csv", crm=CrmOptions(date_format="day-first"))
    path = tmp_path / "leads.csv"
    done = leadq("export", "--format", "generic", "--database", store.url, "--output", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"wrote 5 leads to {path} as a generic leads CSV" in done.stderr
    report = import_file(store, "leads", path)
    assert (report.rows, report.rejected, report.created, report.updated) == (5, [], 0, 5)
    assert report.score_columns == LEADQ_COLUMNS
    assert not any(name.startswith("leadq_") for lead in stored_attributes(store).values() for name in lead)
    # The file's lead_id column is now a stored attribute too, and appears once.
    header = exported(store, "generic")[0].keys()
    assert list(header).count("lead_id") == 1
    assert len(header) == len(set(header))


def test_hubspot_export_imports_back(store, tmp_path):
    import_file(store, "leads", FIXTURES / "hubspot_contacts.csv", crm=CrmOptions(date_format="day-first"))
    output = export_and_import(store, tmp_path, "hubspot")
    assert "read as a HubSpot contacts export (detected from the header; --format overrides it)" in output
    # The export leaves out HubSpot's industry and numemployees dropdowns.
    missing = "stored values stay, and rules see a field as missing for leads without a stored value"
    assert f"note: the model reads the lead field 'industry', which the file lacks; {missing}" in output
    assert (
        "note: the file lacks the column 'company_size', which the model's `columns:` maps to the lead "
        f"field 'employees'; {missing}"
    ) in output
    assert score_columns_note(LEADQ_COLUMNS) in output
    ana = stored_attributes(store)["ana.silva@acme.example"]
    assert (ana["title"], ana["company_size"], ana["industry"]) == ("VP Marketing", "260", "Software")
    assert not any(name.startswith("leadq_") for name in ana)


def test_salesforce_export_imports_back(store, tmp_path):
    import_file(store, "leads", FIXTURES / "salesforce_leads_api.csv")
    output = export_and_import(store, tmp_path, "salesforce")
    assert "read as a Salesforce leads export (detected from the header; --format overrides it)" in output
    assert score_columns_note(SALESFORCE_LEADQ_COLUMNS) in output
    assert not any(name.lower().startswith("leadq_") for lead in stored_attributes(store).values() for name in lead)


def test_vendor_columns_read_back(store, tmp_path):
    import_file(store, "leads", FIXTURES / "hubspot_contacts.csv", crm=CrmOptions(date_format="day-first"))
    for crm_format in ("hubspot", "salesforce"):
        path = tmp_path / f"{crm_format}.csv"
        with path.open("w", encoding="utf-8", newline="") as stream:
            write_export(build_export(crm_format, leads_from_store(store), value_maps(crm_format, {}, {})), stream)
        crm = read_crm_leads(read_source(path), CrmOptions(format=crm_format), ModelNames())
        standard = [name for name in crm.source.table.column_names if not name.lower().startswith("leadq_")]
        assert set(standard) <= set(VENDORS[crm_format].columns.values()), crm_format


def test_export_from_leads_file(tmp_path):
    done = leadq(
        "export", "--format", "salesforce", "--leads", str(FIXTURES / "salesforce_leads_report.csv"),
        "--date-format", "day-first", "--as-of", "2026-12-01", "--grade-value", "B=Hot", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [row["Email"] for row in rows] == [
        "gus@vandelay.example", "fatima.khan@hooli.example", "hana.sato@soylent.example",
    ]  # fmt: skip
    assert [row["Rating"] for row in rows] == ["Hot", "Hot", "Cold"]
    assert rows[0]["Leadq_Scored_At__c"] == "2026-12-01T00:00:00Z"
    # Report ids are 15 characters; Data Loader updates by them.
    assert rows[0]["Id"] == "00Q5g00000AbCdF"


def test_export_output_may_not_replace_input(tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_bytes((FIXTURES / "generic_leads.csv").read_bytes())
    done = leadq("export", "--format", "generic", "--leads", str(leads), "--output", str(leads), cwd=tmp_path)
    assert done.returncode == 2
    assert "is also an input file; write the results to another file" in done.stderr
    assert leads.read_bytes() == (FIXTURES / "generic_leads.csv").read_bytes()


def test_export_file_options_need_leads(tmp_path):
    done = leadq("export", "--format", "hubspot", "--as-of", "2026-12-01", cwd=tmp_path)
    assert done.returncode == 2
    assert "--events, --model, --as-of, --map and --date-format need --leads FILE" in done.stderr


def test_hubspot_lead_without_email_counted():
    lead = ExportLead("u-1", None, {"first_name": "Ana"}, 10.0, 0.0, 0.0, "D", "unqualified", [], None)
    built = build_export("hubspot", [lead], value_maps("hubspot", {}, {}))
    assert built.missing_required == 1
    assert built.rows[0][:2] == ["", "Ana"]
