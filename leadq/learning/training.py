"""Train and evaluate predictive models from files, and write the artefact."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from leadq.compiler.query import compile_model
from leadq.errors import OptionError
from leadq.inputs import read_source
from leadq.learning.artefact import fingerprint, save_artefact
from leadq.learning.evaluation import Evaluation, cross_validate, fit_final, time_split
from leadq.learning.features import DAY_MICROS, infer_spec, lead_data
from leadq.learning.labels import read_outcome_file
from leadq.learning.training_sets import TrainingSet, cutoff_range, point_in_time_set, snapshot_set
from leadq.model.schema import ScoringModel
from leadq.scoring import micros_since_epoch

log = logging.getLogger("leadq.learning")


@dataclass
class TrainingRequest:
    model: ScoringModel
    leads: Path
    events: Path | None = None
    outcomes: Path | None = None
    label_column: str | None = None
    exclude: list[str] = field(default_factory=list)
    missing_values: list[str] = field(default_factory=list)
    created_column: str | None = None
    timezone: str | None = None
    encoding: str | None = None
    cutoff_start: datetime | None = None
    cutoff_end: datetime | None = None
    every_days: float = 7
    horizon_days: float = 30
    test_from: datetime | None = None
    folds: int = 5
    quick: bool = False
    seed: int = 0


@dataclass
class TrainingResult:
    evaluation: Evaluation
    training_set: TrainingSet
    metadata: dict | None


def build_training_set(request: TrainingRequest) -> TrainingSet:
    """Read the files and build the training set the request describes."""
    _check_label_source(request)
    compiled = compile_model(request.model)
    leads = read_source(request.leads, encoding=request.encoding)
    events = read_source(request.events, encoding=request.encoding) if request.events else None
    data = lead_data(
        compiled, leads, events, timezone=request.timezone, created_column=request.created_column
    )
    exclude = list(request.exclude)
    exclude += [name for name in (request.label_column, request.created_column) if name]
    spec = infer_spec(
        data,
        exclude=exclude,
        missing_values=request.missing_values,
        created=request.created_column,
    )
    if request.label_column:
        as_of = micros_since_epoch(datetime.now(timezone.utc))
        return snapshot_set(data, spec, leads, request.label_column, as_of)
    history = read_outcome_file(request.outcomes, request.model, request.timezone, request.encoding)
    cutoffs = cutoff_range(request.cutoff_start, request.cutoff_end, request.every_days)
    return point_in_time_set(data, spec, cutoffs, request.horizon_days, history)


def _check_label_source(request: TrainingRequest) -> None:
    if (request.label_column is None) == (request.outcomes is None):
        raise OptionError(
            "name the outcome with exactly one of --label-column (a leads column, "
            "no timestamps) or --outcomes (a file of dated outcomes)"
        )
    if request.outcomes and not (request.cutoff_start and request.cutoff_end):
        raise OptionError("--outcomes needs --cutoff-start and --cutoff-end, the range of cut-off dates")


def train(request: TrainingRequest, artefact: Path | None) -> TrainingResult:
    """Evaluate every model kind held out, then fit the best one on every row."""
    started = time.perf_counter()
    data = build_training_set(request)
    evaluation = _evaluate(request, data)
    metadata = None
    if artefact is not None:
        chosen = evaluation.best()
        final = fit_final(chosen, data, quick=request.quick, seed=request.seed)
        metadata = save_artefact(artefact, final, data.spec, _details(request, data, evaluation))
    log.info(
        "trained on %d rows (%d features) in %.1f s",
        len(data), len(data.spec.columns()), time.perf_counter() - started,
    )
    return TrainingResult(evaluation, data, metadata)


def _evaluate(request: TrainingRequest, data: TrainingSet) -> Evaluation:
    if request.label_column:
        return cross_validate(data, folds=request.folds, quick=request.quick, seed=request.seed)
    test_from = request.test_from or _default_test_from(request)
    horizon = int(request.horizon_days * DAY_MICROS)
    evaluation = time_split(
        data, micros_since_epoch(test_from), horizon, quick=request.quick, seed=request.seed
    )
    evaluation.scheme = (
        f"time split: trained on cut-offs whose {request.horizon_days:g}-day label "
        f"window ends by {test_from.date()}, tested on leads first seen from then on"
    )
    return evaluation


def _default_test_from(request: TrainingRequest) -> datetime:
    """Return the point three quarters into the cut-off range."""
    start, end = request.cutoff_start, request.cutoff_end
    return start + (end - start) * 0.75


def _details(request: TrainingRequest, data: TrainingSet, evaluation: Evaluation) -> dict:
    return {
        "kind": evaluation.best(),
        "scoring_model": {"name": request.model.name, "version": str(request.model.version)},
        "data_fingerprint": fingerprint([request.leads, request.events, request.outcomes]),
        "rows": len(data),
        "positives": int(data.labels.sum()),
        "label": request.label_column or f"converted within {request.horizon_days:g} days",
        "evaluation": {
            "scheme": evaluation.scheme,
            "metrics": {kind: r.metrics.as_dict() for kind, r in evaluation.results.items()},
        },
    }
