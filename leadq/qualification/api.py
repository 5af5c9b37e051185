"""The qualification API: record a lead's qualification and list its history.

POST takes a write or admin key, GET a read or admin key. Invalid answers
get a 400 error whose `errors` list has one entry for each invalid answer,
with a `field` that names the criterion, as `answers.budget`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from leadq.errors import LeadNotFound
from leadq.qualification.answers import InvalidAnswers
from leadq.qualification.records import (
    Qualification,
    UnknownFramework,
    list_qualifications,
    record_for_lead,
)
from leadq.service.api_json import StrictJsonRoute
from leadq.service.errors import ApiError
from leadq.service.keys import authorize
from leadq.service.lead_records import as_datetime
from leadq.service.lead_schemas import WITHOUT_NUL, ErrorBody, LeadIdPath
from leadq.service.leads_api import KEY_SCHEMES, missing_lead, require_read_key
from leadq.service.merges import resolve_survivor

Result = Literal["passed", "failed", "incomplete"]


def require_qualify_key(request: Request):
    return authorize(request, "qualify")


class QualificationCreate(BaseModel):
    framework: str = Field(
        description="Framework id, such as bant, champ or one of the model's."
    )
    answers: dict[str, Any] = Field(
        description="Criterion id -> answer, or -> {value, note}. Unanswered "
        "criteria are unknown. Numbers are {amount, unit} or text such as "
        "'50000 EUR'; dates are YYYY-MM-DD."
    )
    author: str = Field(
        min_length=1,
        max_length=200,
        pattern=WITHOUT_NUL,
        description="Who held the conversation; text without NUL characters.",
    )


class AnswerPublic(BaseModel):
    value: Any = Field(description="The answer; null when unknown.")
    note: str | None = None


class QualificationPublic(BaseModel):
    id: int
    lead_id: int
    framework: str
    framework_version: str
    answers: dict[str, AnswerPublic]
    author: str
    at: datetime
    result: Result
    reasons: list[str] = Field(
        description="Why the result is what it is, one sentence per rule part."
    )
    score: float = Field(
        description="Weighted total (0-100), unknown answers counted as unmet."
    )


class QualificationRecorded(QualificationPublic):
    previous_stage: str | None
    stage: str | None = Field(description="The lead's stage after the rescore.")


class QualificationList(BaseModel):
    items: list[QualificationPublic] = Field(description="Newest first.")


router = APIRouter(prefix="/api", tags=["qualifications"], route_class=StrictJsonRoute)
_ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 404, 410, 422)}


@router.post(
    "/leads/{lead_id}/qualifications",
    status_code=201,
    response_model=QualificationRecorded,
    summary="Record a qualification conversation and rescore the lead",
    dependencies=[*KEY_SCHEMES, Depends(require_qualify_key)],
    responses=_ERRORS,
)
async def post_qualification(
    lead_id: LeadIdPath, body: QualificationCreate, request: Request
) -> QualificationRecorded:
    return await run_in_threadpool(_record, request.app.state.store, lead_id, body)


@router.get(
    "/leads/{lead_id}/qualifications",
    response_model=QualificationList,
    summary="List a lead's qualifications, newest first",
    dependencies=[*KEY_SCHEMES, Depends(require_read_key)],
    responses=_ERRORS,
)
def get_qualifications(lead_id: LeadIdPath, request: Request) -> QualificationList:
    with request.app.state.store.read() as connection:
        survivor = resolve_survivor(connection, lead_id)
        if survivor is None:
            raise missing_lead(connection, lead_id)
        found = list_qualifications(connection, survivor)
    return QualificationList(items=[_public(item) for item in found])


def _record(store, lead_id: int, body: QualificationCreate) -> QualificationRecorded:
    try:
        recorded = record_for_lead(
            store, lead_id, body.framework, body.answers, body.author
        )
    except InvalidAnswers as invalid:
        raise _invalid_answers_error(invalid) from None
    except UnknownFramework as error:
        raise ApiError(
            400, "unknown_framework", str(error), "framework", body.framework
        ) from None
    except LeadNotFound:
        with store.read() as connection:
            raise missing_lead(connection, lead_id) from None
    public = _public(recorded.qualification)
    return QualificationRecorded(
        **public.model_dump(),
        previous_stage=recorded.previous_stage,
        stage=recorded.stage,
    )


def _invalid_answers_error(invalid: InvalidAnswers) -> ApiError:
    """Return a 400 error that names the first invalid answer and lists them all."""
    errors = [
        ApiError(400, "invalid_answer", str(error), f"answers.{error.criterion}")
        for error in invalid.errors
    ]
    return ApiError(
        400, "invalid_answer", str(invalid), errors[0].field, errors=errors
    )


def _public(item: Qualification) -> QualificationPublic:
    return QualificationPublic(
        id=item.id,
        lead_id=item.lead_id,
        framework=item.framework,
        framework_version=item.framework_version,
        answers={
            name: AnswerPublic(value=a.value, note=a.note)
            for name, a in item.answers.items()
        },
        author=item.author,
        at=as_datetime(item.at),
        result=item.result,
        reasons=item.reasons,
        score=item.score,
    )
