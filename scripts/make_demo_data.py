"""Generate the leadq demo data set: examples/demo/leads.csv and events.csv.

The data is synthetic. It describes 300 fictional prospects of a fictional B2B
software vendor, and their marketing, sales and product events from 2026-08-01
to 2026-11-30, plus a few events after 2026-12-01. People, companies, email
domains (`*.example`) and phone numbers are made up.

The data is shaped for the README's first command, which scores it with the
built-in default model (leadq/model/default.yaml):

    leadq score examples/demo/leads.csv --events examples/demo/events.csv \\
        --as-of 2026-12-01T00:00:00Z

Each lead gets a persona (a quiet prospect, a trial user, a competitor, ...),
and its attributes and events follow from the persona. At that as-of time
every stage of the default model has leads, and every rule fires for some
of them. The personas that must stay below a stage's threshold spend an
allowance of undecayed points, so decay can only lower their scores. The
personas that must reach a threshold get recent events whose decayed points
clear it.

Usage:

    python scripts/make_demo_data.py [--seed N] [--out DIR]

The default seed and output directory reproduce the bundled files byte for
byte; another seed gives another data set of the same shape. Only the Python
standard library is needed.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEFAULT_SEED = 20261201
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "demo"

UTC = timezone.utc
# The as-of time of the README command; ages below are days before it.
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
# 2026-08-01, the first day with events, is 122 days before the as-of time.
OLDEST_AGE = 122

LEAD_COLUMNS = [
    "email", "first_name", "last_name", "title", "company", "industry",
    "company_size", "country", "phone", "lead_source",
]  # fmt: skip
EVENT_COLUMNS = ["event_id", "email", "event", "timestamp", "properties"]

# Sources of events. Web events come from a browser tracker, which writes the
# visitor's local UTC offset for leads with `local_offsets`. Email, product and
# sales events are always written in UTC.
WEB, EMAIL, PRODUCT, SALES = "web", "email", "product", "sales"


def day_start(age: int) -> datetime:
    """Return midnight UTC of the day `age` days before the as-of time."""
    return AS_OF - timedelta(days=age)


# Time zones


@dataclass(frozen=True)
class Zone:
    """A UTC offset in minutes, with the daylight saving change of late 2026.

    NOTE: only the one change between August and December 2026 is modelled,
    which covers every event this script writes.
    """

    standard: int
    summer: int | None = None
    summer_ends: datetime | None = None
    summer_starts: datetime | None = None

    def offset_at(self, instant: datetime) -> int:
        if self.summer_ends is not None and instant < self.summer_ends:
            return self.summer
        if self.summer_starts is not None and instant >= self.summer_starts:
            return self.summer
        return self.standard


# Change times as listed by the IANA time zone database for 2026.
EU_SUMMER_ENDS = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
ZONES = {
    "europe_central": Zone(60, 120, EU_SUMMER_ENDS),
    "europe_western": Zone(0, 60, EU_SUMMER_ENDS),
    "us_eastern": Zone(-300, -240, datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    "us_pacific": Zone(-480, -420, datetime(2026, 11, 1, 9, 0, tzinfo=UTC)),
    "australia_eastern": Zone(
        600, 660, summer_starts=datetime(2026, 10, 3, 16, 0, tzinfo=UTC)
    ),
    "south_africa": Zone(120),
    "colombia": Zone(-300),
    "mexico": Zone(-360),
    "brazil": Zone(-180),
    "india": Zone(330),
    "japan": Zone(540),
    "singapore": Zone(480),
}


def format_timestamp(instant: datetime, offset_minutes: int) -> str:
    """Format an instant as ISO 8601 at a UTC offset, with `Z` for UTC."""
    if offset_minutes == 0:
        return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    local = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    return local.isoformat(timespec="seconds")


# Countries, names and phone numbers

NAMES = {
    "en": (
        ["Emma", "Olivia", "Liam", "Noah", "Ava", "Mia", "James", "Grace", "Ethan",
         "Chloe", "Daniel", "Hannah", "Marcus", "Rachel", "Tom", "Sarah", "Megan",
         "Jordan", "Tyler", "Zoë", "Renée", "Aisha", "Kevin", "Nora", "Caleb",
         "Imogen", "Owen", "Ruby", "Declan", "Maeve"],
        ["Carter", "Nguyen", "Patel", "Brooks", "Hughes", "Fletcher", "Sullivan",
         "O'Brien", "Reyes", "Kim", "Okafor", "Walsh", "Bennett", "Shaw",
         "Holloway", "Duarte", "Whitaker", "Lindgren", "Abbott", "Chen",
         "Morrison", "Quinn", "Ellison", "Harper", "Doyle"],
    ),
    "de": (
        ["Jürgen", "Lena", "Maximilian", "Anja", "Stefan", "Katrin", "Jörg",
         "Björn", "Sören", "Hannah", "Felix", "Miriam", "Tobias", "Ulrike"],
        ["Müller", "Schäfer", "Köhler", "Becker", "Wagner", "Hoffmann", "Weiß",
         "Krüger", "Schröder", "Neumann", "Vogel", "Hartmann"],
    ),
    "fr": (
        ["François", "Élodie", "Camille", "Hélène", "Léa", "Mathis", "Jérôme",
         "Gaël", "Amélie", "Nicolas", "Margaux", "Théo"],
        ["Dubois", "Lefèvre", "Moreau", "Girard", "Bonnet", "Fontaine", "Roux",
         "Mercier", "Chevalier", "Garnier"],
    ),
    "nl": (
        ["Sanne", "Daan", "Bram", "Femke", "Joris", "Lotte", "Ruben", "Maaike"],
        ["de Vries", "van Dijk", "Jansen", "Bakker", "Visser", "van den Berg",
         "Smit", "Mulder"],
    ),
    "es": (
        ["José", "María", "Lucía", "Javier", "Sofía", "Andrés", "Ana", "Pablo",
         "Inés", "Álvaro", "Valentina", "Martín"],
        ["López", "García", "Martínez", "Núñez", "Fernández", "Ruiz", "Sánchez",
         "Ortega", "Castillo", "Peña"],
    ),
    "pt": (
        ["João", "Beatriz", "Gonçalo", "Luísa", "Thiago", "Camila", "Rafael",
         "Mariana"],
        ["Gonçalves", "Silva", "Araújo", "Ribeiro", "Conceição", "Almeida",
         "Costa", "Ferreira"],
    ),
    "pl": (
        ["Łukasz", "Agnieszka", "Paweł", "Zofia", "Michał", "Katarzyna"],
        ["Kowalski", "Wiśniewska", "Nowak", "Zieliński", "Wójcik", "Lewandowska"],
    ),
    "nordic": (
        ["Søren", "Astrid", "Björn", "Freja", "Mads", "Ingrid", "Linnéa", "Erik"],
        ["Lindqvist", "Sørensen", "Åberg", "Nilsson", "Holm", "Dahl", "Berg"],
    ),
    "it": (
        ["Giulia", "Luca", "Matteo", "Chiara", "Francesca", "Niccolò", "Sara"],
        ["Rossi", "Bianchi", "Esposito", "Ricci", "Marino", "Greco", "Conti"],
    ),
    "in": (
        ["Priya", "Arjun", "Ananya", "Rohan", "Kavya", "Vikram", "Meera", "Aditya"],
        ["Sharma", "Iyer", "Reddy", "Menon", "Gupta", "Nair", "Kulkarni"],
    ),
    "jp": (
        ["Haruto", "Yui", "Sota", "Aoi", "Ren", "Hina"],
        ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"],
    ),
    "sg": (
        ["Wei Ling", "Jun Jie", "Mei", "Hui Min", "Darren"],
        ["Tan", "Lim", "Ng", "Goh", "Teo"],
    ),
    "za": (
        ["Thabo", "Naledi", "Pieter", "Lerato", "Sipho", "Anri"],
        ["Nkosi", "van der Merwe", "Dlamini", "Botha", "Mokoena"],
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Country:
    name: str
    core: bool  # in the default model's country_core_market list
    names: str  # key of NAMES
    zones: tuple[str, ...]
    free_domains: tuple[str, ...]  # all in leadq/model/lists/free_email.txt
    phone_style: str


COUNTRIES = [
    Country("United States", True, "en", ("us_eastern", "us_pacific"),
            ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"), "nanp"),
    Country("Canada", True, "en", ("us_eastern",),
            ("gmail.com", "yahoo.ca", "outlook.com"), "nanp"),
    Country("United Kingdom", True, "en", ("europe_western",),
            ("gmail.com", "btinternet.com", "hotmail.co.uk", "yahoo.co.uk"), "uk"),
    Country("Germany", True, "de", ("europe_central",),
            ("gmx.de", "web.de", "t-online.de", "gmail.com"), "+49"),
    Country("France", True, "fr", ("europe_central",),
            ("orange.fr", "free.fr", "laposte.net", "gmail.com"), "+33"),
    Country("Netherlands", True, "nl", ("europe_central",),
            ("gmail.com", "outlook.com", "hotmail.com"), "+31"),
    Country("Australia", True, "en", ("australia_eastern",),
            ("gmail.com", "yahoo.com.au", "outlook.com"), "au"),
    Country("Spain", False, "es", ("europe_central",),
            ("gmail.com", "hotmail.es", "yahoo.es"), "+34"),
    Country("Italy", False, "it", ("europe_central",),
            ("libero.it", "virgilio.it", "gmail.com"), "+39"),
    Country("Sweden", False, "nordic", ("europe_central",),
            ("gmail.com", "outlook.com"), "+46"),
    Country("Denmark", False, "nordic", ("europe_central",), ("gmail.com",), "+45"),
    Country("Poland", False, "pl", ("europe_central",),
            ("wp.pl", "onet.pl", "gmail.com"), "+48"),
    Country("Ireland", False, "en", ("europe_western",),
            ("gmail.com", "outlook.com"), "+353"),
    Country("Portugal", False, "pt", ("europe_western",),
            ("gmail.com", "outlook.com"), "+351"),
    Country("Brazil", False, "pt", ("brazil",),
            ("uol.com.br", "bol.com.br", "gmail.com"), "+55"),
    Country("Mexico", False, "es", ("mexico",), ("gmail.com", "hotmail.com"), "+52"),
    Country("Colombia", False, "es", ("colombia",),
            ("gmail.com", "hotmail.com"), "+57"),
    Country("India", False, "in", ("india",),
            ("gmail.com", "rediffmail.com", "yahoo.co.in"), "+91"),
    Country("Japan", False, "jp", ("japan",), ("gmail.com", "yahoo.co.jp"), "+81"),
    Country("Singapore", False, "sg", ("singapore",), ("gmail.com",), "+65"),
    Country("South Africa", False, "za", ("south_africa",), ("gmail.com",), "+27"),
]  # fmt: skip
COUNTRY_BY_NAME = {country.name: country for country in COUNTRIES}
CORE_COUNTRIES = [c for c in COUNTRIES if c.core]
OTHER_COUNTRIES = [c for c in COUNTRIES if not c.core]
# Core markets get most leads, as they would for a vendor selling there.
CORE_WEIGHTS = [34, 8, 14, 12, 8, 6, 6]


def make_phone(rng: random.Random, country: Country) -> str:
    """Make up a phone number, in a range reserved for fiction where one exists.

    The NANP reserves 555-0100 to 555-0199, Ofcom 020 7946 0000 to 0999 and
    ACMA 02 5550 xxxx; other countries get random digits.
    """
    if country.phone_style == "nanp":
        areas = (
            ["416", "604", "514"]
            if country.name == "Canada"
            else ["212", "312", "415", "512", "617", "206"]
        )
        area = rng.choice(areas)
        return f"+1 {area}-555-01{rng.randint(0, 99):02d}"
    if country.phone_style == "uk":
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    if country.phone_style == "au":
        return f"+61 2 5550 {rng.randint(0, 9999):04d}"
    digits = "".join(str(rng.randint(0, 9)) for _ in range(8))
    return f"{country.phone_style} {rng.randint(1, 9)}{digits[:3]} {digits[3:]}"


def ascii_slug(text: str) -> str:
    """Turn a name into lower-case ASCII letters for an email address."""
    special = {"ß": "ss", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "æ": "ae"}
    text = "".join(special.get(char, char) for char in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        char for char in decomposed.lower() if char.isascii() and char.isalpha()
    )


# Job titles, industries and company sizes, by the default model's fit rules

TITLES = {
    # title_decision_maker only (+25)
    "decision": [
        "CEO", "CTO", "CFO", "COO", "Chief Revenue Officer", "Chief Marketing Officer",
        "Chief Technology Officer", "Founder", "Co-Founder", "Owner", "President",
        "VP of Sales", "VP Marketing", "VP Engineering", "Vice President, Operations",
        "Head of Growth", "Head of Revenue Operations", "Head of IT",
        "Head of Customer Success", "VP Finance",
    ],
    # title_manager only (+15)
    "manager": [
        "Marketing Manager", "Sales Director", "Director of Engineering", "IT Manager",
        "Product Manager", "Engineering Manager", "Demand Generation Manager",
        "Team Lead, Data Platform", "Lead Developer", "Operations Manager",
        "Director of Finance", "Revenue Operations Manager", "Customer Success Manager",
        "Marketing Operations Lead", "Director of Sales Development",
    ],
    # both title rules (+40)
    "combo": [
        "Founder & Managing Director", "CEO and Managing Director",
        "President & General Manager", "Owner / Director",
    ],
    # no title rule
    "other": [
        "Software Engineer", "Marketing Specialist", "Data Analyst",
        "Account Executive",
        "Consultant", "Sales Representative", "Business Analyst", "Developer",
        "UX Designer", "Accountant", "Operations Coordinator", "Marketing Associate",
        "Recruiter", "Office Administrator", "Solutions Architect", "DevOps Engineer",
        "Financial Analyst", "Content Writer", "Sales Development Representative",
        "Data Scientist",
    ],
    # title_student (-20), and the disqualified stage
    "student": [
        "Student", "MBA Student", "PhD Student", "Graduate Student, Computer Science",
        "Undergraduate Student",
    ],
}  # fmt: skip
TITLE_POINTS = {"decision": 25, "manager": 15, "combo": 40, "other": 0, "student": -20}

TARGET_INDUSTRIES = [
    "Software", "SaaS", "Internet", "Financial Services", "Healthcare", "E-commerce",
]  # fmt: skip
OTHER_INDUSTRIES = [
    "Manufacturing", "Logistics", "Retail", "Education", "Construction",
    "Professional Services", "Media", "Telecommunications", "Energy", "Nonprofit",
    "Hospitality", "Real Estate", "Legal Services", "Agriculture", "Automotive",
]  # fmt: skip
INDUSTRY_POINTS = {"target": 15, "other": 0, "missing": 0}

# Employee count ranges: size_sweet_spot (+25), size_enterprise (+15),
# no size rule, size_tiny (-10).
SIZE_RANGES = {
    "sweet": (50, 5000), "enterprise": (5001, 90000), "small": (10, 49), "tiny": (1, 9),
}  # fmt: skip
SIZE_POINTS = {"sweet": 25, "enterprise": 15, "small": 0, "tiny": -10, "missing": 0}

COMPANY_SUFFIXES = {
    "Software": ["Software", "Labs", "Systems"],
    "SaaS": ["Cloud", "Apps", "Platform"],
    "Internet": ["Digital", "Online", "Web"],
    "Financial Services": ["Capital", "Financial", "Payments"],
    "Healthcare": ["Health", "Clinics", "Medical"],
    "E-commerce": ["Store", "Commerce", "Market"],
    "Manufacturing": ["Manufacturing", "Industries", "Works"],
    "Logistics": ["Logistics", "Freight", "Shipping"],
    "Retail": ["Retail", "Outfitters", "Goods"],
    "Education": ["Academy", "Learning", "Institute"],
    "Construction": ["Builders", "Construction"],
    "Professional Services": ["Consulting", "Advisory", "Partners"],
    "Media": ["Media", "Studios", "Publishing"],
    "Telecommunications": ["Telecom", "Networks"],
    "Energy": ["Energy", "Power", "Renewables"],
    "Nonprofit": ["Foundation", "Trust"],
    "Hospitality": ["Hotels", "Hospitality"],
    "Real Estate": ["Properties", "Realty"],
    "Legal Services": ["Legal", "Law Group"],
    "Agriculture": ["Farms", "Agritech"],
    "Automotive": ["Motors", "Automotive"],
    "": ["Group", "Holdings", "Company"],
}
NAME_HEADS = [
    "Amber", "Bell", "Bright", "Cinder", "Cobalt", "Copper", "Dapple", "Drift", "Dusk",
    "Elder", "Ember", "Fable", "Fern", "Flint", "Fox", "Gilden", "Glass", "Grey",
    "Hazel", "Iron", "Juniper", "Kestrel", "Lark", "Lumen", "Marrow", "Moss", "North",
    "Orchard", "Pebble", "Quill", "Raven", "Rook", "Salt", "Thistle", "Tide", "Umber",
    "Willow", "Wren", "Yarrow", "Heron",
]  # fmt: skip
NAME_TAILS = [
    "vale", "wick", "moor", "fen", "wood", "mark", "hollow", "quay", "crest", "mere",
    "row", "wing", "field", "spire", "reach", "gate", "bank", "haven", "stone",
    "feather", "combe", "dale", "ford", "brook",
]  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """The fit attributes of a lead, by the default model's fit rules."""

    title: str  # key of TITLES
    industry: str  # target, other or missing
    size: str  # key of SIZE_RANGES, or missing
    core_country: bool
    free_email: bool = False
    phone: bool = True
    company: bool = True

    def fit_score(self) -> int:
        """Compute the fit score the default model gives these attributes."""
        points = TITLE_POINTS[self.title] + INDUSTRY_POINTS[self.industry]
        points += SIZE_POINTS[self.size] + (10 if self.core_country else 0)
        points -= 15 if self.free_email else 0
        points -= 0 if self.phone else 5
        points -= 0 if self.company else 10
        return max(0, min(100, points))

    def grade(self) -> str:
        fit = self.fit_score()
        for letter, bound in (("A", 75), ("B", 50), ("C", 25)):  # the model's grades
            if fit >= bound:
                return letter
        return "D"


R = Recipe
RECIPES = {
    "A": [
        R("decision", "target", "sweet", True),  # 75
        R("combo", "other", "sweet", True),  # 75
        R("combo", "target", "enterprise", True),  # 80
        R("combo", "target", "sweet", True),  # 90
    ],
    "B": [
        R("decision", "target", "sweet", True, phone=False),  # 70
        R("manager", "target", "sweet", True),  # 65
        R("decision", "target", "sweet", False),  # 65
        R("decision", "target", "enterprise", True),  # 65
        R("decision", "other", "sweet", True),  # 60
        R("decision", "target", "sweet", True, free_email=True),  # 60
        R("manager", "target", "enterprise", True),  # 55
        R("manager", "target", "sweet", True, company=False),  # 55
        R("manager", "missing", "sweet", True),  # 50
    ],
    "C": [
        R("other", "target", "sweet", True, phone=False),  # 45
        R("manager", "other", "sweet", False),  # 40
        R("other", "target", "sweet", False),  # 40
        R("other", "other", "sweet", True),  # 35
        R("manager", "target", "small", True, phone=False),  # 35
        R("decision", "target", "missing", True, free_email=True),  # 35
        R("manager", "other", "enterprise", False),  # 30
        R("decision", "other", "small", False),  # 25
    ],
    "D": [
        R("other", "target", "missing", False),  # 15
        R("manager", "target", "tiny", True, free_email=True),  # 15
        R("other", "other", "small", True),  # 10
        R("decision", "other", "tiny", False, phone=False),  # 10
        R("other", "missing", "missing", True, free_email=True, company=False),  # 0
        R("other", "other", "tiny", False, phone=False),  # 0
        R("other", "other", "small", False),  # 0
        R("manager", "missing", "missing", False, free_email=True, company=False),  # 0
    ],
}
STUDENT_RECIPES = [
    R("student", "missing", "missing", True, free_email=True, company=False),
    R("student", "other", "enterprise", True),  # a university address
    R(
        "student",
        "missing",
        "missing",
        False,
        free_email=True,
        company=False,
        phone=False,
    ),
]

COMPETITORS = [  # domains of the `competitors` list of the default model
    ("competitor.example", "Competitor Example Inc.", 850),
    ("competitor.example", "Competitor Example Inc.", 850),
    ("rival.example", "Rival Example Ltd", 340),
]
UNIVERSITIES = [
    ("students.lakemont-university.example", "Lakemont University"),
    ("mail.westbrook-college.example", "Westbrook College"),
]


# Website, emails, webinars and product

HOME = "/"
PAGES = {
    "product": ["/product", "/product/integrations", "/product/automation",
                "/product/reports", "/product/api", "/security"],
    "blog": ["/blog/lead-scoring-101", "/blog/why-pipelines-leak",
             "/blog/revops-metrics", "/blog/intent-data-explained",
             "/blog/pql-vs-mql", "/blog/spreadsheet-to-crm"],
    "docs": ["/docs/getting-started", "/docs/api", "/docs/integrations/crm",
             "/docs/automation-rules", "/docs/reports"],
    "company": ["/about", "/customers", "/careers", "/partners"],
    "pricing": ["/pricing", "/pricing/enterprise", "/pricing?plan=team"],
}  # fmt: skip
ASSETS = [
    "ebook-roi-guide", "whitepaper-data-security", "report-state-of-revops-2026",
    "checklist-crm-migration", "template-lead-scoring", "case-study-fernhollow-health",
]  # fmt: skip
OTHER_FORMS = ["content_request", "partner_application", "survey", "support_request"]
NEWSLETTER_LISTS = ["monthly-digest", "product-updates"]
KEY_FEATURES = ["integrations", "api", "automation", "reports"]  # key_features rule
OTHER_FEATURES = ["dashboards", "sso", "mobile_app", "csv_import"]
SHARE_CHANNELS = ["linkedin", "email", "x", "slack"]


@dataclass(frozen=True)
class Webinar:
    age: int  # days before the as-of time
    name: str


WEBINARS = [
    Webinar(103, "2026-08-20-pipeline-basics"),
    Webinar(75, "2026-09-17-forecasting-with-intent-data"),
    Webinar(47, "2026-10-15-revops-metrics-that-matter"),
    Webinar(19, "2026-11-12-product-led-sales"),
    Webinar(7, "2026-11-24-lead-scoring-workshop"),
    Webinar(-9, "2026-12-10-planning-for-2027"),
]
WEBINAR_HOUR_UTC = 16


@dataclass(frozen=True)
class EmailSend:
    instant: datetime
    campaign: str
    links: tuple[str, ...]


def email_sends() -> list[EmailSend]:
    """List the vendor's marketing emails: a Tuesday newsletter and campaigns."""
    sends = []
    instant = datetime(2026, 8, 4, 14, 0, tzinfo=UTC)
    while instant < datetime(2026, 12, 10, tzinfo=UTC):
        links = tuple(PAGES["blog"][(instant.day + i) % 6] for i in range(3))
        sends.append(EmailSend(instant, f"newsletter-{instant:%Y-%m-%d}", links))
        instant += timedelta(days=7)
    campaigns = [
        ("2026-08-13", "webinar-invite-pipeline-basics",
         ("/webinars/pipeline-basics",)),
        ("2026-08-27", "ebook-roi-guide-launch", ("/resources/ebook-roi-guide",)),
        ("2026-09-10", "webinar-invite-forecasting", ("/webinars/forecasting",)),
        ("2026-09-24", "customer-story-fernhollow",
         ("/customers", "/resources/case-study-fernhollow-health")),
        ("2026-10-08", "webinar-invite-revops-metrics", ("/webinars/revops-metrics",)),
        ("2026-10-22", "report-state-of-revops-launch",
         ("/resources/report-state-of-revops-2026",)),
        ("2026-11-05", "webinar-invite-product-led-sales",
         ("/webinars/product-led-sales", "/product")),
        ("2026-11-19", "product-update-automation",
         ("/product/automation", "/docs/automation-rules")),
        ("2026-12-03", "year-end-offer", ("/pricing?plan=team", "/pricing")),
    ]  # fmt: skip
    for date_text, campaign, links in campaigns:
        instant = datetime.fromisoformat(date_text).replace(
            hour=15, minute=30, tzinfo=UTC
        )
        sends.append(EmailSend(instant, campaign, links))
    return sorted(sends, key=lambda send: send.instant)


SENDS = email_sends()
PAST_SENDS = [send for send in SENDS if send.instant < AS_OF]


# Leads and events


@dataclass
class Event:
    instant: datetime
    name: str
    properties: dict
    source: str
    email: str | None = None  # how the tracker wrote the address, if not canonical
    event_id: str = ""
    lead: Lead | None = None


@dataclass
class Lead:
    email: str  # trimmed and lower-cased, as leadq compares it
    persona: str
    recipe: Recipe
    country: Country
    zone: Zone
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    company: str = ""
    industry: str = ""
    company_size: int | None = None
    phone: str = ""
    lead_source: str = ""
    email_in_file: str = ""  # the address as leads.csv writes it
    local_offsets: bool = False
    expected: str = ""  # the stage the persona is built to reach
    events: list[Event] = field(default_factory=list)

    def row(self) -> list[str]:
        size = "" if self.company_size is None else str(self.company_size)
        return [
            self.email_in_file or self.email, self.first_name, self.last_name,
            self.title, self.company, self.industry, size, self.country.name,
            self.phone, self.lead_source,
        ]  # fmt: skip


@dataclass
class Company:
    name: str
    domain: str
    industry: str
    size: int | None
    country: Country


class Directory:
    """Fictional companies and unique email addresses."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.companies: list[Company] = []
        self.used_heads: set[str] = set()
        self.emails: set[str] = set()
        self.people: set[tuple[str, str]] = set()

    def new_person(self, country: Country) -> tuple[str, str]:
        """Pick a first and last name that no other lead has."""
        first_names, last_names = NAMES[country.names]
        while True:
            name = (self.rng.choice(first_names), self.rng.choice(last_names))
            if name not in self.people:
                self.people.add(name)
                return name

    def company_for(self, recipe: Recipe, country: Country) -> Company:
        """Return a company that fits the recipe, at times one with a lead already."""
        matches = [
            c for c in self.companies
            if c.country is country and industry_kind(c.industry) == recipe.industry
            and size_kind(c.size) == recipe.size
        ]  # fmt: skip
        if matches and self.rng.random() < 0.25:
            return self.rng.choice(matches)
        industry = pick_industry(self.rng, recipe.industry)
        size = pick_size(self.rng, recipe.size)
        head = self.new_company_head()
        suffix = self.rng.choice(COMPANY_SUFFIXES[industry])
        domain = f"{head.lower()}-{ascii_slug(suffix)}.example"
        company = Company(f"{head} {suffix}", domain, industry, size, country)
        self.companies.append(company)
        return company

    def new_company_head(self) -> str:
        while True:
            head = self.rng.choice(NAME_HEADS) + self.rng.choice(NAME_TAILS)
            if head not in self.used_heads:
                self.used_heads.add(head)
                return head

    def unique_email(self, first: str, last: str, domain: str) -> str:
        first, last = ascii_slug(first), ascii_slug(last)
        styles = [f"{first}.{last}", f"{first[0]}{last}", f"{first}", f"{first}_{last}"]
        if domain.endswith(".example"):
            local = self.rng.choices(styles, weights=[6, 3, 1, 1])[0]
        else:  # webmail addresses are rarely plain first.last
            local = f"{first}.{last}{self.rng.randint(1, 99)}"
        candidate, number = local, 1
        while f"{candidate}@{domain}" in self.emails:
            number += 1
            candidate = f"{local}{number}"
        email = f"{candidate}@{domain}"
        self.emails.add(email)
        return email


def industry_kind(industry: str) -> str:
    if not industry:
        return "missing"
    return "target" if industry in TARGET_INDUSTRIES else "other"


def size_kind(size: int | None) -> str:
    if size is None:
        return "missing"
    for kind, (low, high) in SIZE_RANGES.items():
        if low <= size <= high:
            return kind
    raise ValueError(f"company size {size} is in no range of SIZE_RANGES")


def pick_industry(rng: random.Random, kind: str) -> str:
    if kind == "target":
        return rng.choice(TARGET_INDUSTRIES)
    if kind == "other":
        return rng.choice(OTHER_INDUSTRIES)
    return ""


def pick_size(rng: random.Random, kind: str) -> int | None:
    """Pick an employee count, log-uniform in the range so small firms are common."""
    if kind == "missing":
        return None
    low, high = SIZE_RANGES[kind]
    value = round(low * (high / low) ** rng.random())
    if value > 200:  # people round bigger head counts
        value = round(value, -1)
    return max(low, min(high, value))


def pick_country(rng: random.Random, core: bool) -> Country:
    if core:
        return rng.choices(CORE_COUNTRIES, weights=CORE_WEIGHTS)[0]
    return rng.choice(OTHER_COUNTRIES)


LEAD_SOURCES = {
    "quiet": [
        "website", "paid_search", "trade_show", "linkedin_ads", "content", "outbound",
    ],
    "engaged": [
        "website", "content", "webinar", "paid_search", "referral", "linkedin_ads",
    ],
    "sales": [
        "website", "referral", "partner", "outbound", "trade_show", "paid_search",
    ],
    "product": ["product_signup"],
}  # fmt: skip


def make_lead(
    rng: random.Random,
    directory: Directory,
    persona: str,
    recipe: Recipe,
    sources: str,
    country: Country | None = None,
) -> Lead:
    """Create a lead's identity and attributes from its fit recipe."""
    country = country or pick_country(rng, recipe.core_country)
    first, last = directory.new_person(country)
    zone = ZONES[rng.choice(country.zones)]
    lead = Lead("", persona, recipe, country, zone, first_name=first, last_name=last)
    lead.title = rng.choice(TITLES[recipe.title])
    if recipe.title == "other" and rng.random() < 0.1:
        lead.title = ""  # the form did not ask
    company = directory.company_for(recipe, country)
    if recipe.free_email:
        domain = rng.choice(country.free_domains)
    else:
        domain = company.domain
    lead.email = directory.unique_email(first, last, domain)
    if recipe.company:
        lead.company = company.name
    lead.industry = company.industry
    lead.company_size = company.size
    if recipe.free_email and not recipe.company:
        # No employer is named, so the firmographics come from the recipe alone.
        lead.industry = pick_industry(rng, recipe.industry)
        lead.company_size = pick_size(rng, recipe.size)
    lead.phone = make_phone(rng, country) if recipe.phone else ""
    lead.lead_source = rng.choice(LEAD_SOURCES[sources])
    lead.local_offsets = rng.random() < 0.3
    return lead


# Placing events in time


class Timeline:
    """Builder of one lead's events, which places them in time."""

    def __init__(self, lead: Lead, rng: random.Random) -> None:
        self.lead = lead
        self.rng = rng
        self.session_ages: list[int] = []
        self.downloaded: list[str] = []

    def business_time(
        self, age: int, first_hour: int = 8, last_hour: int = 19
    ) -> datetime:
        """Pick a time of the lead's working day, on the UTC day `age` days back.

        The UTC date stays fixed, so an event on a day with age <= 30 is within
        30 days of the as-of time whatever the lead's time zone.
        """
        local_minute = self.rng.randint(first_hour * 60, last_hour * 60 - 1)
        utc_minute = (local_minute - self.lead.zone.standard) % 1440
        return day_start(age) + timedelta(
            minutes=utc_minute, seconds=self.rng.randint(0, 59)
        )

    def add(
        self, instant: datetime, name: str, properties: dict, source: str
    ) -> datetime:
        self.lead.events.append(Event(instant, name, properties, source))
        return instant

    def later(self, instant: datetime, low_seconds: int, high_seconds: int) -> datetime:
        return instant + timedelta(seconds=self.rng.randint(low_seconds, high_seconds))

    def free_age(self, youngest: int, oldest: int) -> int:
        """Pick a day [youngest, oldest] days back, preferring one with no session."""
        for _ in range(20):
            age = self.rng.randint(youngest, oldest)
            if age not in self.session_ages:
                return age
        return age

    def recent_age(
        self, power: float, youngest: int = 1, oldest: int = OLDEST_AGE
    ) -> int:
        """Pick an age skewed towards recent days; a higher power skews more."""
        return youngest + int((oldest - youngest + 1) * self.rng.random() ** power)

    # Website

    def browse(self, count: int, groups: dict[str, float]) -> list[str]:
        names = list(groups)
        weights = [groups[name] for name in names]
        pages = [HOME] if self.rng.random() < 0.3 else []
        while len(pages) < count:
            group = self.rng.choices(names, weights=weights)[0]
            pages.append(self.rng.choice(PAGES[group]))
        return pages

    def session(
        self, age: int, pages: list[str], start: datetime | None = None
    ) -> datetime:
        """Add page views a few minutes apart, so they form one visit."""
        instant = start or self.business_time(age)
        self.session_ages.append(age)
        for index, url in enumerate(pages):
            if index:
                instant = self.later(instant, 15, 420)
            self.add(instant, "page_viewed", {"url": url}, WEB)
        return instant

    def visit(
        self, age: int, groups: dict[str, float], low: int = 1, high: int = 5
    ) -> datetime:
        return self.session(age, self.browse(self.rng.randint(low, high), groups))

    def pricing_visit(self, age: int) -> datetime:
        pages = self.browse(self.rng.randint(0, 2), {"product": 2, "blog": 1})
        pages.append(self.rng.choice(PAGES["pricing"]))
        return self.session(age, pages)

    def download(self, age: int, asset: str) -> datetime:
        self.downloaded.append(asset)
        instant = self.session(age, [f"/resources/{asset}"])
        return self.add(
            self.later(instant, 20, 90), "content_downloaded", {"asset": asset}, WEB
        )

    def form(self, age: int, form: str, page: str) -> datetime:
        instant = self.session(age, [page])
        return self.add(
            self.later(instant, 30, 240), "form_submitted", {"form": form}, WEB
        )

    def newsletter(self, age: int, list_name: str) -> datetime:
        instant = self.session(age, [self.rng.choice(PAGES["blog"])])
        properties = {"list": list_name}
        return self.add(
            self.later(instant, 20, 120), "newsletter_subscribed", properties, WEB
        )

    def new_assets(self, count: int) -> list[str]:
        """Pick assets the lead has not downloaded: only a first download scores."""
        fresh = [asset for asset in ASSETS if asset not in self.downloaded]
        return self.rng.sample(fresh, min(count, len(fresh)))

    def share(self, age: int) -> datetime:
        properties = {
            "asset": self.rng.choice(ASSETS),
            "channel": self.rng.choice(SHARE_CHANNELS),
        }
        return self.add(self.business_time(age), "content_shared", properties, WEB)

    # Webinars

    def register(self, webinar: Webinar, days_before: int | None = None) -> datetime:
        if days_before is None:
            days_before = self.rng.randint(1, 12)
        instant = self.business_time(webinar.age + days_before)
        return self.add(instant, "webinar_registered", {"webinar": webinar.name}, WEB)

    def attend(self, webinar: Webinar) -> datetime:
        start = day_start(webinar.age) + timedelta(hours=WEBINAR_HOUR_UTC)
        instant = self.later(start, -120, 600)
        return self.add(instant, "webinar_attended", {"webinar": webinar.name}, WEB)

    # Email

    def open_email(self, send: EmailSend) -> datetime:
        delay = int(60 * 60 * 30 * self.rng.random() ** 3) + 60
        instant = send.instant + timedelta(seconds=delay)
        return self.add(instant, "email_opened", {"campaign": send.campaign}, EMAIL)

    def click_email(self, send: EmailSend, opened: datetime) -> datetime:
        properties = {"campaign": send.campaign, "url": self.rng.choice(send.links)}
        return self.add(self.later(opened, 5, 300), "email_clicked", properties, EMAIL)

    # Sales

    def demo_request(self, age: int, start: datetime | None = None) -> datetime:
        instant = self.session(age, ["/demo"], start=start)
        properties = {"source": self.rng.choice(["website", "pricing_page", "email"])}
        return self.add(self.later(instant, 30, 300), "demo_requested", properties, WEB)

    def meeting(self, age: int) -> datetime:
        kind = self.rng.choice(["discovery", "demo", "technical_review"])
        return self.add(
            self.business_time(age), "meeting_booked", {"meeting_type": kind}, SALES
        )

    def pricing_request(self, age: int) -> datetime:
        instant = self.session(age, [self.rng.choice(PAGES["pricing"])])
        plan = self.rng.choice(["team", "business", "enterprise"])
        return self.add(
            self.later(instant, 30, 400), "pricing_requested", {"plan": plan}, WEB
        )

    # Product

    def start_trial(self, age: int) -> datetime:
        instant = self.session(age, ["/product", "/signup"])
        properties = {"plan": self.rng.choice(["team", "business"])}
        return self.add(
            self.later(instant, 60, 300), "trial_started", properties, PRODUCT
        )

    def log_in(self, age: int) -> None:
        instant = self.business_time(age, 7, 21)
        for _ in range(self.rng.choices([1, 2, 3], weights=[5, 3, 1])[0]):
            client = self.rng.choice(["web", "web", "desktop"])
            self.add(instant, "logged_in", {"client": client}, PRODUCT)
            instant = self.later(instant, 1800, 5 * 3600)

    def activate(self, age: int, feature: str) -> datetime:
        return self.add(
            self.business_time(age), "feature_activated", {"feature": feature}, PRODUCT
        )

    def invite(self, age: int) -> datetime:
        role = self.rng.choice(["member", "member", "admin"])
        return self.add(
            self.business_time(age), "teammate_invited", {"role": role}, PRODUCT
        )


# Engagement allowance for leads that must stay below a threshold


class Allowance:
    """Upper bound of a lead's engagement score, in undecayed points.

    Decay factors are at most 1, so the score leadq computes is at most this
    bound. Points and caps are those of the default model's engagement rules.
    """

    RULES = {
        "visit": (2, 12),
        "pricing_day": (8, 24),
        "click": (3, 15),
        "open": (1, 5),
        "download": (8, 24),
        "webinar_registered": (5, 10),
        "other_form": (5, 10),
        "newsletter": (3, 3),
        "share": (4, 8),
    }

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.points = {name: 0 for name in self.RULES}

    def spent(self) -> float:
        return sum(min(self.RULES[name][1], got) for name, got in self.points.items())

    def try_spend(self, rules: tuple[str, ...]) -> bool:
        """Add the points of one event of each rule, unless that passes the limit."""
        for name in rules:
            self.points[name] += self.RULES[name][0]
        if self.spent() <= self.limit:
            return True
        for name in rules:
            self.points[name] -= self.RULES[name][0]
        return False


# Menu items: the engagement rules each item can feed.
ITEMS = {
    "visit": ("visit",),
    "open": ("open",),
    "click": ("open", "click"),
    "download": ("visit", "download"),
    "newsletter": ("visit", "newsletter"),
    "webinar_registered": ("webinar_registered",),
    "other_form": ("visit", "other_form"),
    "share": ("share",),
    "pricing": ("visit", "pricing_day"),
}
QUIET_MENU = {"open": 6, "visit": 3, "click": 1, "newsletter": 1}
BROWSER_MENU = {
    "visit": 5, "open": 4, "click": 2, "download": 1, "newsletter": 1,
    "webinar_registered": 1, "other_form": 1, "share": 0.5,
}  # fmt: skip


def spend_allowance(
    tl: Timeline, menu: dict[str, float], limit: float, target: float
) -> None:
    """Add events picked from `menu` until they reach `target` undecayed points.

    No event is added that would take the bound past `limit`.
    """
    allowance = Allowance(limit)
    names = list(menu)
    weights = [menu[name] for name in names]
    for _ in range(60):
        if allowance.spent() >= target:
            break
        item = tl.rng.choices(names, weights=weights)[0]
        if not allowance.try_spend(ITEMS[item]):
            continue
        add_menu_item(tl, item)


def add_menu_item(tl: Timeline, item: str) -> None:
    rng = tl.rng
    groups = {"blog": 3, "product": 2, "company": 1}
    if item == "visit":
        tl.visit(tl.free_age(1, OLDEST_AGE), groups, 1, 4)
    elif item in ("open", "click"):
        send = rng.choice(PAST_SENDS)
        instant = tl.open_email(send)
        if item == "click":
            tl.click_email(send, instant)
    elif item == "download":
        tl.download(tl.free_age(1, OLDEST_AGE), rng.choice(ASSETS))
    elif item == "newsletter":
        tl.newsletter(tl.free_age(1, OLDEST_AGE), rng.choice(NEWSLETTER_LISTS))
    elif item == "webinar_registered":
        tl.register(rng.choice(WEBINARS[:-1]))
    elif item == "other_form":
        form = rng.choice(OTHER_FORMS)
        tl.form(tl.free_age(1, OLDEST_AGE), form, f"/forms/{form.replace('_', '-')}")
    elif item == "share":
        tl.share(rng.randint(1, OLDEST_AGE))
    elif item == "pricing":
        tl.pricing_visit(tl.free_age(1, OLDEST_AGE))


def budget(recipe: Recipe, product_bound: float = 0.0) -> float:
    """Return the engagement bound that keeps a lead out of the mql stage.

    mql needs a total of 80, or grade A/B and an engagement score of 30.
    """
    limit = 79 - recipe.fit_score() - product_bound
    if recipe.grade() in ("A", "B"):
        limit = min(limit, 29)
    return limit


# Engagement of active leads


@dataclass(frozen=True)
class Habits:
    """How much an active lead does, before any guaranteed events."""

    sessions: tuple[int, int]
    recency: float  # power of recent_age: higher puts more events near the as-of time
    open_rate: float
    click_rate: float
    pages: dict
    downloads: tuple[int, int] = (0, 2)
    webinar_rate: float = 0.1
    shares: tuple[int, int] = (0, 1)


HABITS = {
    "nurture": Habits(
        sessions=(6, 16), recency=1.6, open_rate=0.45, click_rate=0.25,
        pages={"blog": 3, "product": 3, "company": 1, "pricing": 0.6},
    ),
    "hot": Habits(
        sessions=(12, 24), recency=2.0, open_rate=0.6, click_rate=0.35,
        pages={"blog": 2, "product": 3, "pricing": 1.5, "docs": 1},
        downloads=(1, 3), webinar_rate=0.3,
    ),
    "sales": Habits(
        sessions=(8, 20), recency=2.2, open_rate=0.4, click_rate=0.25,
        pages={"product": 3, "pricing": 2, "company": 1, "blog": 1},
    ),
    "product": Habits(
        sessions=(6, 14), recency=1.8, open_rate=0.3, click_rate=0.15,
        pages={"docs": 4, "product": 2, "pricing": 1},
        downloads=(0, 1), webinar_rate=0.05,
    ),
    "competitor": Habits(
        sessions=(14, 26), recency=1.5, open_rate=0.2, click_rate=0.2,
        pages={"pricing": 3, "product": 3, "docs": 2},
        downloads=(2, 4), webinar_rate=0.2,
    ),
    "student": Habits(
        sessions=(3, 8), recency=1.2, open_rate=0.3, click_rate=0.1,
        pages={"blog": 4, "company": 1}, downloads=(1, 3), webinar_rate=0.3,
    ),
    "lapsed": Habits(
        sessions=(2, 8), recency=0.8, open_rate=0.35, click_rate=0.1,
        pages={"blog": 3, "product": 2, "company": 1},
    ),
}  # fmt: skip


def active_engagement(
    tl: Timeline, habits: Habits, stop_email: datetime | None = None
) -> None:
    """Add organic marketing activity, with no sales or product events."""
    rng = tl.rng
    pages = {name: weight for name, weight in habits.pages.items() if name in PAGES}
    for _ in range(rng.randint(*habits.sessions)):
        age = tl.recent_age(habits.recency)
        tl.visit(age, pages, 1, 6)
    for _ in range(rng.randint(*habits.downloads)):
        tl.download(tl.recent_age(habits.recency), rng.choice(ASSETS))
    for _ in range(rng.randint(*habits.shares)):
        tl.share(tl.recent_age(habits.recency))
    for webinar in WEBINARS[:-1]:
        if rng.random() < habits.webinar_rate:
            tl.register(webinar)
            if rng.random() < 0.6:
                tl.attend(webinar)
    for send in PAST_SENDS:
        if stop_email is not None and send.instant >= stop_email:
            break
        if rng.random() >= habits.open_rate:
            continue
        opened = tl.open_email(send)
        if rng.random() < 0.15:  # opened again later
            tl.open_email(send)
        if rng.random() < habits.click_rate:
            tl.click_email(send, opened)


def recent_core(tl: Timeline) -> None:
    """Add recent engagement worth at least 30 points after decay.

    Everything lies within 28 days, where a 45-day half-life keeps at least
    65% of the points: a webinar (15), two downloads (16), a pricing page
    view (8) and six visits (12) give 51 undecayed, 33 decayed.
    """
    rng = tl.rng
    webinar = rng.choice([WEBINARS[3], WEBINARS[4]])
    tl.register(webinar)
    tl.attend(webinar)
    for asset in tl.new_assets(2):
        tl.download(tl.free_age(2, 28), asset)
    tl.pricing_visit(tl.free_age(2, 28))
    for _ in range(3):
        tl.visit(tl.free_age(2, 28), {"product": 2, "blog": 1})


# Drills: events that take one rule to its cap, all within the last 12 days.


def drill_visits(tl: Timeline) -> None:
    for age in range(1, 12):
        tl.visit(age, {"product": 2, "blog": 1, "docs": 1}, 2, 5)


def drill_pricing_page(tl: Timeline) -> None:
    for age in tl.rng.sample(range(1, 12), 5):
        tl.pricing_visit(age)


def drill_email_click(tl: Timeline) -> None:
    for send in PAST_SENDS[-5:]:
        opened = tl.open_email(send)
        for _ in range(2):
            tl.click_email(send, opened)


def drill_email_open(tl: Timeline) -> None:
    for send in PAST_SENDS:
        tl.open_email(send)


def drill_content_download(tl: Timeline) -> None:
    for asset in tl.new_assets(4):
        tl.download(tl.free_age(1, 12), asset)


def drill_webinar_registered(tl: Timeline) -> None:
    tl.register(WEBINARS[4], 2)
    tl.register(WEBINARS[5], tl.rng.randint(10, 16))
    tl.register(WEBINARS[3], 3)


def drill_webinar_attended(tl: Timeline) -> None:
    for webinar in WEBINARS[2:5]:
        tl.register(webinar)
        tl.attend(webinar)
    tl.register(WEBINARS[1])
    tl.attend(WEBINARS[1])


def drill_contact_form(tl: Timeline) -> None:
    for age in tl.rng.sample(range(1, 12), 2):
        tl.form(age, tl.rng.choice(["contact", "contact_sales"]), "/contact")


def drill_other_forms(tl: Timeline) -> None:
    for form in tl.rng.sample(OTHER_FORMS, 3):
        tl.form(tl.free_age(1, 12), form, f"/forms/{form.replace('_', '-')}")


def drill_newsletter(tl: Timeline) -> None:
    for list_name in NEWSLETTER_LISTS:
        tl.newsletter(tl.free_age(1, 12), list_name)


def drill_content_shared(tl: Timeline) -> None:
    for _ in range(3):
        tl.share(tl.rng.randint(1, 10))


def drill_demo_request(tl: Timeline) -> None:
    for age in tl.rng.sample(range(2, 25), 2):
        tl.demo_request(age)


def drill_meeting_booked(tl: Timeline) -> None:
    for age in tl.rng.sample(range(1, 8), 2):
        tl.meeting(age)


def drill_pricing_request(tl: Timeline) -> None:
    for age in tl.rng.sample(range(1, 8), 2):
        tl.pricing_request(age)


MARKETING_DRILLS = [
    drill_visits, drill_pricing_page, drill_email_click, drill_email_open,
    drill_content_download, drill_webinar_registered, drill_webinar_attended,
    drill_contact_form, drill_other_forms, drill_newsletter, drill_content_shared,
]  # fmt: skip
SALES_DRILLS = [drill_demo_request, drill_meeting_booked, drill_pricing_request]


# Product usage


def trial_usage(
    tl: Timeline, trial_age: int, last_age: int, active_share: float
) -> None:
    """Add a trial and logins on about `active_share` of the days since."""
    tl.start_trial(trial_age)
    for age in range(trial_age, last_age - 1, -1):
        if tl.rng.random() < active_share:
            tl.log_in(age)


def active_trial(tl: Timeline, power_user: bool) -> None:
    """Add a trial with a product score of at least 40 at the as-of time.

    Logins on at least 12 of the last 14 days are worth 24 or more after the
    14-day half-life, the trial 10, and two new key features in the last 7
    days 14 or more.
    """
    rng = tl.rng
    trial_age = rng.randint(18, 55)
    tl.start_trial(trial_age)
    if power_user and rng.random() < 0.4:  # started a second trial: capped at 10
        tl.start_trial(trial_age - rng.randint(3, 8))
    skipped = rng.sample(range(1, 15), 2)
    for age in range(trial_age, 0, -1):
        if age <= 14:
            active = age not in skipped
        else:
            active = rng.random() < 0.6
        if active:
            tl.log_in(age)
    keys = rng.sample(KEY_FEATURES, 4 if power_user else 2)
    recent_limit = 4 if power_user else 7
    for feature in keys:
        tl.activate(rng.randint(1, recent_limit), feature)
    for feature in rng.sample(OTHER_FEATURES, rng.randint(1, 3)):
        tl.activate(rng.randint(1, trial_age), feature)
    invites = rng.randint(4, 6) if power_user else rng.randint(0, 3)
    for _ in range(invites):
        tl.invite(rng.randint(1, 5) if power_user else rng.randint(1, trial_age))


def dormant_trial(tl: Timeline) -> float:
    """Add a trial abandoned 56 or more days ago; return its product score bound.

    Logins older than 30 days score nothing, and a 14-day half-life leaves at
    most 1/16 of a feature's or invitation's 10 points after 56 days.
    """
    rng = tl.rng
    trial_age = rng.randint(70, 115)
    last_age = trial_age - rng.randint(3, 12)
    trial_usage(tl, trial_age, last_age, 0.6)
    late_events = 0
    for feature in rng.sample(KEY_FEATURES + OTHER_FEATURES, rng.randint(1, 3)):
        tl.activate(rng.randint(last_age, trial_age), feature)
        late_events += 1
    if rng.random() < 0.4:
        tl.invite(rng.randint(last_age, trial_age))
        late_events += 1
    return 10 + late_events * 10 / 16


# Personas


def persona_cold(tl: Timeline) -> None:
    limit = budget(tl.lead.recipe)
    target = tl.rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 8])
    spend_allowance(tl, QUIET_MENU, limit, min(target, limit))


def persona_browser(tl: Timeline) -> None:
    limit = budget(tl.lead.recipe)
    target = tl.rng.randint(10, 25)
    spend_allowance(tl, BROWSER_MENU, limit, min(target, limit))


def persona_old_demo(tl: Timeline) -> None:
    """Add a demo request 92 or more days back, which the step decay makes 0."""
    age = tl.rng.randint(92, 118)
    tl.visit(age, {"product": 1}, 1, 3)
    tl.demo_request(age)
    limit = budget(tl.lead.recipe) - 4  # the two sessions above, 2 points each
    spend_allowance(tl, QUIET_MENU, limit, min(tl.rng.randint(2, 8), limit))


def persona_trial_dormant(tl: Timeline) -> None:
    product_bound = dormant_trial(tl)
    limit = budget(tl.lead.recipe, product_bound) - 2  # the sign-up visit
    spend_allowance(tl, QUIET_MENU, limit, min(tl.rng.randint(0, 10), limit))


def persona_trial_low_fit(tl: Timeline) -> None:
    """Add an active trial at a grade D lead, with a product score of at most 60.

    The trial scores 10, logins at most 40 and the one key feature at most 10.
    """
    rng = tl.rng
    trial_age = rng.randint(20, 40)
    trial_usage(tl, trial_age, 1, 0.7)
    tl.activate(rng.randint(1, trial_age), rng.choice(KEY_FEATURES))
    tl.activate(rng.randint(1, trial_age), rng.choice(OTHER_FEATURES))
    limit = budget(tl.lead.recipe, 60) - 2  # the sign-up visit
    spend_allowance(tl, QUIET_MENU, limit, min(rng.randint(0, 12), limit))


def persona_future_trial(tl: Timeline) -> None:
    """Add a trial that starts after the as-of time, so leadq must not count it."""
    limit = budget(tl.lead.recipe)
    spend_allowance(tl, QUIET_MENU, limit, min(6, limit))
    trial_usage(tl, -1, -8, 0.9)
    tl.activate(-3, "integrations")
    tl.activate(-4, "api")
    tl.invite(-5)


def persona_future_demo(tl: Timeline) -> None:
    """Add a demo request after the as-of time, so the lead is not sql yet."""
    limit = budget(tl.lead.recipe)
    spend_allowance(tl, QUIET_MENU, limit, min(8, limit))
    tl.demo_request(-1)
    tl.meeting(-3)


def persona_nurture(tl: Timeline, demo_age: int | None) -> None:
    active_engagement(tl, HABITS["nurture"])
    recent_core(tl)
    if demo_age is not None:
        tl.demo_request(demo_age)


def persona_hot_low_fit(tl: Timeline, with_demo: bool) -> None:
    """Add so much engagement that a grade C lead's total passes 80."""
    active_engagement(tl, HABITS["hot"])
    recent_core(tl)
    drill_webinar_attended(tl)
    drill_content_download(tl)
    tl.form(tl.free_age(1, 20), "contact_sales", "/contact")
    if with_demo:
        tl.demo_request(tl.rng.randint(2, 20))


def persona_perfect_fit(tl: Timeline) -> None:
    for _ in range(tl.rng.randint(0, 3)):
        tl.open_email(tl.rng.choice(PAST_SENDS))


def persona_sales(tl: Timeline, kind: str) -> None:
    """Add a sales request 2 to 28 days back, so within the sql stage's 30 days."""
    rng = tl.rng
    active_engagement(tl, HABITS["sales"])
    age = rng.randint(2, 28)
    for lead_up in range(rng.randint(1, 3)):
        tl.pricing_visit(min(OLDEST_AGE, age + lead_up + rng.randint(1, 10)))
    if kind == "demo":
        tl.demo_request(age)
    elif kind == "meeting":
        tl.meeting(age)
    elif kind == "pricing":
        tl.pricing_request(age)
    elif kind == "contact_then_meeting":
        tl.form(age + rng.randint(2, 6), "contact_sales", "/contact")
        tl.meeting(age)


def persona_pql(tl: Timeline, power_user: bool) -> None:
    active_engagement(tl, HABITS["product"])
    active_trial(tl, power_user)


def persona_competitor(tl: Timeline, with_trial: bool) -> None:
    active_engagement(tl, HABITS["competitor"])
    drill_pricing_page(tl)
    if with_trial:
        active_trial(tl, power_user=False)


def persona_student(tl: Timeline) -> None:
    active_engagement(tl, HABITS["student"])
    webinar = tl.rng.choice(WEBINARS[1:5])
    tl.register(webinar)
    tl.attend(webinar)


def persona_unsubscribed(tl: Timeline) -> None:
    """Add a few email opens, then an unsubscribe through a link in one of them."""
    rng = tl.rng
    send = rng.choice(PAST_SENDS[2:-1])
    opened = tl.open_email(send)
    unsubscribed = tl.later(opened, 10, 600)
    tl.add(unsubscribed, "unsubscribed", {"campaign": send.campaign}, EMAIL)
    active_engagement(tl, HABITS["lapsed"], stop_email=send.instant)


def persona_bounced(tl: Timeline, bounces: int) -> None:
    """Add one or more bounces, as from an address that stopped working."""
    rng = tl.rng
    first = rng.randrange(len(PAST_SENDS) - bounces)
    for send in PAST_SENDS[first : first + bounces]:
        instant = tl.later(send.instant, 2, 90)
        reason = rng.choice(["mailbox_not_found", "domain_not_found", "mailbox_full"])
        tl.add(
            instant,
            "email_bounced",
            {"campaign": send.campaign, "reason": reason},
            EMAIL,
        )
    for _ in range(rng.randint(0, 3)):
        tl.visit(tl.free_age(1, OLDEST_AGE), {"blog": 2, "product": 1}, 1, 3)


# The data set


@dataclass
class Plan:
    """How many leads of a persona to make, and from which recipes."""

    persona: str
    count: int
    grades: dict[str, float]
    sources: str
    expected: str  # the stage the lead should reach at the as-of time


PLANS = [
    Plan(
        "cold",
        118,
        {"A": 0.05, "B": 0.25, "C": 0.35, "D": 0.35},
        "quiet",
        "unqualified",
    ),
    Plan("browser", 55, {"B": 0.25, "C": 0.4, "D": 0.35}, "engaged", "unqualified"),
    Plan("old_demo", 5, {"B": 1}, "sales", "unqualified"),
    Plan("trial_dormant", 6, {"C": 0.5, "D": 0.5}, "product", "unqualified"),
    Plan("trial_low_fit", 4, {"D": 1}, "product", "unqualified"),
    Plan("future_trial", 1, {"B": 1}, "quiet", "unqualified"),
    Plan("future_demo", 1, {"B": 1}, "quiet", "unqualified"),
    Plan("nurture", 22, {"A": 0.3, "B": 0.7}, "engaged", "mql"),
    Plan("hot_low_fit", 6, {"C": 1}, "engaged", "mql"),
    Plan("perfect_fit", 3, {"A": 1}, "quiet", "mql"),
    Plan("sales", 27, {"A": 0.4, "B": 0.6}, "sales", "sql"),
    Plan("pql", 20, {"A": 0.3, "B": 0.4, "C": 0.3}, "product", "pql"),
    Plan("competitor", 3, {}, "engaged", "disqualified"),
    Plan("student", 7, {}, "engaged", "disqualified"),
    Plan(
        "unsubscribed",
        12,
        {"A": 0.25, "B": 0.35, "C": 0.2, "D": 0.2},
        "engaged",
        "disqualified",
    ),
    Plan("bounced", 8, {"B": 0.3, "C": 0.4, "D": 0.3}, "quiet", "disqualified"),
]


def pick_recipe(rng: random.Random, plan: Plan) -> Recipe:
    grades = list(plan.grades)
    grade = rng.choices(grades, weights=[plan.grades[g] for g in grades])[0]
    recipes = RECIPES[grade]
    if plan.persona in ("cold", "browser", "old_demo", "future_trial", "future_demo"):
        # Below mql these leads need fit <= 79 with room for some engagement.
        recipes = [r for r in recipes if r.fit_score() <= 75]
    if plan.persona == "perfect_fit":
        recipes = [r for r in recipes if r.fit_score() >= 80]
    return rng.choice(recipes)


def build_dataset(seed: int = DEFAULT_SEED) -> tuple[list[Lead], list[Event]]:
    """Generate the leads, each with its events, and the sorted event list."""
    rng = random.Random(seed)
    directory = Directory(rng)
    leads: list[Lead] = []
    for plan in PLANS:
        for index in range(plan.count):
            lead = new_lead(rng, directory, plan, index)
            add_events(Timeline(lead, rng), plan, index)
            lead.expected = plan.expected
            leads.append(lead)
    add_boundary_leads(rng, directory, leads)
    add_drills(rng, leads)
    add_future_activity(rng, leads)
    write_variants(rng, leads)
    events = finish_events(rng, leads)
    leads.sort(key=lambda lead: lead.email)
    return leads, events


def new_lead(rng: random.Random, directory: Directory, plan: Plan, index: int) -> Lead:
    if plan.persona == "competitor":
        domain, company, size = COMPETITORS[index % len(COMPETITORS)]
        recipe = R(rng.choice(["manager", "decision"]), "target", "sweet", True)
        lead = make_lead(rng, directory, plan.persona, recipe, plan.sources)
        lead.email = directory.unique_email(lead.first_name, lead.last_name, domain)
        lead.company, lead.industry, lead.company_size = company, "Software", size
        return lead
    if plan.persona == "student":
        recipe = STUDENT_RECIPES[index % len(STUDENT_RECIPES)]
        lead = make_lead(rng, directory, plan.persona, recipe, plan.sources)
        if not recipe.free_email:
            domain, university = UNIVERSITIES[index % len(UNIVERSITIES)]
            lead.email = directory.unique_email(lead.first_name, lead.last_name, domain)
            lead.company, lead.industry = university, "Education"
        return lead
    sources = plan.sources
    recipe = pick_recipe(rng, plan)
    return make_lead(rng, directory, plan.persona, recipe, sources)


def add_events(tl: Timeline, plan: Plan, index: int) -> None:
    persona, rng = plan.persona, tl.rng
    if persona == "cold":
        persona_cold(tl)
    elif persona == "browser":
        persona_browser(tl)
    elif persona == "old_demo":
        persona_old_demo(tl)
    elif persona == "trial_dormant":
        persona_trial_dormant(tl)
    elif persona == "trial_low_fit":
        persona_trial_low_fit(tl)
    elif persona == "future_trial":
        persona_future_trial(tl)
    elif persona == "future_demo":
        persona_future_demo(tl)
    elif persona == "nurture":
        # Every third one asked for a demo 34 to 85 days ago: worth half, and
        # too old for the sql stage.
        persona_nurture(tl, rng.randint(34, 85) if index % 3 == 0 else None)
    elif persona == "hot_low_fit":
        persona_hot_low_fit(tl, with_demo=index % 2 == 0)
    elif persona == "perfect_fit":
        persona_perfect_fit(tl)
    elif persona == "sales":
        kinds = ["demo", "demo", "meeting", "pricing", "contact_then_meeting"]
        persona_sales(tl, kinds[index % len(kinds)])
        if index == 0:
            dormant_trial(tl)  # an old trial does not make this lead a pql
    elif persona == "pql":
        persona_pql(tl, power_user=index % 3 == 0)
        if index == 1:
            tl.demo_request(rng.randint(3, 20))  # pql comes before sql
    elif persona == "competitor":
        persona_competitor(tl, with_trial=index == 0)
    elif persona == "student":
        persona_student(tl)
    elif persona == "unsubscribed":
        persona_unsubscribed(tl)
    elif persona == "bounced":
        persona_bounced(tl, 2 if index < 3 else 1)
    else:
        raise ValueError(f"unknown persona {persona!r}")


def add_boundary_leads(
    rng: random.Random, directory: Directory, leads: list[Lead]
) -> None:
    """Add two leads whose demo request is 30 days old give or take an hour.

    Their tracker writes local time, so only the UTC offset shows whether the
    request is within the sql stage's 30 days of 2026-12-01T00:00:00Z.
    """
    recipe = R("decision", "target", "sweet", False)  # grade B, outside core markets
    cases = [
        # 2026-11-01T01:30+02:00 is 2026-10-31T23:30Z: 30 days and 30 minutes old.
        ("South Africa", "2026-11-01T01:30:00+02:00", "mql"),
        # 2026-10-31T20:30-05:00 is 2026-11-01T01:30Z: 29 days and 22.5 hours old.
        ("Colombia", "2026-10-31T20:30:00-05:00", "sql"),
    ]
    for country_name, local_time, expected in cases:
        plan = Plan("demo_boundary", 1, {}, "sales", expected)
        lead = make_lead(rng, directory, plan.persona, recipe, plan.sources,
                         COUNTRY_BY_NAME[country_name])  # fmt: skip
        lead.local_offsets = True
        tl = Timeline(lead, rng)
        active_engagement(tl, HABITS["nurture"])
        recent_core(tl)
        start = datetime.fromisoformat(local_time).astimezone(UTC) - timedelta(
            minutes=3
        )
        tl.demo_request(31, start=start)
        lead.expected = expected
        leads.append(lead)


def add_drills(rng: random.Random, leads: list[Lead]) -> None:
    """Take every capped rule to its cap for a few active leads, round robin."""
    marketing = [
        lead for lead in leads if lead.persona in ("nurture", "sales", "hot_low_fit")
    ]
    for index, lead in enumerate(marketing):
        MARKETING_DRILLS[index % len(MARKETING_DRILLS)](Timeline(lead, rng))
    sales = [lead for lead in leads if lead.persona in ("sales", "hot_low_fit")]
    for index, lead in enumerate(sales[::3]):
        SALES_DRILLS[index % len(SALES_DRILLS)](Timeline(lead, rng))


def add_future_activity(rng: random.Random, leads: list[Lead]) -> None:
    """Continue some active leads past the as-of time; leadq must ignore this."""
    for lead in leads:
        if (
            lead.persona not in ("nurture", "sales", "pql", "hot_low_fit")
            or rng.random() > 0.3
        ):
            continue
        tl = Timeline(lead, rng)
        for age in range(0, -rng.randint(2, 9), -1):
            if lead.persona == "pql":
                tl.log_in(age)
            elif rng.random() < 0.5:
                tl.visit(age, {"product": 2, "pricing": 1, "blog": 1}, 1, 4)
        future_sends = [send for send in SENDS if send.instant >= AS_OF]
        if rng.random() < 0.5:
            tl.open_email(rng.choice(future_sends))
    nurture = [lead for lead in leads if lead.persona == "nurture"]
    tl = Timeline(nurture[-1], rng)  # unsubscribes only after the as-of time
    instant = tl.business_time(-2)
    tl.add(instant, "unsubscribed", {"campaign": "year-end-offer"}, EMAIL)


def write_variants(rng: random.Random, leads: list[Lead]) -> None:
    """Write a few addresses with capitals and stray spaces, as people type them."""
    business = [lead for lead in leads if lead.email.endswith(".example")]
    for lead in rng.sample(business, 8):
        local, domain = lead.email.split("@")
        styled = ".".join(part.capitalize() for part in local.split("."))
        styled += "@" + "-".join(p.capitalize() for p in domain.split("-"))
        lead.email_in_file = rng.choice(
            [f" {styled}", f"{styled} ", styled.upper(), styled]
        )
    # In the events file the address comes from web forms, as the lead typed it.
    typists = [
        lead for lead in business
        if not lead.email_in_file
        and any(carries_typed_address(event) for event in lead.events)
    ]  # fmt: skip
    for lead in rng.sample(typists, 4):
        typed = lead.email.capitalize() + " "
        for event in lead.events:
            if carries_typed_address(event):
                event.email = typed


def carries_typed_address(event: Event) -> bool:
    """Tell whether the event carries an address the person typed: web, not a view."""
    return event.source == WEB and event.name != "page_viewed"


DUPLICATED_EVENTS = (
    "page_viewed", "email_clicked", "form_submitted", "webinar_registered",
    "demo_requested", "content_downloaded",
)  # fmt: skip


def finish_events(rng: random.Random, leads: list[Lead]) -> list[Event]:
    """Sort all events, give them ids, and add copies that a retry would send."""
    events = [(lead, event) for lead in leads for event in lead.events]
    events.sort(key=content_order)
    for lead, event in events:
        event.event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if event.email is None:
            event.email = lead.email
    copies = []
    for lead, event in events:
        if event.name in DUPLICATED_EVENTS and rng.random() < 0.012:
            instant = event.instant + timedelta(seconds=rng.randint(0, 90))
            copy = Event(
                instant, event.name, dict(event.properties), event.source,
                event.email, event.event_id,
            )  # fmt: skip
            copies.append((lead, copy))
    for lead, copy in copies:
        lead.events.append(copy)
    all_events = events + copies
    all_events.sort(key=lambda pair: (pair[1].instant, pair[0].email, pair[1].event_id))
    for lead, event in all_events:
        event.lead = lead
    return [event for _, event in all_events]


def content_order(pair: tuple[Lead, Event]) -> tuple:
    """Order events by time, then by what they are, never by generation order."""
    lead, event = pair
    properties = json.dumps(event.properties, sort_keys=True)
    return (event.instant, lead.email, event.name, properties)


def event_row(event: Event) -> list[str]:
    lead = event.lead
    offset = 0
    if lead.local_offsets and event.source == WEB:
        offset = lead.zone.offset_at(event.instant)
    properties = json.dumps(event.properties, ensure_ascii=False, sort_keys=True)
    return [
        event.event_id,
        event.email,
        event.name,
        format_timestamp(event.instant, offset),
        properties,
    ]


def write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"random seed; the default {DEFAULT_SEED} gives the bundled files",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="directory for leads.csv and events.csv (default: examples/demo)",
    )
    args = parser.parse_args()
    leads, events = build_dataset(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "leads.csv", LEAD_COLUMNS, (lead.row() for lead in leads))
    write_csv(
        args.out / "events.csv", EVENT_COLUMNS, (event_row(event) for event in events)
    )
    print(f"wrote {len(leads)} leads and {len(events)} events to {args.out}")


if __name__ == "__main__":
    main()
