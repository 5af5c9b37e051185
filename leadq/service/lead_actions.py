"""Admin actions on leads and models: recycle, move a stage, merge, activate.

Recycling sets a baseline: events at or before it never count again, also
after a model change or a merge, and the lead's stage is decided afresh. A
stage can be set by hand only forward, to a stage listed before the current
one. Moving a lead back takes a recycle with a reason.
"""

from __future__ import annotations

import json
from functools import partial

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import insert, select, update

from leadq.errors import ModelError
from leadq.service.api_json import StrictJsonRoute
from leadq.service.errors import ApiError
from leadq.service.identity import merge, resolve
from leadq.service.lead_schemas import WITHOUT_NUL, ErrorBody, LeadIdPath
from leadq.service.leads_api import KEY_SCHEMES, missing_lead, require_admin_key
from leadq.service.model_versions import (
    Activation,
    ActivationResult,
    VersionConflict,
    activate_model_version,
    active_model,
    ensure_active_model,
)
from leadq.service.merge_rescoring import rescore_after_merges
from leadq.service.recycle_baselines import forget_recycle_decisions
from leadq.service.rescoring import rescore
from leadq.service.retries import write_with_retries
from leadq.service.webhooks import enqueue
from leadq.store import MAX_ID
from leadq.store.database import now_micros
from leadq.store.tables import leads, stage_history

router = APIRouter(
    prefix="/api",
    tags=["lead actions"],
    route_class=StrictJsonRoute,
    dependencies=[*KEY_SCHEMES, Depends(require_admin_key)],
)


# The errors of the routes that act on one lead, for the OpenAPI document.
_LEAD_ERRORS = {status: {"model": ErrorBody} for status in (400, 404, 410, 422)}


def _with_text(reason: str) -> str:
    if not reason.strip():
        raise ValueError("the reason must contain text other than white space; say why")
    return reason


class RecycleRequest(BaseModel):
    reason: str = Field(
        min_length=1, max_length=500, pattern=WITHOUT_NUL, description="Why the lead starts over."
    )

    @field_validator("reason")
    @classmethod
    def reason_has_text(cls, reason: str) -> str:
        return _with_text(reason)


class StageRequest(BaseModel):
    stage: str = Field(description="A stage id of the active model, listed before the current one.")
    reason: str = Field(min_length=1, max_length=500, pattern=WITHOUT_NUL)

    @field_validator("reason")
    @classmethod
    def reason_has_text(cls, reason: str) -> str:
        return _with_text(reason)


class MergeRequest(BaseModel):
    into: int = Field(ge=1, le=MAX_ID, description="Id of the lead that survives the merge.")


class StageAnswer(BaseModel):
    lead_id: int
    stage: str | None
    previous_stage: str | None


@router.post("/leads/{lead_id}/recycle", response_model=StageAnswer, responses=_LEAD_ERRORS)
async def recycle_lead(lead_id: LeadIdPath, body: RecycleRequest, request: Request) -> StageAnswer:
    return await run_in_threadpool(recycle, request.app.state.store, lead_id, body.reason)


@router.post("/leads/{lead_id}/stage", response_model=StageAnswer, responses=_LEAD_ERRORS)
async def set_stage(lead_id: LeadIdPath, body: StageRequest, request: Request) -> StageAnswer:
    return await run_in_threadpool(_set_stage, request.app.state.store, lead_id, body)


@router.post("/leads/{lead_id}/merge", response_model=StageAnswer, responses=_LEAD_ERRORS)
async def merge_lead(lead_id: LeadIdPath, body: MergeRequest, request: Request) -> StageAnswer:
    return await run_in_threadpool(_merge, request.app.state.store, lead_id, body.into)


@router.post("/models", status_code=201)
async def activate(request: Request, response: Response) -> dict:
    """Activate a model sent as YAML text; leads are rescored in the background.

    201 stores a new version. 200 with `result` "unchanged" means the active
    version has this content already, and "reactivated" that an earlier
    stored version with it is active again. Other content under a stored
    name and version gets 409.
    """
    text = _model_text(await request.body())
    activation = await run_in_threadpool(_activate, request.app.state.store, text)
    if activation.result is not ActivationResult.ACTIVATED:
        response.status_code = 200
    active = activation.active
    return {
        "id": active.id,
        "name": active.model.name,
        "version": str(active.model.version),
        "result": activation.result.value,
    }


def _model_text(body: bytes) -> str:
    """Decode a model sent as the body, which must be UTF-8 as model files are."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400,
            "invalid_model",
            f"the body is not UTF-8 text: byte 0x{body[error.start]:02x} at position "
            f"{error.start} is invalid there; send the model's YAML in UTF-8",
        ) from None


def _activate(store, text: str) -> Activation:
    try:
        with store.write() as connection:
            return activate_model_version(connection, text, "request body")
    except VersionConflict as error:
        raise ApiError(409, "version_conflict", str(error), error.field) from None
    except ModelError as error:
        raise ApiError(400, "invalid_model", str(error), error.field) from None


def recycle(store, lead_id: int, reason: str) -> StageAnswer:
    """Recycle a lead: set its baseline to now and decide its stage afresh."""
    ensure_active_model(store)
    return write_with_retries(store, partial(_recycle, lead_id=lead_id, reason=reason), f"a recycle of lead {lead_id}")


def _recycle(connection, lead_id: int, reason: str) -> StageAnswer:
    now = now_micros()
    found = _locked_survivor(connection, lead_id)
    # The lead starts over: no stage counts as reached, so each fires again.
    connection.execute(
        update(leads).where(leads.c.id == found.id).values(baseline_at=now, updated_at=now, reached="[]")
    )
    forget_recycle_decisions(connection, found.id)
    changes = rescore(connection, active_model(connection), [found.id], now, "recycle", reason, release_sticky=True)
    if not changes:
        reached = json.dumps([found.stage] if found.stage else [])
        connection.execute(update(leads).where(leads.c.id == found.id).values(reached=reached))
        _record(connection, found, found.stage, "recycled", "recycle", reason, now)
    stage = changes[0].new if changes else found.stage
    return StageAnswer(lead_id=found.id, stage=stage, previous_stage=found.stage)


def _set_stage(store, lead_id: int, body: StageRequest) -> StageAnswer:
    active = ensure_active_model(store)
    order = [stage.id for stage in active.model.stages]
    if body.stage not in order:
        raise ApiError(400, "unknown_stage", f"stage {body.stage!r} is not in the active model; its stages are {', '.join(order)}", "stage")
    write = partial(_move_stage, lead_id=lead_id, body=body, order=order)
    return write_with_retries(store, write, f"a stage change of lead {lead_id}")


def _move_stage(connection, lead_id: int, body: StageRequest, order: list[str]) -> StageAnswer:
    now = now_micros()
    found = _lead(connection, lead_id)
    if found.stage in order and order.index(body.stage) > order.index(found.stage):
        raise ApiError(
            409,
            "stage_backwards",
            f"lead {found.id} is {found.stage}; moving it back to {body.stage} needs a recycle: "
            f"POST /api/leads/{found.id}/recycle with a reason",
            "stage",
        )
    if body.stage != found.stage:
        connection.execute(
            update(leads).where(leads.c.id == found.id).values(stage=body.stage, stage_rule="manual", stage_since=now, updated_at=now)
        )
        _record(connection, found, body.stage, "manual", "manual", body.reason, now)
    return StageAnswer(lead_id=found.id, stage=body.stage, previous_stage=found.stage)


def _merge(store, lead_id: int, into: int) -> StageAnswer:
    ensure_active_model(store)
    return write_with_retries(store, partial(_merge_leads, lead_id=lead_id, into=into), f"a merge of lead {lead_id} into lead {into}")


def _merge_leads(connection, lead_id: int, into: int) -> StageAnswer:
    now = now_micros()
    merged, survivor = _lead(connection, lead_id), _lead(connection, into, "into")
    if merged.id == survivor.id:
        message = _same_lead_message(lead_id, into, survivor.id)
        raise ApiError(400, "same_lead", message, "into")
    if merged.id != lead_id:
        raise ApiError(409, "lead_merged", _stale_source_message(lead_id, merged.id, into), "lead_id")
    merge_record = merge(connection, survivor.id, merged.id, now)
    changes = rescore_after_merges(connection, active_model(connection), {survivor.id}, [merge_record], now, "merge")
    stage = changes[0].new if changes else survivor.stage
    return StageAnswer(lead_id=survivor.id, stage=stage, previous_stage=survivor.stage)


def _stale_source_message(lead_id: int, survivor: int, into: int) -> str:
    """Return why a merge from an id that already resolves to another lead is rejected.

    Following the id would merge its survivor, with every lead merged into
    it, which a caller holding an old duplicate's id rarely means.
    """
    return (
        f"lead {lead_id} was already merged into lead {survivor}; to merge lead {survivor} "
        f"and every lead merged into it into lead {into}, send POST /api/leads/{survivor}/merge"
    )


def _same_lead_message(lead_id: int, into: int, survivor: int) -> str:
    """Return why two ids that resolve to the same surviving lead cannot be merged."""
    if lead_id == into:
        return (
            f"lead {lead_id} cannot be merged into itself; send the id of another "
            "lead as into"
        )
    merged = [merged_id for merged_id in (lead_id, into) if merged_id != survivor]
    if len(merged) == 1:
        return (
            f"lead {merged[0]} was already merged into lead {survivor}, so the two "
            "are one lead and there is nothing to merge"
        )
    return (
        f"leads {lead_id} and {into} were both merged into lead {survivor} already, "
        "so they are one lead and there is nothing to merge"
    )


def _locked_survivor(connection, lead_id: int):
    """Return the surviving lead of `lead_id` as `_lead` does, with its row locked.

    A merge that commits while the lock waits moves the lead's events away,
    so the surviving lead is looked up again after it. After an erasure
    commits meanwhile, `_lead` raises for the erased lead.
    """
    while True:
        found = _lead(connection, lead_id)
        locked = select(leads.c.merged_into).where(leads.c.id == found.id).with_for_update()
        row = connection.execute(locked).first()
        if row is not None and row.merged_into is None:
            return found


def _lead(connection, lead_id: int, field: str = "lead_id"):
    resolved = resolve(connection, lead_id)
    row = None
    if resolved is not None:
        row = connection.execute(
            select(leads.c.id, leads.c.stage, leads.c.lead_key, leads.c.email).where(leads.c.id == resolved)
        ).first()
    if row is None:
        raise missing_lead(connection, lead_id, field)
    return row


def _record(connection, found, new_stage, rule, cause, reason, now) -> None:
    active = active_model(connection)
    connection.execute(
        insert(stage_history).values(
            lead_id=found.id, at=now, old_stage=found.stage, new_stage=new_stage or "",
            rule=rule, model_version_id=active.id, cause=cause, reason=reason,
        )
    )
    if cause == "manual":
        data = {"lead": {"id": found.id, "lead_key": found.lead_key, "email": found.email},
                "previous_stage": found.stage, "stage": new_stage, "rule": rule, "cause": cause, "reason": reason,
                # A move by hand has no model decision, so no probability.
                "probability": None}
        enqueue(connection, "lead.stage_changed", data, now)
