"""Backtest an edited model against the active one over the store's history.

This runs what `leadq backtest --database URL` runs (leadq.evaluation):
both models score the stored leads at the default cut-offs (up to 6 month
starts that leave a whole horizon), and each stage's leads and conversions
in the horizon are counted per model.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadq.errors import OptionError
from leadq.evaluation.backtest import Backtest, StageResult, run_backtest
from leadq.evaluation.point_in_time import plan_cutoffs, take_snapshot
from leadq.evaluation.sources import store_evaluation
from leadq.model.schema import ScoringModel
from leadq.service.damaged_leads import DamagedLeads, Rerun, damaged_error, damaged_rows
from leadq.service.model_versions import ActiveModel, naming_values_beyond_limits
from leadq.service.stored_json import DamagedLeadRow

LABELS = ("active model", "edited model")
DEFAULT_HORIZON_DAYS = 90.0
MAX_HORIZON_DAYS = 3650.0
DIFFERENCES_SHOWN = 20
BACKTEST = Rerun(again="run the backtest again", lister="the backtest")


@dataclass(frozen=True)
class StageRow:
    """One stage of the side-by-side table; None where a model lacks the stage."""

    stage: str
    active: StageResult | None
    edited: StageResult | None


def parse_horizon(text: str) -> float:
    """Parse the horizon field in days; an empty field is the default."""
    if not text.strip():
        return DEFAULT_HORIZON_DAYS
    try:
        days = float(text)
    except ValueError:
        days = float("nan")
    if not 0 < days <= MAX_HORIZON_DAYS:
        raise OptionError(
            f"horizon {text.strip()!r} is not a number of days above 0 and at most "
            f"{MAX_HORIZON_DAYS:g}; use a number such as {DEFAULT_HORIZON_DAYS:g}"
        )
    return days


def backtest_edited(
    store, active: ActiveModel, edited: ScoringModel, horizon_days: float
) -> Backtest:
    """Backtest the edited model (B) against the active one (A) in one read.

    Raises OptionError when the store's history cannot be backtested, such
    as when it is too short for a cut-off followed by the horizon, and a
    LeadqError that names the active version's values beyond the limits
    when they make a score overflow. A damaged stored row raises its
    DamagedLeadRow, or DamagedLeads that lists every damaged row.
    """
    if active.model.key != edited.key:
        raise OptionError(
            f"the active model keys leads by {active.model.key!r} but the edited "
            f"one by {edited.key!r}; a backtest compares the same leads, so keep "
            f"`key: {active.model.key}`"
        )
    try:
        with store_evaluation(store) as evaluation:
            history = evaluation.history
            plan = plan_cutoffs(history, [], horizon_days)
            # The edited model passed the limits, so only the active one can overflow.
            with naming_values_beyond_limits(active):
                baseline = take_snapshot(history, evaluation.scorer, active.model, plan)
            candidate = take_snapshot(history, evaluation.scorer, edited, plan)
            result = run_backtest(baseline, candidate, plan, history.label, LABELS)
    except DamagedLeadRow as error:
        every = _every_damaged_row(store)
        if every is None:
            raise
        raise every from error
    result.notes += history.notes
    return result


def _every_damaged_row(store) -> DamagedLeadRow | DamagedLeads | None:
    """Return the error that names every damaged row that scoring the stored leads reads."""
    with store.read() as connection:
        damaged = damaged_rows(connection)
    return damaged_error(damaged, "the models could not score the leads", BACKTEST)


def side_by_side(backtest: Backtest) -> list[StageRow]:
    """Pair the stages of both models: the active model's order, then new ones."""
    active = {result.stage: result for result in backtest.a.stages}
    edited = {result.stage: result for result in backtest.b.stages}
    stages = list(active) + [stage for stage in edited if stage not in active]
    return [StageRow(stage, active.get(stage), edited.get(stage)) for stage in stages]
