"""Generate a synthetic leads and events data set for the default model.

Writes `leads.parquet`, `events.parquet` and `meta.json` (the as-of time and
the generator's arguments) to the output folder. Events are built per session
(a burst of events by one lead, a few seconds to minutes apart) and written in
chunks with a Parquet writer, so memory stays bounded for any event count.

The mix: about a third of the leads have no events, and the others get
sessions in proportion to a Pareto weight, so a few leads are very active and
many are quiet. Page views dominate, and product events come from trial users
only. About 0.1% of the rows repeat an earlier event id, and a few percent of
the events fall after the as-of time or belong to visitors who are not in the
leads file.

Usage: python -m benchmarks.generate --events 1000000 --out benchmarks/data/1m
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DEFAULT_AS_OF = "2026-06-01T00:00:00+00:00"
DEFAULT_CHUNK_ROWS = 1_000_000
EVENTS_PER_LEAD = 50

MS_PER_DAY = 86_400_000
HISTORY_DAYS = 182  # events start this many days before the as-of time
FUTURE_DAYS = 3  # and end this many days after it
MEAN_EVENTS_PER_SESSION = 4
MEAN_GAP_SECONDS = 75  # between two events of one session

QUIET_SHARE = 0.35  # leads without any event
PARETO_SHAPE = 1.5  # activity weight of the other leads
MAX_WEIGHT = 1000.0  # cap of a lead's weight; the minimum weight is 1
TRIAL_SHARE = 0.15  # leads that use the product and so send product events
VISITOR_SHARE = 0.02  # sessions by visitors who are not in the leads file
DUPLICATE_SHARE = 0.001  # rows that repeat an earlier event id
KEY_VARIANT_SHARE = 0.01  # event rows whose email differs in case or spaces
DUPLICATE_LEAD_SHARE = 0.001  # lead rows that repeat an email, the last wins

# Event names and their shares of the events of every lead and visitor.
EVENT_SHARES = {
    "page_viewed": 0.760,
    "email_opened": 0.080,
    "email_clicked": 0.030,
    "content_downloaded": 0.020,
    "form_submitted": 0.012,
    "webinar_registered": 0.005,
    "webinar_attended": 0.003,
    "newsletter_subscribed": 0.003,
    "content_shared": 0.003,
    "demo_requested": 0.002,
    "meeting_booked": 0.001,
    "pricing_requested": 0.001,
    "unsubscribed": 0.0004,
    "email_bounced": 0.0004,
    "video_played": 0.0792,  # not in the default model: no points
}
# Product events replace this share of the events of trial users.
TRIAL_EVENT_SHARE = 0.5
PRODUCT_SHARES = {
    "logged_in": 0.70,
    "feature_activated": 0.20,
    "teammate_invited": 0.06,
    "trial_started": 0.04,
}
EVENT_NAMES = list(EVENT_SHARES) + list(PRODUCT_SHARES)

URL_SHARES = {
    "/": 0.20,
    "/product": 0.12,
    "/features": 0.10,
    "/pricing": 0.06,
    "/pricing/enterprise": 0.015,
    "/Pricing?plan=team": 0.005,
    "/customers": 0.05,
    "/about": 0.03,
    "/careers": 0.02,
    "/docs/getting-started": 0.08,
    "/docs/api": 0.06,
    "/docs/integrations": 0.04,
    "/blog/lead-scoring-101": 0.07,
    "/blog/pricing-your-saas": 0.03,
    "/blog/product-led-growth": 0.06,
    "/blog/intent-data": 0.05,
}
ASSETS = (
    [f"ebook-{topic}" for topic in ("scoring", "pipeline", "abm", "plg", "churn")]
    + [f"whitepaper-{n:02d}" for n in range(1, 16)]
    + [f"case-study-{n:02d}" for n in range(1, 11)]
)
# None stands for an event without the property.
FORM_SHARES = {
    "contact": 0.10,
    "contact_sales": 0.06,
    "Contact_Sales": 0.01,
    "newsletter": 0.30,
    "webinar": 0.25,
    "ebook": 0.20,
    "trial_signup": 0.05,
    None: 0.03,
}
FEATURE_SHARES = {
    "integrations": 0.15,
    "api": 0.15,
    "automation": 0.12,
    "reports": 0.15,
    "dashboards": 0.15,
    "sso": 0.08,
    "exports": 0.10,
    "alerts": 0.08,
    None: 0.02,
}

FIRST_NAMES = [
    "ana", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "ines", "jonas",
    "kate", "liam", "maria", "noah", "olga", "paul", "quinn", "rosa", "sam", "tara",
]  # fmt: skip
LAST_NAMES = [
    "adams", "baker", "costa", "dubois", "evans", "fischer", "garcia", "hansen",
    "ivanova", "jensen", "kowalski", "lopez", "muller", "nakamura", "olsen", "patel",
]  # fmt: skip
FREE_EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "gmx.de"]
COMPETITOR_DOMAINS = ["competitor.example", "rival.example"]

# Shares of lead email domains: company domain, free webmail, competitor.
DOMAIN_KIND_SHARES = (0.745, 0.25, 0.005)

TITLE_SHARES = {
    "CEO": 0.03,
    "Chief Technology Officer": 0.02,
    "Founder": 0.02,
    "Co-Founder & CTO": 0.01,
    "Owner": 0.01,
    "President": 0.005,
    "VP of Sales": 0.03,
    "vp engineering": 0.01,
    "Vice President, Finance": 0.01,
    "Head of Growth": 0.03,
    "Director of Marketing": 0.05,
    "IT Director": 0.03,
    "Engineering Manager": 0.05,
    "Sales Manager": 0.05,
    "Team Lead": 0.03,
    "  Marketing Manager ": 0.01,
    "Software Engineer": 0.15,
    "Data Analyst": 0.08,
    "Marketing Specialist": 0.07,
    "Leadership Coach": 0.01,
    "Headhunter": 0.01,
    "Consultant": 0.06,
    "Account Executive": 0.05,
    "Intern": 0.03,
    "Student": 0.03,
    "PhD student": 0.01,
    None: 0.10,
}
INDUSTRY_SHARES = {
    "Software": 0.18,
    "SaaS": 0.08,
    "saas": 0.02,
    "Internet": 0.06,
    "Financial Services": 0.08,
    "Healthcare": 0.06,
    "E-commerce": 0.05,
    " software ": 0.01,
    "Manufacturing": 0.10,
    "Retail": 0.07,
    "Education": 0.06,
    "Government": 0.04,
    "Consulting": 0.07,
    None: 0.12,
}
COUNTRY_SHARES = {
    "United States": 0.30,
    "Canada": 0.05,
    "United Kingdom": 0.08,
    "Germany": 0.08,
    "France": 0.05,
    "Netherlands": 0.03,
    "Australia": 0.03,
    "united states": 0.01,
    "India": 0.10,
    "Brazil": 0.06,
    "Spain": 0.04,
    "Japan": 0.04,
    "Poland": 0.03,
    "Mexico": 0.03,
    None: 0.07,
}
# Company sizes on and next to the bounds of the default model's size rules.
BOUNDARY_SIZES = (9, 10, 49, 50, 5000, 5001)


@dataclass
class Summary:
    """Counts and settings of one generator run, for `meta.json` and the console."""

    leads: int
    lead_rows: int
    events: int
    seed: int
    as_of: str
    properties: str
    leads_with_events: int
    max_events_per_lead: int
    p99_events_per_lead: int
    median_events_per_lead_with_events: float
    events_after_as_of: int
    duplicate_rows: int
    visitor_events: int
    seconds: float


def generate(
    out_dir: str | Path,
    *,
    leads: int,
    events: int,
    seed: int = 42,
    as_of: str = DEFAULT_AS_OF,
    properties: str = "columns",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Summary:
    """Write leads.parquet, events.parquet and meta.json to `out_dir`.

    `properties` is "columns" (url, asset, form, feature as columns), "json"
    (one `properties` column of JSON object text) or "both".
    """
    if leads < 1:
        raise ValueError(f"--leads must be at least 1, got {leads}")
    if events < 0:
        raise ValueError(f"--events must be 0 or more, got {events}")
    if properties not in ("columns", "json", "both"):
        raise ValueError(
            f"invalid properties {properties!r}: use columns, json or both"
        )
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    as_of_ms = _epoch_ms(as_of)

    population = LeadPopulation.create(rng, leads)
    pq.write_table(population.table(rng), out / "leads.parquet")

    writer = EventWriter(out / "events.parquet", properties)
    per_lead = np.zeros(leads, dtype=np.int64)
    totals = {"after": 0, "duplicates": 0, "visitors": 0}
    written = 0
    try:
        while written < events:
            count = min(chunk_rows, events - written)
            chunk = _event_chunk(rng, population, count, written, as_of_ms)
            writer.write(chunk)
            per_lead += np.bincount(
                chunk.lead_index[chunk.lead_index >= 0], minlength=leads
            )
            totals["after"] += int((chunk.ts_ms > as_of_ms).sum())
            totals["duplicates"] += chunk.duplicate_rows
            totals["visitors"] += int((chunk.lead_index < 0).sum())
            written += count
    finally:
        writer.close()

    active = per_lead[per_lead > 0]
    summary = Summary(
        leads=leads,
        lead_rows=population.row_count,
        events=events,
        seed=seed,
        as_of=as_of,
        properties=properties,
        leads_with_events=int(active.size),
        max_events_per_lead=int(per_lead.max(initial=0)),
        p99_events_per_lead=int(np.percentile(per_lead, 99)) if leads else 0,
        median_events_per_lead_with_events=float(np.median(active))
        if active.size
        else 0.0,
        events_after_as_of=totals["after"],
        duplicate_rows=totals["duplicates"],
        visitor_events=totals["visitors"],
        seconds=round(time.perf_counter() - started, 2),
    )
    (out / "meta.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def _epoch_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"invalid --as-of {text!r}: add a UTC offset, such as +00:00")
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (moment - epoch) // timedelta(milliseconds=1)


def _choice(rng: np.random.Generator, shares: dict, size: int) -> np.ndarray:
    """Draw indices into `shares` with the given (normalized) probabilities."""
    weights = np.array(list(shares.values()), dtype=np.float64)
    return rng.choice(len(weights), size=size, p=weights / weights.sum())


def _take(values: list, codes: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Map codes to a string array. Masked codes and None values become null."""
    dictionary = pa.array(values, pa.string())
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pc.take(dictionary, indices)


def _concat(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _numbers(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


# Leads


@dataclass
class LeadPopulation:
    """The leads: their emails, activity weights and trial flags."""

    emails: pa.Array
    weights: np.ndarray
    trial: np.ndarray
    duplicate_of: np.ndarray  # lead indices that get a second, earlier row

    @classmethod
    def create(cls, rng: np.random.Generator, count: int) -> LeadPopulation:
        first = _take(FIRST_NAMES, rng.integers(0, len(FIRST_NAMES), count))
        last = _take(LAST_NAMES, rng.integers(0, len(LAST_NAMES), count))
        domains = _lead_domains(rng, count)
        emails = _concat(first, ".", last, _numbers(np.arange(count)), "@", domains)

        weights = np.minimum(rng.pareto(PARETO_SHAPE, count) + 1.0, MAX_WEIGHT)
        weights[rng.random(count) < QUIET_SHARE] = 0.0
        if not weights.any():
            weights[0] = 1.0
        trial = rng.random(count) < TRIAL_SHARE
        duplicates = np.flatnonzero(rng.random(count) < DUPLICATE_LEAD_SHARE)
        return cls(emails, weights, trial, duplicates)

    @property
    def row_count(self) -> int:
        return len(self.emails) + len(self.duplicate_of)

    def table(self, rng: np.random.Generator) -> pa.Table:
        """Build the leads table.

        A repeated email comes first, in upper case and with other values, so
        the import rule "the last row of a key wins" decides which row counts.
        """
        count = len(self.emails)
        main = _lead_attributes(rng, count, self.emails)
        if not len(self.duplicate_of):
            return main
        stale_emails = pc.utf8_upper(pc.take(self.emails, pa.array(self.duplicate_of)))
        stale = _lead_attributes(rng, len(self.duplicate_of), stale_emails)
        return pa.concat_tables([stale, main])


def _lead_domains(rng: np.random.Generator, count: int) -> pa.Array:
    kind = _choice(rng, dict(enumerate(DOMAIN_KIND_SHARES)), count)
    company = _concat(
        "company", _numbers(rng.integers(0, max(count // 5, 1), count)), ".example"
    )
    free = _take(FREE_EMAIL_DOMAINS, rng.integers(0, len(FREE_EMAIL_DOMAINS), count))
    rival = _take(COMPETITOR_DOMAINS, rng.integers(0, len(COMPETITOR_DOMAINS), count))
    domains = pc.if_else(pa.array(kind == 1), free, company)
    return pc.if_else(pa.array(kind == 2), rival, domains)


def _lead_attributes(
    rng: np.random.Generator, count: int, emails: pa.Array
) -> pa.Table:
    sizes = np.clip(np.round(rng.lognormal(np.log(120), 2.0, count)), 1, 250_000)
    on_boundary = rng.random(count) < 0.03
    sizes[on_boundary] = rng.choice(BOUNDARY_SIZES, int(on_boundary.sum()))
    size_missing = rng.random(count) < 0.08

    company_number = _numbers(rng.integers(0, max(count // 5, 1), count))
    company_missing = rng.random(count) < 0.08
    company = pc.if_else(
        pa.array(company_missing),
        pa.scalar(None, pa.string()),
        _concat("Company ", company_number),
    )

    phone_kind = rng.random(count)
    digits = _numbers(rng.integers(1000, 10000, count))
    phone = pc.if_else(pa.array(phone_kind < 0.03), "  ", _concat("+1-555-", digits))
    phone = pc.if_else(pa.array(phone_kind > 0.72), pa.scalar(None, pa.string()), phone)

    return pa.table(
        {
            "email": emails,
            "title": _from_shares(rng, TITLE_SHARES, count),
            "company": company,
            "industry": _from_shares(rng, INDUSTRY_SHARES, count),
            "company_size": pa.array(sizes.astype(np.int64), mask=size_missing),
            "country": _from_shares(rng, COUNTRY_SHARES, count),
            "phone": phone,
        }
    )


def _from_shares(rng: np.random.Generator, shares: dict, count: int) -> pa.Array:
    return _take(list(shares), _choice(rng, shares, count))


# Events


@dataclass
class EventChunk:
    table: pa.Table
    lead_index: np.ndarray  # -1 for visitors who are not in the leads file
    ts_ms: np.ndarray
    duplicate_rows: int


class EventWriter:
    """Append event chunks to one Parquet file."""

    def __init__(self, path: Path, properties: str) -> None:
        self.properties = properties
        fields = [
            pa.field("event_id", pa.string()),
            pa.field("email", pa.string()),
            pa.field("event", pa.string()),
            pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        ]
        if properties in ("columns", "both"):
            fields += [
                pa.field(name, pa.string())
                for name in ("url", "asset", "form", "feature")
            ]
        if properties in ("json", "both"):
            fields.append(pa.field("properties", pa.string()))
        self.schema = pa.schema(fields)
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, chunk: EventChunk) -> None:
        self.writer.write_table(chunk.table.select(self.schema.names).cast(self.schema))

    def close(self) -> None:
        self.writer.close()


def _event_chunk(
    rng: np.random.Generator,
    population: LeadPopulation,
    count: int,
    first_row: int,
    as_of_ms: int,
) -> EventChunk:
    """Build `count` event rows, of which about 0.1% repeat an earlier event id."""
    duplicates = int(round(count * DUPLICATE_SHARE)) if count > 1 else 0
    unique = count - duplicates
    lead_index, ts_ms = _session_times(rng, population, unique, as_of_ms)
    names = _event_names(rng, population, lead_index)
    ids = _event_ids(first_row, unique)

    # Copies of earlier rows, as a client that retries a send would make:
    # half arrive at the same time, the others up to two minutes later.
    source = np.sort(rng.choice(unique, duplicates, replace=False))
    delay = np.where(
        rng.random(duplicates) < 0.5, 0, rng.integers(1, 120_000, duplicates)
    )
    rows = np.concatenate([np.arange(unique), source])
    lead_index = lead_index[rows]
    names = names[rows]
    ts_ms = np.concatenate([ts_ms, ts_ms[source] + delay])
    ids = pc.take(ids, pa.array(rows))

    table = pa.table(
        {
            "event_id": ids,
            "email": _event_emails(rng, population, lead_index),
            "event": _take(EVENT_NAMES, names),
            "timestamp": pa.array(ts_ms * 1000, pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            **_properties(rng, names),
        }
    )
    return EventChunk(table, lead_index, ts_ms, duplicates)


def _session_times(
    rng: np.random.Generator, population: LeadPopulation, count: int, as_of_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw sessions with `count` events in total.

    Returns each event's lead index (-1 for a visitor) and time in ms since
    the Unix epoch.
    """
    sizes = np.empty(0, dtype=np.int64)
    while sizes.sum() < count:
        more = rng.geometric(
            1 / MEAN_EVENTS_PER_SESSION, count // MEAN_EVENTS_PER_SESSION + 16
        )
        sizes = np.concatenate([sizes, more])
    ends = np.cumsum(sizes)
    sessions = int(np.searchsorted(ends, count)) + 1
    sizes = sizes[:sessions]
    sizes[-1] -= ends[sessions - 1] - count

    probabilities = population.weights / population.weights.sum()
    session_lead = rng.choice(len(probabilities), sessions, p=probabilities)
    session_lead[rng.random(sessions) < VISITOR_SHARE] = -1
    start = as_of_ms - HISTORY_DAYS * MS_PER_DAY
    span = (HISTORY_DAYS + FUTURE_DAYS) * MS_PER_DAY
    session_start = start + rng.integers(0, span, sessions)

    gaps = rng.exponential(MEAN_GAP_SECONDS * 1000, count).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    offset = elapsed - np.repeat(elapsed[first], sizes)
    ts_ms = np.repeat(session_start, sizes) + offset
    return np.repeat(session_lead, sizes), ts_ms


def _event_names(
    rng: np.random.Generator, population: LeadPopulation, lead_index: np.ndarray
) -> np.ndarray:
    """Draw event names as codes into EVENT_NAMES."""
    count = len(lead_index)
    names = _choice(rng, EVENT_SHARES, count)
    trial = np.zeros(count, dtype=bool)
    known = lead_index >= 0
    trial[known] = population.trial[lead_index[known]]
    product = trial & (rng.random(count) < TRIAL_EVENT_SHARE)
    product_names = len(EVENT_SHARES) + _choice(rng, PRODUCT_SHARES, count)
    return np.where(product, product_names, names)


def _event_ids(first_row: int, count: int) -> pa.Array:
    """Number events uniquely but in no visible order, as UUIDs would be."""
    rows = np.arange(first_row, first_row + count, dtype=np.uint64)
    scrambled = rows * np.uint64(0x9E3779B97F4A7C15)  # odd, so a bijection mod 2**64
    return _concat("evt-", _numbers(scrambled))


def _event_emails(
    rng: np.random.Generator, population: LeadPopulation, lead_index: np.ndarray
) -> pa.Array:
    known = lead_index >= 0
    emails = pc.take(population.emails, pa.array(np.where(known, lead_index, 0)))
    visitors = _concat(
        "visitor",
        _numbers(rng.integers(0, len(population.emails), len(lead_index))),
        "@anon.example",
    )
    emails = pc.if_else(pa.array(known), emails, visitors)

    variant = rng.random(len(lead_index))
    upper = variant < KEY_VARIANT_SHARE / 2
    padded = (variant >= KEY_VARIANT_SHARE / 2) & (variant < KEY_VARIANT_SHARE)
    emails = pc.if_else(pa.array(upper), pc.utf8_upper(emails), emails)
    return pc.if_else(pa.array(padded), _concat(" ", emails, " "), emails)


def _properties(rng: np.random.Generator, names: np.ndarray) -> dict[str, pa.Array]:
    """Build the url, asset, form and feature columns and their JSON form."""
    count = len(names)
    specs = {
        "url": ("page_viewed", list(URL_SHARES), _choice(rng, URL_SHARES, count)),
        "asset": ("content_downloaded", ASSETS + [None], _asset_codes(rng, count)),
        "form": ("form_submitted", list(FORM_SHARES), _choice(rng, FORM_SHARES, count)),
        "feature": (
            "feature_activated",
            list(FEATURE_SHARES),
            _choice(rng, FEATURE_SHARES, count),
        ),
    }
    columns = {}
    json_values = ["{}"]
    json_codes = np.zeros(count, dtype=np.int64)
    for name, (event, values, codes) in specs.items():
        applies = names == EVENT_NAMES.index(event)
        columns[name] = _take(values, codes, mask=~applies)
        fragments = ["{}" if v is None else json.dumps({name: v}) for v in values]
        json_codes[applies] = len(json_values) + codes[applies]
        json_values += fragments
    columns["properties"] = _take(json_values, json_codes)
    return columns


def _asset_codes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Pick assets with a Zipf skew, so a few are popular. 3% name no asset."""
    ranks = np.minimum(rng.zipf(1.6, count), len(ASSETS)) - 1
    ranks[rng.random(count) < 0.03] = len(ASSETS)
    return ranks


# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="event rows to write (default 1000000)",
    )
    parser.add_argument(
        "--leads",
        type=int,
        help=f"leads to write (default: events / {EVENTS_PER_LEAD})",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder, created if missing"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--as-of",
        default=DEFAULT_AS_OF,
        help=f"ISO 8601 as-of time with offset (default {DEFAULT_AS_OF})",
    )
    parser.add_argument(
        "--properties",
        choices=("columns", "json", "both"),
        default="columns",
        help="write event properties as url/asset/form/feature columns, as one "
        "JSON `properties` column, or both (default columns)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help="event rows per Parquet row group (default 1000000)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    leads = (
        args.leads if args.leads is not None else max(args.events // EVENTS_PER_LEAD, 1)
    )
    try:
        summary = generate(
            args.out,
            leads=leads,
            events=args.events,
            seed=args.seed,
            as_of=args.as_of,
            properties=args.properties,
            chunk_rows=args.chunk_rows,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(summary), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
