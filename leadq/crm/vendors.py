"""Column names and value sets of HubSpot and Salesforce, and leadq's lead fields.

Sources, read when this table was written:

- HubSpot contact properties: labels such as "First Name", "Email",
  "Lifecycle Stage" and their internal names (firstname, email,
  lifecyclestage), https://developers.hubspot.com/docs/api/crm/contacts and
  https://knowledge.hubspot.com/contacts/use-lifecycle-stages (the eight
  default lifecycle stages, in order, and that automatic updates only move
  a stage forward). https://developers.hubspot.com/changelog/upcoming-customized-lifecycle-stages-for-contacts-and-companies
  says accounts may add or remove stages since 2022.
- HubSpot import files: a header row whose column headers match property
  names, UTF-8, https://knowledge.hubspot.com/import-and-export/set-up-your-import-file
- Salesforce Lead fields, API names and labels (FirstName "First Name",
  Status "Lead Status", LeadSource "Lead Source", NumberOfEmployees,
  CreatedDate "Created Date", LastActivityDate "Last Activity"),
  https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-lead.html
- Salesforce lead status values are an org's own picklist (LeadStatus
  object, https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-leadstatus.html).

NOTE: the default picklist values of a new Salesforce org ("Open - Not
Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not
Converted"; Rating Hot, Warm, Cold) and HubSpot's internal lifecycle values
(marketingqualifiedlead, ...) are not listed on the pages above; they match
what those systems write in their own exports. Orgs change them, so every
mapping to them can be overridden (docs/crm.md).
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
SALESFORCE_STATUS_VALUES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
SALESFORCE_RATINGS = {"A": "Hot", "B": "Warm", "C": "Cold", "D": "Cold"}
SALESFORCE_RATING_VALUES = ("Hot", "Warm", "Cold")


# Columns of a vendor's own that a header needs before it counts as that
# vendor's export. Fewer are too common: the X Education leads file has
# "Lead Source" and "Last Activity".
MIN_SIGNATURE_COLUMNS = 3


def detect_format(header: list[str]) -> str:
    """Return the vendor whose own columns the header has most of, else generic."""
    names = {column.strip().lower() for column in header}
    hubspot = len(names & HUBSPOT.signature)
    salesforce = len(names & SALESFORCE.signature)
    if max(hubspot, salesforce) < MIN_SIGNATURE_COLUMNS or hubspot == salesforce:
        return "generic"
    return "hubspot" if hubspot > salesforce else "salesforce"
