"""The content of a lead's page: the record, reasons by score, the event timeline.

The record comes from `leadq.service.lead_records`, the code behind
GET /api/leads/{id}. The timeline pages back in time with a keyset on
(time, id), newest first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, and_, or_, select

from leadq.dashboard.charts import LineChart, line_chart
from leadq.dashboard.lead_rows import display_name
from leadq.scoring import micros_since_epoch
from leadq.service.lead_records import read_lead_detail
from leadq.service.lead_schemas import LeadDetail
from leadq.service.merges import merged_ids
from leadq.store.tables import events

SECTIONS = ("fit", "engagement", "product")
TIMELINE_PAGE = 25


@dataclass(frozen=True)
class TimelineEvent:
    id: int
    name: str
    ts: int
    source: str
    properties: str  # JSON text, shown as written


@dataclass(frozen=True)
class LeadPage:
    detail: LeadDetail
    name: str | None
    reasons: dict[str, list]
    chart: LineChart | None
    timeline: list[TimelineEvent]
    older: str | None  # cursor "ts.id" of the next timeline page


def read_lead_page(
    connection: Connection, lead_id: int, before: str | None
) -> LeadPage | None:
    """Read what the lead's page shows, or None when no lead has the id."""
    detail = read_lead_detail(connection, lead_id)
    if detail is None:
        return None
    reasons = {section: [] for section in SECTIONS}
    for reason in sorted(detail.reasons, key=lambda item: -abs(item.points)):
        reasons.setdefault(reason.section, []).append(reason)
    series = [
        (micros_since_epoch(snapshot.at), snapshot.total)
        for snapshot in reversed(detail.score_history)
    ]
    timeline, older = read_timeline(
        connection, [detail.id, *merged_ids(connection, detail.id)], before
    )
    return LeadPage(
        detail=detail,
        name=display_name(detail.attributes),
        reasons=reasons,
        chart=line_chart(series),
        timeline=timeline,
        older=older,
    )


def read_timeline(
    connection: Connection, lead_ids: list[int], before: str | None
) -> tuple[list[TimelineEvent], str | None]:
    """Return one page of events, newest first, and the cursor of the next."""
    query = select(events).where(events.c.lead_id.in_(lead_ids))
    position = parse_position(before)
    if position is not None:
        ts, event_id = position
        query = query.where(
            or_(events.c.ts < ts, and_(events.c.ts == ts, events.c.id < event_id))
        )
    query = query.order_by(events.c.ts.desc(), events.c.id.desc()).limit(
        TIMELINE_PAGE + 1
    )
    rows = connection.execute(query).all()
    page = [_timeline_event(row) for row in rows[:TIMELINE_PAGE]]
    older = f"{page[-1].ts}.{page[-1].id}" if len(rows) > TIMELINE_PAGE else None
    return page, older


def parse_position(text: str | None) -> tuple[int, int] | None:
    """Parse a timeline cursor `ts.id`; a malformed one starts at the newest."""
    if not text:
        return None
    ts, _, event_id = text.partition(".")
    try:
        return int(ts), int(event_id)
    except ValueError:
        return None


def _timeline_event(row) -> TimelineEvent:
    try:
        properties = json.dumps(
            json.loads(row.properties), ensure_ascii=False, sort_keys=True
        )
    except json.JSONDecodeError:
        properties = row.properties
    return TimelineEvent(row.id, row.event_name, row.ts, row.source, properties)
