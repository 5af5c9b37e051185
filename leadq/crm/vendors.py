"""Column names and value sets of HubSpot and Salesforce, and leadq's lead fields.

Sources, read when this table was written:

- HubSpot: email is a contact's unique identifier, and the record id is
  unique too (https://developers.hubspot.com/docs/api/crm/contacts). The
  eight default lifecycle stages, in order, and that HubSpot's automatic
  updates only move a stage forward
  (https://knowledge.hubspot.com/contacts/use-lifecycle-stages). The
  property is `lifecyclestage`, and accounts may add or remove stages since
  2022 (https://developers.hubspot.com/changelog/upcoming-customized-lifecycle-stages-for-contacts-and-companies).
  Import files have a header row whose column headers match properties
  (https://knowledge.hubspot.com/import-and-export/set-up-your-import-file).
- Salesforce: the Lead object's API field names and labels (FirstName
  "First Name", LeadSource "Lead Source", NumberOfEmployees, CreatedDate
  "Created Date", LastActivityDate "Last Activity"), from
  https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-lead.html.
  Lead Status values are each org's own picklist (LeadStatus object,
  https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-leadstatus.html).

NOTE: the list of HubSpot's default contact properties
(https://knowledge.hubspot.com/properties/hubspots-default-contact-properties)
was not readable in full here, so the other labels and internal names
(jobtitle, numemployees, "Country/Region", hs_object_id, ...) and the
internal lifecycle values (marketingqualifiedlead, ...) were checked against
integrations' published mappings. The default values of a new Salesforce
org's Lead Status ("Open - Not Contacted", ...) and Rating (Hot, Warm, Cold)
are not on the pages above either. Every export mapping to them can be
overridden (docs/crm.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# leadq's standard lead columns, as the built-in model and examples/demo
# name them. CRM columns are renamed to these.
EMAIL = "email"
CRM_ID = "crm_id"
LIFECYCLE_STAGE = "lifecycle_stage"
DATE_FIELDS = ("created_at", "last_activity_at", "last_modified_at", "converted_at")

FORMATS = ("hubspot", "salesforce", "generic")
FORMAT_NAMES = {
    "hubspot": "a HubSpot contacts export",
    "salesforce": "a Salesforce leads export",
    "generic": "a generic leads CSV",
}
# A generic leads file is named by its file format (leadq.inputs).
GENERIC_FILE_NAMES = {
    "csv": "a generic leads CSV",
    "parquet": "a generic leads Parquet file",
    "jsonl": "a generic leads JSON lines file",
}

# leadq's own score columns, as `leadq export` writes them: HubSpot
# property names (also in the generic format) and Salesforce custom fields.
LEADQ_COLUMNS = [
    "leadq_fit_score", "leadq_engagement_score", "leadq_product_score", "leadq_total_score",
    "leadq_grade", "leadq_stage", "leadq_top_reasons", "leadq_scored_at",
]  # fmt: skip
SALESFORCE_LEADQ_COLUMNS = [
    "Leadq_Fit_Score__c", "Leadq_Engagement_Score__c", "Leadq_Product_Score__c", "Leadq_Total_Score__c",
    "Leadq_Grade__c", "Leadq_Stage__c", "Leadq_Top_Reasons__c", "Leadq_Scored_At__c",
]  # fmt: skip


@dataclass(frozen=True)
class Vendor:
    """A CRM's export columns, matched case-insensitively after trimming."""

    name: str
    # Export column (lower case) -> leadq lead field.
    columns: dict[str, str]
    # Lower-case columns that only this vendor writes; they identify its files.
    signature: frozenset[str] = field(default_factory=frozenset)


HUBSPOT = Vendor(
    "hubspot",
    {
        # Labels, as a contacts export from the HubSpot app writes them.
        "record id": CRM_ID,
        "first name": "first_name",
        "last name": "last_name",
        "email": EMAIL,
        "email address": EMAIL,
        "phone number": "phone",
        "company name": "company",
        "job title": "title",
        "industry": "industry",
        "number of employees": "company_size",
        "annual revenue": "annual_revenue",
        "country/region": "country",
        "state/region": "state",
        "city": "city",
        "website url": "website",
        "lifecycle stage": LIFECYCLE_STAGE,
        "lead status": "lead_status",
        "original source": "lead_source",
        "create date": "created_at",
        "last activity date": "last_activity_at",
        "last modified date": "last_modified_at",
        # Internal names, as API exports and import templates write them.
        "hs_object_id": CRM_ID,
        "firstname": "first_name",
        "lastname": "last_name",
        "phone": "phone",
        "company": "company",
        "jobtitle": "title",
        "numemployees": "company_size",
        "annualrevenue": "annual_revenue",
        "country": "country",
        "state": "state",
        "website": "website",
        "lifecyclestage": LIFECYCLE_STAGE,
        "hs_lead_status": "lead_status",
        "hs_analytics_source": "lead_source",
        "createdate": "created_at",
        "notes_last_updated": "last_activity_at",
        "lastmodifieddate": "last_modified_at",
    },
    frozenset(
        {
            "record id", "lifecycle stage", "lifecyclestage", "hs_object_id",
            "hs_lead_status", "jobtitle", "numemployees", "country/region",
            "state/region", "phone number", "company name", "job title",
            "original source", "last activity date", "website url",
        }
    ),
)  # fmt: skip

SALESFORCE = Vendor(
    "salesforce",
    {
        # Report column labels, as a Lead report exported to CSV names them.
        "lead id": CRM_ID,
        "first name": "first_name",
        "last name": "last_name",
        "title": "title",
        "company / account": "company",
        "company": "company",
        "email": EMAIL,
        "phone": "phone",
        "lead source": "lead_source",
        "lead status": "lead_status",
        "rating": "rating",
        "industry": "industry",
        "annual revenue": "annual_revenue",
        "no. of employees": "company_size",
        "employees": "company_size",
        "country": "country",
        "state/province": "state",
        "city": "city",
        "website": "website",
        "create date": "created_at",
        "created date": "created_at",
        "last activity": "last_activity_at",
        "last modified date": "last_modified_at",
        "converted date": "converted_at",
        # API field names, as Data Loader and Data Export write them.
        "id": CRM_ID,
        "firstname": "first_name",
        "lastname": "last_name",
        "leadsource": "lead_source",
        "status": "lead_status",
        "annualrevenue": "annual_revenue",
        "numberofemployees": "company_size",
        "state": "state",
        "createddate": "created_at",
        "lastactivitydate": "last_activity_at",
        "lastmodifieddate": "last_modified_at",
        "converteddate": "converted_at",
    },
    frozenset(
        {
            "lead id", "company / account", "lead source", "rating",
            "no. of employees", "state/province", "last activity",
            "converted date", "leadsource", "numberofemployees",
            "createddate", "lastactivitydate", "converteddate", "status",
        }
    ),
)  # fmt: skip

# Common spellings of leadq's fields in hand-made files.
GENERIC = Vendor(
    "generic",
    {
        "email": EMAIL,
        "email address": EMAIL,
        "e-mail": EMAIL,
        "first name": "first_name",
        "last name": "last_name",
        "company name": "company",
        "job title": "title",
        "phone number": "phone",
        "employees": "company_size",
        "created": "created_at",
        "created date": "created_at",
        "create date": "created_at",
    },
)

VENDORS = {vendor.name: vendor for vendor in (HUBSPOT, SALESFORCE, GENERIC)}

# HubSpot's default lifecycle stages: export label (lower case) -> internal value.
HUBSPOT_LIFECYCLE = {
    "subscriber": "subscriber",
    "lead": "lead",
    "marketing qualified lead": "marketingqualifiedlead",
    "sales qualified lead": "salesqualifiedlead",
    "opportunity": "opportunity",
    "customer": "customer",
    "evangelist": "evangelist",
    "other": "other",
}

# The default stages in HubSpot's order, without `other`, which has no place in it.
HUBSPOT_ORDER = [stage for stage in HUBSPOT_LIFECYCLE.values() if stage != "other"]

# Default export mappings from leadq's built-in stages and grades.
HUBSPOT_STAGES = {
    "unqualified": "lead",
    "mql": "marketingqualifiedlead",
    "sql": "salesqualifiedlead",
    "pql": "salesqualifiedlead",
    "customer": "customer",
    "disqualified": "other",
}
SALESFORCE_STATUSES = {
    "unqualified": "Open - Not Contacted",
    "mql": "Open - Not Contacted",
    "sql": "Open - Not Contacted",
    "pql": "Open - Not Contacted",
    "customer": "Closed - Converted",
    "disqualified": "Closed - Not Converted",
}
SALESFORCE_RATINGS = {"A": "Hot", "B": "Warm", "C": "Cold", "D": "Cold"}


# Columns of a vendor's own that a header needs before it counts as that
# vendor's export. Fewer are too common: the X Education leads file has
# "Lead Source" and "Last Activity".
MIN_SIGNATURE_COLUMNS = 3


def detect_format(header: list[str]) -> str:
    """Return the vendor whose own columns the header has most of, else generic.

    leadq's HubSpot export has two HubSpot-only columns (jobtitle and
    lifecyclestage), so its leadq score columns count as a third.
    """
    names = {column.strip().lower() for column in header}
    hubspot = len(names & HUBSPOT.signature)
    salesforce = len(names & SALESFORCE.signature)
    if names >= set(LEADQ_COLUMNS):
        hubspot += 1
    if max(hubspot, salesforce) < MIN_SIGNATURE_COLUMNS or hubspot == salesforce:
        return "generic"
    return "hubspot" if hubspot > salesforce else "salesforce"


def read_format_name(crm_format: str, file_format: str) -> str:
    """Name the format that a leads file was read as; a generic one by its file format."""
    if crm_format != "generic":
        return FORMAT_NAMES[crm_format]
    return GENERIC_FILE_NAMES.get(file_format, "a generic leads file")
