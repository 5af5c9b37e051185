"""Rows of the leads table: a page of leads with name, company and activity.

The page comes from `leadq.service.lead_listing`, the query behind
GET /api/leads. Names, companies, owners and top reasons come from the
page's own rows, and the last activity from one indexed query for the
page's ids, so a page costs the same at any store size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, func, select

from leadq.service.lead_listing import SUMMARY_COLUMNS, Cursor, LeadFilters, list_leads
from leadq.service.stored_json import DamagedLeadRow, lead_attributes, lead_reasons
from leadq.store.tables import events, leads

PAGE_COLUMNS = (*SUMMARY_COLUMNS, leads.c.attributes, leads.c.reasons)
PAGE_SIZE = 50
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadRow:
    id: int
    lead_key: str
    email: str | None
    name: str | None
    company: str | None
    owner: str | None
    source: str | None
    total: float | None
    fit: float | None
    engagement: float | None
    product: float | None
    grade: str | None
    stage: str | None
    updated_at: int
    last_activity: int | None
    top_reason: str | None
    # The DamagedLeadRow message of a row whose attributes or reasons are
    # not the JSON they should be. The row's other columns still show.
    damaged: str | None = None


def read_page(
    connection: Connection,
    filters: LeadFilters,
    sort: str,
    order: str,
    after: Cursor | None,
    limit: int = PAGE_SIZE,
) -> tuple[list[LeadRow], Cursor | None]:
    rows, next_position = list_leads(
        connection, filters, sort, order, limit, after, columns=PAGE_COLUMNS
    )
    activity = last_activity(connection, [row.id for row in rows])
    page = [lead_row(row, activity.get(row.id)) for row in rows]
    damaged = [row.id for row in page if row.damaged]
    if damaged:
        logger.warning("leads %s have damaged stored rows; their lead pages name the repair", damaged)
    return page, next_position


def last_activity(connection: Connection, lead_ids: list[int]) -> dict[int, int]:
    """Return the time of each lead's newest event, by lead id."""
    if not lead_ids:
        return {}
    query = (
        select(events.c.lead_id, func.max(events.c.ts))
        .where(events.c.lead_id.in_(lead_ids))
        .group_by(events.c.lead_id)
    )
    return dict(connection.execute(query).all())


def lead_row(row, activity: int | None) -> LeadRow:
    """Build a row of the table. A damaged JSON column shows as empty and sets `damaged`."""
    problems: list[str] = []
    attributes = _read_or_note(lead_attributes, row.attributes, row.id, {}, problems)
    reasons = _read_or_note(lead_reasons, row.reasons, row.id, [], problems)
    return LeadRow(
        id=row.id,
        lead_key=row.lead_key,
        email=row.email,
        name=display_name(attributes),
        company=_text(attributes.get("company")),
        owner=_text(attributes.get("owner")),
        source=_text(attributes.get("source")),
        total=row.total,
        fit=row.fit,
        engagement=row.engagement,
        product=row.product,
        grade=row.grade,
        stage=row.stage,
        updated_at=row.updated_at,
        last_activity=activity,
        top_reason=top_reason(reasons),
        damaged=problems[0] if problems else None,
    )


def display_name(attributes: dict) -> str | None:
    name = _text(attributes.get("name"))
    if name:
        return name
    parts = [_text(attributes.get(key)) for key in ("first_name", "last_name")]
    return " ".join(part for part in parts if part) or None


def top_reason(reasons: list) -> str | None:
    """Return the rule that added the most points, as `rule (+points)`."""
    scored = [
        item
        for item in reasons
        if isinstance(item, dict) and item.get("points") and item.get("section") != "predictive"
    ]
    if not scored:
        return None
    best = max(scored, key=lambda item: item["points"])
    return f"{best.get('rule')} ({best['points']:+g})"


def day_start_micros(day: str) -> int:
    """Turn a YYYY-MM-DD date into microseconds at 00:00 UTC; raise ValueError."""
    moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1_000_000


def _text(value) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _read_or_note(read, text: str | None, lead_id: int, default, problems: list[str]):
    """Return `read(text, lead_id)`, or `default` after adding the DamagedLeadRow message to `problems`."""
    try:
        return read(text, lead_id)
    except DamagedLeadRow as error:
        problems.append(str(error))
        return default
