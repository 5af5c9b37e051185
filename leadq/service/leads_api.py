"""The leads API: ranked lists, a lead's record, stage counts and erasure.

Read and admin keys may read; only admin keys may erase. A request for a
lead that was merged into another gets the surviving lead's record, with
`merged_from` set to the requested id and a Content-Location header that
names the survivor's URL.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, Security
from fastapi.security import HTTPBasic, HTTPBearer

from leadq.scoring import micros_since_epoch
from leadq.service.api_json import StrictJsonRoute
from leadq.service.erasure import erase_lead, find_erased_id
from leadq.service.errors import ApiError
from leadq.service.keys import ApiKey, authorize
from leadq.service.lead_listing import (
    InvalidCursor,
    LeadFilters,
    count_by_stage_and_grade,
    count_leads,
    decode_cursor,
    encode_cursor,
    known_stages,
    list_leads,
    model_stage_order,
)
from leadq.service.lead_records import as_datetime, lead_summary, read_lead_detail
from leadq.service.lead_schemas import (
    Erasure,
    ErrorBody,
    GradeCount,
    LeadDetail,
    LeadIdPath,
    LeadList,
    SortField,
    SortOrder,
    StageCount,
    StageCounts,
)
from leadq.service.merges import resolve_survivor
from leadq.store.database import now_micros

GRADES = ("A", "B", "C", "D")
# A `+` in a query string decodes to a space, so `+02:00` arrives as ` 02:00`.
OFFSET_AS_SPACE = re.compile(r"\d \d{2}(:?\d{2})?$")


class _KeyScheme:
    """A security scheme for the OpenAPI schema only. `authorize` checks the key."""

    async def __call__(self, request: Request) -> None:
        return None


class _BearerKey(_KeyScheme, HTTPBearer):
    pass


class _BasicKey(_KeyScheme, HTTPBasic):
    pass


BEARER = _BearerKey(scheme_name="bearer", description="`Authorization: Bearer KEY`.")
BASIC = _BasicKey(scheme_name="basic", description="HTTP Basic: the key as user name.")
KEY_SCHEMES = [Security(BEARER), Security(BASIC)]


def require_read_key(request: Request) -> ApiKey:
    return authorize(request, "read")


def require_admin_key(request: Request) -> ApiKey:
    return authorize(request, "manage")


def _errors(*statuses: int) -> dict:
    return {status: {"model": ErrorBody} for status in (401, 403, *statuses)}


router = APIRouter(prefix="/api", tags=["leads"], route_class=StrictJsonRoute)


@router.get(
    "/leads",
    response_model=LeadList,
    summary="List leads, filtered and sorted, one page at a time",
    dependencies=[*KEY_SCHEMES, Depends(require_read_key)],
    responses=_errors(400, 422),
)
def get_leads(
    request: Request,
    stage: Annotated[
        list[str] | None,
        Query(description="Only leads in this stage; repeat for several."),
    ] = None,
    grade: Annotated[
        list[str] | None,
        Query(description="Only leads with this grade (A-D); repeatable."),
    ] = None,
    min_score: Annotated[
        float | None, Query(allow_inf_nan=False, description="Lowest total score.")
    ] = None,
    max_score: Annotated[
        float | None, Query(allow_inf_nan=False, description="Highest total score.")
    ] = None,
    updated_since: Annotated[
        str | None,
        Query(
            description="Only leads changed at or after this ISO 8601 time with "
            "an offset, such as 2026-05-01T09:30:00Z (write + as %2B)."
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=320,
            pattern=r"^[^\x00]*$",
            description="Prefix of the email or lead key, ignoring case.",
        ),
    ] = None,
    sort: Annotated[SortField, Query(description="Sort field.")] = SortField.total,
    order: Annotated[SortOrder, Query(description="Sort direction.")] = SortOrder.desc,
    limit: Annotated[int, Query(ge=1, le=500, description="Leads per page.")] = 50,
    cursor: Annotated[
        str | None, Query(description="`next_cursor` of the previous page.")
    ] = None,
    count: Annotated[
        bool, Query(description="Also count the leads that match, on all pages.")
    ] = False,
) -> LeadList:
    """Return leads that match every filter. Unscored leads sort last.

    Pages follow a cursor, so leads added meanwhile shift no other lead to
    another page. Leads merged into another lead are not listed.
    """
    filters = LeadFilters(
        stages=stage or [],
        grades=_checked_grades(grade or []),
        min_score=min_score,
        max_score=max_score,
        updated_since=_parse_updated_since(updated_since),
        prefix=q,
    )
    _check_score_range(min_score, max_score)
    after = _decoded_cursor(cursor, sort.value, order.value)
    with request.app.state.store.read() as connection:
        _check_stages(connection, filters.stages)
        rows, next_position = list_leads(
            connection, filters, sort.value, order.value, limit, after
        )
        matched = count_leads(connection, filters) if count else None
    return LeadList(
        leads=[lead_summary(row) for row in rows],
        next_cursor=encode_cursor(next_position) if next_position else None,
        limit=limit,
        count=matched,
    )


@router.get(
    "/leads/{lead_id}",
    response_model=LeadDetail,
    summary="Get a lead's scores, reasons, history and recent events",
    dependencies=[*KEY_SCHEMES, Depends(require_read_key)],
    responses=_errors(404, 410, 422),
)
def get_lead(
    request: Request,
    response: Response,
    lead_id: LeadIdPath,
) -> LeadDetail:
    """Return the lead's record.

    The id of a lead that was merged into another returns the survivor's
    record: `id` is the survivor's, `merged_from` is the requested id, and
    the Content-Location header names the survivor's URL.
    """
    with request.app.state.store.read() as connection:
        detail = read_lead_detail(connection, lead_id)
        if detail is None:
            raise missing_lead(connection, lead_id)
    if detail.merged_from is not None:
        response.headers["Content-Location"] = f"/api/leads/{detail.id}"
    return detail


@router.delete(
    "/leads/{lead_id}",
    response_model=Erasure,
    summary="Erase a lead and all personal data stored about it",
    dependencies=[*KEY_SCHEMES, Depends(require_admin_key)],
    responses=_errors(404, 410, 422),
)
def delete_lead(
    request: Request,
    lead_id: LeadIdPath,
) -> Erasure:
    """Erase the lead, the leads merged into it and everything stored about them.

    The id of a merged lead erases the lead it was merged into, with all
    its merged leads. The response counts the removed rows; the same counts
    stay in the erasure log, without personal data.
    """
    with request.app.state.store.write() as connection:
        survivor_id = resolve_survivor(connection, lead_id)
        if survivor_id is None:
            raise missing_lead(connection, lead_id)
        record = erase_lead(connection, survivor_id, now_micros())
    return Erasure(**{**asdict(record), "at": as_datetime(record.at)})


@router.get(
    "/stages",
    response_model=StageCounts,
    summary="Count leads per stage and per grade",
    dependencies=[*KEY_SCHEMES, Depends(require_read_key)],
    responses=_errors(),
)
def get_stages(request: Request) -> StageCounts:
    """Count the leads in each stage, with each stage split by grade."""
    with request.app.state.store.read() as connection:
        counts = count_by_stage_and_grade(connection)
        order = model_stage_order(connection)
    return StageCounts(
        total=sum(item.count for item in counts),
        stages=_stage_counts(counts, order),
        grades=_grade_counts(counts),
    )


def _checked_grades(grades: list[str]) -> list[str]:
    checked = [grade.strip().upper() for grade in grades]
    for grade, given in zip(checked, grades):
        if grade not in GRADES:
            raise _invalid("grade", given, f"is not a grade; use {', '.join(GRADES)}")
    return checked


def _check_score_range(min_score: float | None, max_score: float | None) -> None:
    if min_score is None or max_score is None or min_score <= max_score:
        return
    raise _invalid("min_score", min_score, f"is greater than max_score {max_score:g}")


def _check_stages(connection, stages: list[str]) -> None:
    if not stages:
        return
    known = model_stage_order(connection)
    known += sorted(known_stages(connection) - set(known))
    for stage in stages:
        if stage not in known:
            raise _invalid(
                "stage", stage, f"is not a stage; the stages are {', '.join(known)}"
            )


def _parse_updated_since(text: str | None) -> int | None:
    if text is None:
        return None
    fix = "write it as 2026-05-01T09:30:00+02:00 or with Z for UTC, and + as %2B"
    if OFFSET_AS_SPACE.search(text):
        raise _invalid(
            "updated_since",
            text,
            "has a space before the offset, which is how "
            "a + arrives unencoded; write + as %2B",
        )
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _invalid(
            "updated_since", text, f"is not an ISO 8601 time; {fix}"
        ) from None
    if moment.tzinfo is None:
        raise _invalid("updated_since", text, f"has no UTC offset; {fix}")
    return micros_since_epoch(moment)


def _decoded_cursor(text: str | None, sort: str, order: str):
    if text is None:
        return None
    try:
        return decode_cursor(text, sort, order)
    except InvalidCursor as error:
        raise ApiError(
            400, "invalid_cursor", f"cursor {text!r} {error}", "cursor", text
        )


def _invalid(field: str, value, problem: str) -> ApiError:
    return ApiError(
        422, "invalid_request", f"{field} {value!r} {problem}", field, value
    )


def missing_lead(connection, lead_id: int, field: str = "lead_id") -> ApiError:
    """Return the error for an id that names no lead: 410 when it was erased, else 404.

    `field` names the path parameter or body field that contains the id.
    """
    erased = find_erased_id(connection, lead_id)
    if erased is not None:
        when = as_datetime(erased.at).isoformat().replace("+00:00", "Z")
        merged = ""
        if erased.survivor_id is not None:
            merged = f" with lead {erased.survivor_id}, which it had been merged into"
        return ApiError(
            410,
            "lead_erased",
            f"lead {lead_id} was erased at {when}{merged}",
            field,
            lead_id,
        )
    return ApiError(
        404, "lead_not_found", f"no lead has the id {lead_id}", field, lead_id
    )


def _stage_counts(counts, order: list[str]) -> list[StageCount]:
    stages = {item.stage for item in counts}
    ranked: list[str | None] = list(order)
    ranked += sorted(
        stage for stage in stages if stage is not None and stage not in order
    )
    if None in stages:
        ranked.append(None)
    return [_stage_count(stage, counts) for stage in ranked]


def _stage_count(stage: str | None, counts) -> StageCount:
    mine = [item for item in counts if item.stage == stage]
    grades = _grade_counts(mine)
    return StageCount(
        stage=stage, count=sum(item.count for item in mine), grades=grades
    )


def _grade_counts(counts) -> list[GradeCount]:
    totals: dict[str | None, int] = {}
    for item in counts:
        totals[item.grade] = totals.get(item.grade, 0) + item.count
    ordered = sorted(totals, key=lambda grade: (grade is None, grade or ""))
    return [GradeCount(grade=grade, count=totals[grade]) for grade in ordered]
