"""Response bodies of the leads API, as Pydantic models.

The models feed the OpenAPI schema at /openapi.json, so every field has a
description. Times are ISO 8601 strings in UTC, such as
`2026-05-01T12:00:00.250000Z`.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

from leadq.store import MAX_ID

# A pattern for request text: PostgreSQL text cannot contain NUL characters.
WITHOUT_NUL = r"^[^\x00]*$"

# A lead id in a URL path. An id outside 1 to MAX_ID gets 422 before any query.
LeadIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Lead id.")]


class SortField(str, Enum):
    total = "total"
    fit = "fit"
    engagement = "engagement"
    product = "product"
    updated_at = "updated_at"
    created_at = "created_at"


class SortOrder(str, Enum):
    asc = "asc"
    desc = "desc"


class Reason(BaseModel):
    """One rule's contribution to a score, or a factor of the probability."""

    rule: str = Field(
        description="Id of the rule in the model file; in section `predictive`, "
        "the predictive model's feature, such as `events:demo_requested:30d`."
    )
    section: str = Field(
        description="Score the rule adds to: fit, engagement or product; "
        "`predictive` for a factor of the conversion probability."
    )
    points: float = Field(
        description="Points the rule added, after caps and decay; for a "
        "`predictive` factor, its contribution in log-odds before calibration."
    )


class LeadSummary(BaseModel):
    """A lead in a list: identity, stage and current scores."""

    id: int = Field(description="Lead id.")
    lead_key: str = Field(description="Key of the lead in the tracking data.")
    email: str | None = Field(description="Email address, trimmed and lower-cased.")
    stage: str | None = Field(
        description="Current stage, or null until the lead is scored."
    )
    stage_rule: str | None = Field(
        description="Rule that keeps the lead in its stage: the stage condition as text, "
        "`sticky` when a sticky stage holds it after its condition stopped holding, "
        "or `manual` after a move by hand."
    )
    stage_since: datetime | None = Field(description="Time the lead entered the stage.")
    fit: float | None = Field(
        description="Fit score, or null until the lead is scored."
    )
    engagement: float | None = Field(description="Engagement score, with decay.")
    product: float | None = Field(description="Product usage score, with decay.")
    total: float | None = Field(description="fit + engagement + product.")
    grade: str | None = Field(description="Grade letter from the fit score bands.")
    scored_at: datetime | None = Field(description="Time of the last scoring.")
    created_at: datetime = Field(description="Time the lead was created.")
    updated_at: datetime = Field(description="Time the lead last changed.")


class LeadList(BaseModel):
    """One page of leads, in the requested order."""

    leads: list[LeadSummary] = Field(description="Leads of this page.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page. Null on the last page."
    )
    limit: int = Field(description="Maximum number of leads per page.")
    count: int | None = Field(
        None,
        description="Number of leads that match the filters, on all pages; "
        "only when the request sets `count=true`.",
    )


class ModelVersionRef(BaseModel):
    """The scoring model version that made a stage change or a score."""

    id: int = Field(description="Model version id.")
    name: str = Field(description="Name from the model file.")
    version: str = Field(description="Version from the model file.")


class StageChange(BaseModel):
    """One change of a lead's stage."""

    at: datetime = Field(description="Time of the change.")
    old_stage: str | None = Field(
        description="Stage before, or null for the first stage."
    )
    new_stage: str = Field(description="Stage after.")
    rule: str | None = Field(description="Stage rule that matched.")
    model_version: ModelVersionRef | None = Field(description="Model that decided.")
    cause: str = Field(description="What started the rescoring, such as an event.")
    reason: str | None = Field(description="Free text from a manual change.")
    qualification_id: int | None = Field(
        None, description="The qualification whose recording caused the change."
    )
    probability: float | None = Field(
        None,
        description="Conversion probability of the model's `predictive` section "
        "when the rescore changed the stage; null without one, for changes made "
        "by hand, and for changes stored before leadq recorded it.",
    )


class ScoreSnapshot(BaseModel):
    """A lead's scores and stage at one scoring."""

    at: datetime = Field(description="Time of the scoring.")
    fit: float = Field(description="Fit score.")
    engagement: float = Field(description="Engagement score, with decay.")
    product: float = Field(description="Product usage score, with decay.")
    total: float = Field(description="fit + engagement + product.")
    grade: str | None = Field(description="Grade letter from the fit score bands.")
    stage: str = Field(description="Stage after the scoring.")
    model_version: ModelVersionRef | None = Field(description="Model that scored.")
    probability: float | None = Field(
        None,
        description="Conversion probability of the model's `predictive` section "
        "as of `at`; null without one, and for snapshots stored before leadq "
        "recorded it.",
    )


class LeadEvent(BaseModel):
    """One tracked event of the lead."""

    id: int = Field(description="Event id in the store.")
    message_id: str = Field(
        description="Sender's message id, which makes a repeat count once."
    )
    event: str = Field(description="Event name, such as demo_requested.")
    timestamp: datetime = Field(description="Time the event happened.")
    received_at: datetime = Field(description="Time the service stored the event.")
    properties: dict[str, Any] = Field(description="Event properties.")
    source: str = Field(description="How the event arrived, such as track or import.")
    anonymous_id: str | None = Field(description="Anonymous id from the sender.")


class Account(BaseModel):
    """The company of the lead."""

    id: int = Field(description="Account id.")
    group_id: str = Field(description="Group id from the tracking data.")
    traits: dict[str, Any] = Field(description="Company traits.")


class LeadDetail(LeadSummary):
    """A lead with its reasons, attributes and history."""

    merged_from: int | None = Field(
        description="The requested id when that lead was merged into this one; "
        "null when the request named this lead."
    )
    merged_ids: list[int] = Field(description="Ids of the leads merged into this one.")
    probability: float | None = Field(
        description="Conversion probability from the model's `predictive` "
        "section as of `scored_at`; null when the model has none."
    )
    reasons: list[Reason] = Field(
        description="Rule contributions to the scores, then the probability's "
        "top factors (section `predictive`)."
    )
    attributes: dict[str, Any] = Field(description="Lead attributes (traits).")
    account: Account | None = Field(description="The lead's company, if known.")
    stage_history: list[StageChange] = Field(
        description="Stage changes, newest first; at most 100."
    )
    score_history: list[ScoreSnapshot] = Field(
        description="Score snapshots, newest first; at most 100."
    )
    recent_events: list[LeadEvent] = Field(
        description="The 50 most recent events of this lead and of the leads "
        "merged into it, newest first."
    )


class GradeCount(BaseModel):
    grade: str | None = Field(description="Grade letter, or null for unscored leads.")
    count: int = Field(description="Number of leads.")


class StageCount(BaseModel):
    stage: str | None = Field(description="Stage id, or null for unscored leads.")
    count: int = Field(description="Number of leads in the stage.")
    grades: list[GradeCount] = Field(description="Leads of the stage per grade.")


class StageCounts(BaseModel):
    """Leads per stage and per grade. Merged leads are not counted."""

    total: int = Field(description="Number of leads.")
    stages: list[StageCount] = Field(
        description="Stages in the active model's rank order, then stages that "
        "only stored leads still have, then unscored leads."
    )
    grades: list[GradeCount] = Field(description="Leads per grade, A to D.")


class Erasure(BaseModel):
    """Counts of the rows that an erasure removed, with no personal data."""

    lead_id: int = Field(description="Id of the erased lead.")
    merged_ids: list[int] = Field(
        description="Ids of the leads merged into it; requests for them get 410 too."
    )
    at: datetime = Field(description="Time of the erasure.")
    leads_removed: int = Field(description="The lead and the leads merged into it.")
    events_removed: int = Field(description="Events of those leads.")
    identities_removed: int = Field(description="Identities of those leads.")
    stage_changes_removed: int = Field(description="Stage history rows.")
    score_snapshots_removed: int = Field(description="Score snapshots.")
    outcomes_removed: int = Field(description="Outcomes such as conversions.")
    qualifications_removed: int = Field(description="Qualification conversations.")
    webhooks_removed: int = Field(description="Pending webhooks that named the lead.")
    webhooks_redacted: int = Field(
        description="Sent or failed webhooks whose payload named the lead; "
        "their payload was replaced."
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code, such as invalid_request.")
    message: str = Field(description="What is wrong and how to fix it.")
    field: str | None = Field(None, description="Parameter at fault.")
    value: Any = Field(None, description="Rejected value of the parameter.")
    errors: list[ErrorDetail] | None = Field(
        None,
        description="Each problem of a request that has several, such as "
        "every invalid answer of a qualification; `message` contains them all.",
    )


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail
