"""Write scored leads as a CSV file that HubSpot or Salesforce imports as it is.

HubSpot columns are contact property internal names (email, firstname,
lifecyclestage), which its import matches to properties in any account
language. Salesforce columns are Lead API field names (FirstName, Status,
Rating), which Data Loader matches automatically. leadq's own values go in
custom columns: leadq_* properties for HubSpot and Leadq_*__c fields for
Salesforce, which an administrator creates once (docs/crm.md).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from leadq.crm.vendors import (
    HUBSPOT_ORDER,
    HUBSPOT_STAGES,
    LEADQ_COLUMNS,
    SALESFORCE_LEADQ_COLUMNS,
    SALESFORCE_RATINGS,
    SALESFORCE_STATUSES,
)
from leadq.errors import OptionError
from leadq.output import guard_formula

# Rule contributions listed in the top reasons column.
TOP_REASONS = 3
# A Salesforce record id: 15 characters, or 18 with the case-safe suffix.
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
INTEGER = re.compile(r"[+-]?\d+(?:\.0+)?")
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


@dataclass(frozen=True)
class ExportLead:
    """A scored lead: its key, CRM attributes, scores, stage and reasons."""

    key: str
    email: str | None
    # Lead fields by leadq's standard names (first_name, company, crm_id, ...).
    attributes: dict[str, object]
    fit: float
    engagement: float
    product: float
    grade: str | None
    stage: str | None
    # (rule id, points), largest effect first.
    reasons: list[tuple[str, float]]
    scored_at: int | None

    @property
    def total(self) -> float:
        return self.fit + self.engagement + self.product


@dataclass
class ValueMaps:
    """leadq stage and grade -> CRM value, the defaults with `--stage-value` and `--grade-value` on top."""

    stages: dict[str, str]
    grades: dict[str, str] = field(default_factory=dict)


@dataclass
class ExportFile:
    header: list[str]
    rows: list[list[object]]
    # Stages that the file leaves without a CRM value, with their lead counts.
    unmapped_stages: dict[str, int] = field(default_factory=dict)
    # Leads without what the CRM matches or creates records by: an email
    # for HubSpot, an Id or else LastName and Company for Salesforce.
    missing_required: int = 0


def value_maps(crm_format: str, stage_values: dict[str, str], grade_values: dict[str, str]) -> ValueMaps:
    """Return the mappings for a format; the options override the defaults."""
    if crm_format == "hubspot":
        return ValueMaps({**HUBSPOT_STAGES, **stage_values}, dict(grade_values))
    if crm_format == "salesforce":
        return ValueMaps({**SALESFORCE_STATUSES, **stage_values}, {**SALESFORCE_RATINGS, **grade_values})
    return ValueMaps(dict(stage_values), dict(grade_values))


def parse_values(options: list[str], option: str) -> dict[str, str]:
    """Parse repeated `--stage-value STAGE=VALUE` or `--grade-value GRADE=VALUE` options."""
    values: dict[str, str] = {}
    for text in options:
        name, sign, value = text.partition("=")
        if not sign or not name.strip() or not value.strip():
            raise OptionError(f"{option} {text!r}: write NAME=VALUE, for example {option} sql=opportunity")
        values[name.strip()] = value.strip()
    return values


def build_export(crm_format: str, leads: Iterable[ExportLead], maps: ValueMaps) -> ExportFile:
    """Lay out the rows of an export file in the columns of `crm_format`."""
    leads = list(leads)
    if crm_format == "hubspot":
        export = _hubspot(leads, maps)
    elif crm_format == "salesforce":
        export = _salesforce(leads, maps)
    else:
        export = _generic(leads, maps)
    if crm_format != "generic":
        export.unmapped_stages = _unmapped(leads, maps)
    return export


def write_export(export: ExportFile, stream) -> None:
    """Write the file as UTF-8 CSV; text that a spreadsheet would run is quoted."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(export.header)
    for row in export.rows:
        writer.writerow([guard_formula(cell) if isinstance(cell, str) else cell for cell in row])


# HubSpot


HUBSPOT_FIELDS = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "company": "company",
    "jobtitle": "title",
    "phone": "phone",
    "city": "city",
    "state": "state",
    "country": "country",
    "website": "website",
}


def _hubspot(leads: list[ExportLead], maps: ValueMaps) -> ExportFile:
    header = [*HUBSPOT_FIELDS, "lifecyclestage", *LEADQ_COLUMNS]
    export = ExportFile(header, [])
    for lead in leads:
        fields = {column: _attribute(lead, name) for column, name in HUBSPOT_FIELDS.items()}
        fields["email"] = lead.email or fields["email"]
        stage = hubspot_stage(maps.stages.get(lead.stage or "", ""), _attribute(lead, "lifecycle_stage"))
        export.rows.append([*fields.values(), stage, *_leadq_values(lead)])
        if not fields["email"]:
            export.missing_required += 1
    return export


def hubspot_stage(mapped: str, current: str) -> str:
    """Return the lifecycle stage to export; a contact's stage never moves back.

    `current` is the stage that the contact's HubSpot export had. A later one
    in HubSpot's order is kept. `other` replaces only stages before
    opportunity, because deals set opportunity and customer, and leadq
    does not see deals.
    """
    if current not in HUBSPOT_ORDER:
        return mapped
    if mapped == "other":
        return current if HUBSPOT_ORDER.index(current) >= HUBSPOT_ORDER.index("opportunity") else mapped
    if mapped in HUBSPOT_ORDER and HUBSPOT_ORDER.index(current) > HUBSPOT_ORDER.index(mapped):
        return current
    return mapped


# Salesforce


SALESFORCE_FIELDS = {
    "FirstName": "first_name",
    "LastName": "last_name",
    "Company": "company",
    "Title": "title",
    "Email": "email",
    "Phone": "phone",
    "LeadSource": "lead_source",
    "Industry": "industry",
    "City": "city",
    "State": "state",
    "Country": "country",
    "Website": "website",
}
SALESFORCE_NUMBERS = {"AnnualRevenue": ("annual_revenue", NUMBER), "NumberOfEmployees": ("company_size", INTEGER)}


def _salesforce(leads: list[ExportLead], maps: ValueMaps) -> ExportFile:
    header = ["Id", *SALESFORCE_FIELDS, *SALESFORCE_NUMBERS, "Status", "Rating", *SALESFORCE_LEADQ_COLUMNS]
    export = ExportFile(header, [])
    for lead in leads:
        crm_id = _attribute(lead, "crm_id")
        record_id = crm_id if SALESFORCE_ID.fullmatch(crm_id) else ""
        fields = {column: _attribute(lead, name) for column, name in SALESFORCE_FIELDS.items()}
        fields["Email"] = lead.email or fields["Email"]
        numbers = [_number(lead, name, pattern) for name, pattern in SALESFORCE_NUMBERS.values()]
        picklists = [maps.stages.get(lead.stage or "", ""), maps.grades.get(lead.grade or "", "")]
        export.rows.append([record_id, *fields.values(), *numbers, *picklists, *_leadq_values(lead)])
        if not record_id and not (fields["LastName"] and fields["Company"]):
            export.missing_required += 1
    return export


# Generic


def _generic(leads: list[ExportLead], maps: ValueMaps) -> ExportFile:
    # Attributes named as the file's own columns, such as those of an
    # earlier generic export, would repeat a column name.
    own = {"lead_id", "email", *LEADQ_COLUMNS}
    names = list(dict.fromkeys(name for lead in leads for name in lead.attributes if name not in own))
    header = ["lead_id", "email", *names, *LEADQ_COLUMNS]
    rows = []
    for lead in leads:
        values = dict(zip(LEADQ_COLUMNS, _leadq_values(lead)))
        values["leadq_grade"] = maps.grades.get(lead.grade or "", lead.grade or "")
        values["leadq_stage"] = maps.stages.get(lead.stage or "", lead.stage or "")
        attributes = [_attribute(lead, name) for name in names]
        rows.append([lead.key, lead.email or "", *attributes, *values.values()])
    return ExportFile(header, rows)


# Values


def _leadq_values(lead: ExportLead) -> list[object]:
    return [
        round(lead.fit, 1),
        round(lead.engagement, 1),
        round(lead.product, 1),
        round(lead.total, 1),
        lead.grade or "",
        lead.stage or "",
        reasons_text(lead.reasons),
        _iso_time(lead.scored_at),
    ]


def reasons_text(reasons: list[tuple[str, float]], limit: int = TOP_REASONS) -> str:
    """Write the top reasons as `demo_request +30; title_decision_maker +25`."""
    return "; ".join(f"{rule} {round(points, 1):+g}" for rule, points in reasons[:limit])


def _attribute(lead: ExportLead, name: str) -> str:
    value = lead.attributes.get(name)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _number(lead: ExportLead, name: str, pattern: re.Pattern) -> str:
    """Return a numeric attribute as Salesforce reads it; other text is left out."""
    text = _attribute(lead, name)
    if not pattern.fullmatch(text):
        return ""
    return str(int(float(text))) if pattern is INTEGER else text


def _iso_time(micros: int | None) -> str:
    if micros is None:
        return ""
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def _unmapped(leads: list[ExportLead], maps: ValueMaps) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lead in leads:
        if lead.stage is not None and lead.stage not in maps.stages:
            counts[lead.stage] = counts.get(lead.stage, 0) + 1
    return counts
