"""The funnel report and the model page with its validation and backtest forms."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select

from leadq.dashboard.charts import bars
from leadq.dashboard.funnel import (
    Entries,
    conversion_by_decile,
    funnel_stages,
    funnel_steps,
    stage_entries,
    time_in_stage,
)
from leadq.dashboard.model_backtest import (
    DEFAULT_HORIZON_DAYS,
    DIFFERENCES_SHOWN,
    backtest_edited,
    parse_horizon,
    side_by_side,
)
from leadq.dashboard.model_check import ModelCheck, check_model_text, rule_rows
from leadq.dashboard.rendering import PAGE_METHODS, format_percent, render
from leadq.dashboard.sessions import Session, checked_session, current_session
from leadq.errors import LeadqError
from leadq.service.damaged_leads import PAGE, DamagedLeads
from leadq.service.lead_listing import naming_damaged_attributes
from leadq.service.model_versions import active_model, ensure_active_model
from leadq.store.tables import model_versions

router = APIRouter(prefix="/dashboard", include_in_schema=False)
MAX_MODEL_TEXT = 1_000_000
logger = logging.getLogger(__name__)


@router.api_route("/funnel", methods=PAGE_METHODS)
def funnel_page(
    request: Request, session: Annotated[Session, Depends(current_session)]
):
    store = request.app.state.store
    model = ensure_active_model(store).model
    stages = funnel_stages(model)
    with (
        naming_damaged_attributes(store, "the funnel was not shown", PAGE),
        store.read() as connection,
    ):
        steps = funnel_steps(connection, stages)
        times = time_in_stage(connection, [stage.id for stage in model.stages])
        by_source, by_month = stage_entries(connection, stages)
        deciles = conversion_by_decile(connection)
    return render(
        request,
        "funnel.html",
        steps=steps,
        volume_bars=bars(
            [(step.stage, step.reached, f"{step.reached:,}") for step in steps]
        ),
        times=times,
        time_bars=bars(
            [
                (item.stage, item.median_days, f"{item.median_days:.1f} d")
                for item in times
            ]
        ),
        stages=stages,
        entry_tables=[
            ("Stage entries by source", "source", by_source, _entry_bars(by_source)),
            ("Stage entries by month (UTC)", "month", by_month, _entry_bars(by_month)),
        ],
        deciles=deciles,
        decile_bars=bars(
            [(f"decile {d.decile}", d.rate, format_percent(d.rate)) for d in deciles]
        ),
    )


def _entry_bars(entries: Entries) -> list:
    totals = [(group, sum(entries.counts[group].values())) for group in entries.groups]
    return bars([(group, total, f"{total:,}") for group, total in totals])


@router.api_route("/model", methods=PAGE_METHODS)
def model_page(request: Request, session: Annotated[Session, Depends(current_session)]):
    store = request.app.state.store
    text, version, active = _active_text(store)
    # The active version is shown as the service reads it, so one stored by
    # an older leadq with values beyond today's limits shows its rules and
    # those values instead of a validation error.
    check = ModelCheck(active.model, None, text.splitlines())
    return _model_view(
        request, version, text, edited=False, check=check, beyond_limits=active.beyond_limits
    )


@router.post("/model/validate")
def validate_model(
    request: Request,
    session: Annotated[Session, Depends(checked_session)],
    text: Annotated[str, Form(max_length=MAX_MODEL_TEXT)],
):
    """Validate an edited model; nothing is stored."""
    _, version, _ = _active_text(request.app.state.store)
    return _model_view(request, version, text, edited=True)


@router.post("/model/backtest")
def backtest_model(
    request: Request,
    session: Annotated[Session, Depends(checked_session)],
    text: Annotated[str, Form(max_length=MAX_MODEL_TEXT)],
    horizon: Annotated[str, Form(max_length=20)] = "",
):
    """Validate an edited model, then backtest it against the active one."""
    store = request.app.state.store
    _, version, _ = _active_text(store)
    check = check_model_text(text)
    if check.model is None:
        return _model_view(request, version, text, edited=True, check=check)
    shown: dict = {"horizon": horizon}
    try:
        days = parse_horizon(horizon)
        backtest = backtest_edited(store, ensure_active_model(store), check.model, days)
        shown.update(backtest=backtest, stage_rows=side_by_side(backtest))
    except LeadqError as error:
        logger.info("backtest of an edited model did not run: %s", "; ".join(error.lines()))
        shown["backtest_error"] = error
        # DamagedLeads lists each damaged row after its summary.
        shown["backtest_details"] = error.lines()[1:] if isinstance(error, DamagedLeads) else []
    return _model_view(request, version, text, edited=True, check=check, **shown)


def _model_view(
    request: Request,
    version,
    text: str,
    edited: bool,
    check: ModelCheck | None = None,
    beyond_limits: tuple = (),
    **backtest,
):
    check = check or check_model_text(text)
    backtest.setdefault("horizon", f"{DEFAULT_HORIZON_DAYS:g}")
    return render(
        request,
        "model.html",
        status_code=200 if check.error is None else 422,
        version=version,
        text=text,
        check=check,
        rules=rule_rows(check.model) if check.model else [],
        edited=edited,
        beyond_limits=beyond_limits,
        differences_shown=DIFFERENCES_SHOWN,
        **backtest,
    )


def _active_text(store):
    ensure_active_model(store)
    with store.read() as connection:
        active = active_model(connection)
        version = connection.execute(
            select(model_versions).where(model_versions.c.id == active.id)
        ).one()
    return version.body, version, active
