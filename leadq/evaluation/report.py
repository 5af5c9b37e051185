"""The funnel report: volumes and rates, calibration, forecast, time in stage.

Every lead first seen by the report time is scored as of that time. The
score deciles are calibrated point in time when outcomes have times: the
leads open at past cut-offs, scored as of each, against conversion within
the horizon (see point_in_time). Without outcome times they compare the
current scores with the outcomes so far, which can include events after a
conversion, and the report notes it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from leadq.errors import OptionError
from leadq.evaluation.calibration import Calibration, score_deciles
from leadq.evaluation.forecast import Forecast, forecast
from leadq.evaluation.funnel import (
    Breakdown,
    breakdown,
    group_value,
    lead_status,
    month_of,
)
from leadq.errors import InputError
from leadq.evaluation.history import PROBABILITY, LeadHistory
from leadq.evaluation.point_in_time import DAY, format_time, plan_cutoffs, take_snapshot
from leadq.model.schema import ScoringModel
from leadq.output import plural

GRADES = ["A", "B", "C", "D"]


@dataclass(frozen=True)
class ReportSettings:
    as_of: int
    horizon_days: float = 90.0
    source_field: str | None = None
    level: float = 0.9
    max_age_days: float | None = None


@dataclass
class Report:
    model: str
    source: str
    as_of: str
    breakdowns: list[Breakdown]
    calibration: Calibration
    forecast: Forecast
    stage_times: list | None = None
    notes: list[str] = field(default_factory=list)

    def breakdown(self, dimension: str) -> Breakdown | None:
        return next((b for b in self.breakdowns if b.dimension == dimension), None)

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "source": self.source,
            "as_of": self.as_of,
            "funnel": [b.as_dict() for b in self.breakdowns],
            "calibration": self.calibration.as_dict(),
            "forecast": self.forecast.as_dict(),
            "stage_times": None
            if self.stage_times is None
            else [t.as_dict() for t in self.stage_times],
            "notes": self.notes,
        }


def build_report(
    evaluation, model: ScoringModel, settings: ReportSettings, stage_times=None
) -> Report:
    history = evaluation.history
    _, ranked = evaluation.scorer.score(model, settings.as_of)
    rows = [
        r
        for r in _lead_rows(ranked, history)
        if _seen_by(history, r["lead_id"], settings.as_of)
    ]
    if len(ranked) == 0:
        raise OptionError(f"{evaluation.source} has no leads to report on")
    if not rows:
        raise OptionError(
            f"no lead was first seen by {format_time(settings.as_of)}; choose a later --as-of"
        )
    statuses = [lead_status(history, r["lead_id"], settings.as_of) for r in rows]
    notes = list(history.notes)
    calibration = _calibration(evaluation, model, rows, statuses, settings, notes)
    return Report(
        model=model.name,
        source=evaluation.source,
        as_of=format_time(settings.as_of),
        breakdowns=_breakdowns(history, model, rows, statuses, settings),
        calibration=calibration,
        forecast=_forecast(history, rows, statuses, calibration, settings, notes),
        stage_times=stage_times,
        notes=notes,
    )


def _lead_rows(ranked, history: LeadHistory) -> list[dict]:
    names = [
        "lead_id",
        "stage",
        "grade",
        "fit_score",
        "engagement_score",
        "product_score",
    ]
    names += [PROBABILITY] if PROBABILITY in ranked.column_names else []
    rows = ranked.select(names).to_pylist()
    for row in rows:
        row["total"] = round(
            row["fit_score"] + row["engagement_score"] + row["product_score"], 6
        )
    if PROBABILITY not in ranked.column_names and _has_probabilities(history):
        for row in rows:
            row[PROBABILITY] = _probability(history, row["lead_id"])
    return rows


def _has_probabilities(history: LeadHistory) -> bool:
    return any(
        fields.get(PROBABILITY) not in (None, "") for fields in history.fields.values()
    )


def _probability(history: LeadHistory, lead_id: str) -> float:
    value = history.fields.get(lead_id, {}).get(PROBABILITY)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise InputError(
            f"lead {history.label(lead_id)!r} has the probability {value!r}; "
            "give every lead a number from 0 to 1, or remove the column",
            column=PROBABILITY,
        )
    return number


def _seen_by(history: LeadHistory, lead_id: str, as_of: int) -> bool:
    seen = history.first_seen.get(lead_id)
    return seen is None or seen <= as_of


def _breakdowns(
    history, model, rows, statuses, settings: ReportSettings
) -> list[Breakdown]:
    ids = [r["lead_id"] for r in rows]
    result = [
        breakdown(
            "stage",
            [group_value(r["stage"]) for r in rows],
            statuses,
            model.ranked_stage_ids(),
        ),
        breakdown("grade", [group_value(r["grade"]) for r in rows], statuses, GRADES),
    ]
    if settings.source_field is not None:
        values = [
            group_value(history.fields.get(i, {}).get(settings.source_field))
            for i in ids
        ]
        result.append(breakdown(settings.source_field, values, statuses))
    if any(i in history.first_seen for i in ids):
        months = [month_of(history.first_seen.get(i)) for i in ids]
        result.append(breakdown("month", months, statuses))
    return result


def _calibration(
    evaluation, model, rows, statuses, settings: ReportSettings, notes: list[str]
) -> Calibration:
    history = evaluation.history
    timed = history.first_seen and all(
        o.closed_at is not None for o in history.outcomes.values()
    )
    if timed:
        try:
            plan = plan_cutoffs(
                history,
                [],
                settings.horizon_days,
                end=settings.as_of,
                max_age_days=settings.max_age_days,
            )
        except OptionError as error:
            notes.append(f"score deciles are not point in time: {error}")
        else:
            notes.extend(plan.notes)
            return _point_in_time_deciles(evaluation, model, plan)
    resolved = [(r, s) for r, s in zip(rows, statuses) if s != "open"]
    method = (
        "scores as of the report time against outcomes so far; not point in time, "
        "so events after a conversion can raise a converted lead's score"
    )
    probabilities = _probabilities([r for r, _ in resolved])
    return score_deciles(
        [r["total"] for r, _ in resolved],
        [s == "converted" for _, s in resolved],
        method,
        probabilities,
    )


def _point_in_time_deciles(evaluation, model, plan) -> Calibration:
    snapshot = take_snapshot(evaluation.history, evaluation.scorer, model, plan)
    table = snapshot.rows
    totals = (
        np.asarray(table["fit_score"])
        + np.asarray(table["engagement_score"])
        + np.asarray(table["product_score"])
    )
    cutoffs = ", ".join(format_time(c) for c in plan.cutoffs)
    method = (
        f"leads open at the cut-offs {cutoffs}, scored as of each, against conversion "
        f"within {plan.horizon_days:g} days after it"
    )
    probabilities = (
        np.asarray(table[PROBABILITY]) if PROBABILITY in table.column_names else None
    )
    return score_deciles(
        np.round(totals, 6), table["converted"].to_pylist(), method, probabilities
    )


def _probabilities(rows: list[dict]):
    if rows and PROBABILITY in rows[0]:
        return [r[PROBABILITY] for r in rows]
    return None


def _forecast(
    history: LeadHistory,
    rows,
    statuses,
    calibration: Calibration,
    settings: ReportSettings,
    notes,
) -> Forecast:
    open_rows = [r for r, s in zip(rows, statuses) if s == "open"]
    if settings.max_age_days is not None:
        # The deciles describe leads of at most that age, so older ones are left out.
        oldest = settings.as_of - settings.max_age_days * DAY
        recent = [
            r
            for r in open_rows
            if history.first_seen.get(r["lead_id"], oldest) >= oldest
        ]
        notes.append(
            f"the forecast covers the {len(recent):,} open leads first seen in the {settings.max_age_days:g} "
            f"days before the report time (--max-age); {len(open_rows) - len(recent):,} older open leads are left out"
        )
        open_rows = recent
    if _probabilities(open_rows) is not None:
        probabilities = _probabilities(open_rows)
        source = "the `probability` column of the leads"
    elif calibration.deciles:
        probabilities = [calibration.probability(r["total"]) for r in open_rows]
        source = (
            f"the conversion rate of each lead's score decile ({calibration.method})"
        )
    else:
        probabilities = [0.0 for _ in open_rows]
        source = (
            "none: no lead with an outcome to calibrate on, so every probability is 0"
        )
    won = [
        o.value
        for o in history.outcomes.values()
        if o.converted
        and o.value is not None
        and (o.converted_at is None or o.converted_at <= settings.as_of)
    ]
    values, value_source = None, None
    if won:
        average = statistics.fmean(won)
        values = [average] * len(open_rows)
        value_source = (
            f"the average value of {plural(len(won), 'converted lead', 'converted leads')} ({average:,.2f})"
        )
    return forecast(probabilities, values, settings.level, source, value_source)
