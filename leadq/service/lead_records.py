"""A lead's full record: scores, reasons, attributes, history and events.

The functions read stored rows and build the response models of
`leadq.service.lead_schemas`, turning int64 microsecond times into UTC
datetimes and JSON text into objects.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, select

from leadq.service.lead_schemas import (
    Account,
    LeadDetail,
    LeadEvent,
    LeadSummary,
    ModelVersionRef,
    Reason,
    ScoreSnapshot,
    StageChange,
)
from leadq.service.merges import merged_ids, resolve_survivor
from leadq.service.predictions import PROBABILITY_RULE
from leadq.service.stored_json import (
    DamagedLeadRow,
    account_traits,
    event_properties,
    lead_attributes,
    lead_reasons,
)
from leadq.store.tables import (
    accounts,
    events,
    leads,
    model_versions,
    score_snapshots,
    stage_history,
)

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RECENT_EVENTS = 50
HISTORY_ROWS = 100


def as_datetime(micros: int | None) -> datetime | None:
    """Turn int64 microseconds since the epoch into a UTC datetime."""
    if micros is None:
        return None
    try:
        return EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        # NOTE: a time outside years 1 to 9999 shows as missing. The tracking
        # API rejects such times; stores written before it may hold some.
        return None


def lead_summary(row) -> LeadSummary:
    return LeadSummary(**_summary_fields(row))


def read_lead_detail(connection: Connection, lead_id: int) -> LeadDetail | None:
    """Read the record of a lead, or of the lead it was merged into.

    Returns None when no lead has the id. Raises DamagedLeadRow when a JSON
    column of the lead or of its account does not contain what it should.
    """
    survivor_id = resolve_survivor(connection, lead_id)
    if survivor_id is None:
        return None
    row = connection.execute(select(leads).where(leads.c.id == survivor_id)).one()
    merged = merged_ids(connection, survivor_id)
    return LeadDetail(
        **_summary_fields(row),
        merged_from=lead_id if lead_id != survivor_id else None,
        merged_ids=merged,
        **_reasons_and_probability(row),
        attributes=lead_attributes(row.attributes, row.id),
        account=_read_account(connection, row.account_id, row.id),
        stage_history=_read_stage_history(connection, survivor_id),
        score_history=_read_score_history(connection, survivor_id),
        recent_events=_read_recent_events(connection, [survivor_id, *merged]),
    )


def _reasons_and_probability(row) -> dict[str, Any]:
    """Split the stored reasons: the probability entry is returned on its own."""
    probability = None
    reasons = []
    for item in lead_reasons(row.reasons, row.id):
        if item.get("section") == "predictive" and item.get("rule") == PROBABILITY_RULE:
            probability = item.get("points")
        else:
            reasons.append(Reason(**item))
    return {"probability": probability, "reasons": reasons}


def _summary_fields(row) -> dict[str, Any]:
    return {
        "id": row.id,
        "lead_key": row.lead_key,
        "email": row.email,
        "stage": row.stage,
        "stage_rule": row.stage_rule,
        "stage_since": as_datetime(row.stage_since),
        "fit": row.fit,
        "engagement": row.engagement,
        "product": row.product,
        "total": row.total,
        "grade": row.grade,
        "scored_at": as_datetime(row.scored_at),
        "created_at": as_datetime(row.created_at),
        "updated_at": as_datetime(row.updated_at),
    }


def _shown_properties(row, lead_id: int) -> dict:
    """Return an event's stored properties for the record of `lead_id`.

    Damaged properties are logged and shown empty, so that one event does
    not keep the record from being read.
    """
    try:
        return event_properties(row.properties, row.id, row.lead_id)
    except DamagedLeadRow as error:
        logger.warning(
            "the record of lead %d shows event %d with no properties: %s",
            lead_id, row.id, error,
        )  # fmt: skip
        return {}


def _read_account(connection: Connection, account_id: int | None, lead_id: int) -> Account | None:
    if account_id is None:
        return None
    row = connection.execute(
        select(accounts).where(accounts.c.id == account_id)
    ).first()
    if row is None:
        return None
    traits = account_traits(row.traits, account_id, lead_id)
    return Account(id=row.id, group_id=row.group_id, traits=traits)


def _model_columns() -> tuple:
    return (
        model_versions.c.id.label("model_id"),
        model_versions.c.name.label("model_name"),
        model_versions.c.version.label("model_version"),
    )


def _model_version(row) -> ModelVersionRef | None:
    if row.model_id is None:
        return None
    return ModelVersionRef(
        id=row.model_id, name=row.model_name, version=row.model_version
    )


def _read_stage_history(connection: Connection, lead_id: int) -> list[StageChange]:
    query = (
        select(stage_history, *_model_columns())
        .outerjoin(
            model_versions, stage_history.c.model_version_id == model_versions.c.id
        )
        .where(stage_history.c.lead_id == lead_id)
        .order_by(stage_history.c.at.desc(), stage_history.c.id.desc())
        .limit(HISTORY_ROWS)
    )
    return [
        StageChange(
            at=as_datetime(row.at),
            old_stage=row.old_stage,
            new_stage=row.new_stage,
            rule=row.rule,
            model_version=_model_version(row),
            cause=row.cause,
            reason=row.reason,
            qualification_id=row.qualification_id,
            probability=row.probability,
        )
        for row in connection.execute(query)
    ]


def _read_score_history(connection: Connection, lead_id: int) -> list[ScoreSnapshot]:
    query = (
        select(score_snapshots, *_model_columns())
        .outerjoin(
            model_versions, score_snapshots.c.model_version_id == model_versions.c.id
        )
        .where(score_snapshots.c.lead_id == lead_id)
        .order_by(score_snapshots.c.at.desc(), score_snapshots.c.id.desc())
        .limit(HISTORY_ROWS)
    )
    return [
        ScoreSnapshot(
            at=as_datetime(row.at),
            fit=row.fit,
            engagement=row.engagement,
            product=row.product,
            total=row.total,
            grade=row.grade,
            stage=row.stage,
            model_version=_model_version(row),
            probability=row.probability,
        )
        for row in connection.execute(query)
    ]


def _read_recent_events(connection: Connection, lead_ids: list[int]) -> list[LeadEvent]:
    query = (
        select(events)
        .where(events.c.lead_id.in_(lead_ids))
        .order_by(events.c.ts.desc(), events.c.id.desc())
        .limit(RECENT_EVENTS)
    )
    return [
        LeadEvent(
            id=row.id,
            message_id=row.message_id,
            event=row.event_name,
            timestamp=as_datetime(row.ts),
            received_at=as_datetime(row.received_at),
            properties=_shown_properties(row, lead_ids[0]),
            source=row.source,
            anonymous_id=row.anonymous_id,
        )
        for row in connection.execute(query)
    ]
