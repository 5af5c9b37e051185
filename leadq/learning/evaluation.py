"""Held-out evaluation: stratified k-fold cross-validation for a snapshot,
a time split for point-in-time sets, and the final fit on all rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from leadq.learning.estimators import INNER_FOLDS, CalibratedModel
from leadq.learning.metrics import Metrics, evaluate, mean_metrics
from leadq.learning.training_sets import TrainingSet

KINDS = ("logistic", "lightgbm", "ensemble")


@dataclass
class HeldOut:
    """One model kind's held-out predictions and metrics."""

    kind: str
    labels: np.ndarray
    probabilities: np.ndarray
    metrics: Metrics
    fold_metrics: list[Metrics] = field(default_factory=list)
    settings: list[dict] = field(default_factory=list)

    def pooled(self) -> Metrics:
        """Return the metrics of all held-out predictions together, not per fold."""
        return evaluate(self.labels, self.probabilities)


@dataclass
class Evaluation:
    scheme: str  # "5-fold stratified cross-validation" or "time split ..."
    results: dict[str, HeldOut]
    train_rows: int
    test_rows: int
    # ROC AUC of the scoring model's total score (fit + engagement +
    # product) on the same held-out rows: the hand-written rules as a ranking.
    rules_roc_auc: float | None = None

    def best(self) -> str:
        return max(self.results, key=lambda kind: self.results[kind].metrics.roc_auc)


def _fit(kind: str, data: TrainingSet, *, quick: bool, seed: int) -> CalibratedModel:
    columns = (data.spec.categorical_columns(), data.spec.numeric_columns())
    model = CalibratedModel(kind, columns, quick=quick, seed=seed)
    return model.fit(data.features, data.labels, data.lead_keys)


def cross_validate(data: TrainingSet, *, folds: int = 5, quick=False, seed=0) -> Evaluation:
    """Evaluate each kind on stratified folds (grouped by lead); metrics are fold means."""
    _check_folds(data, folds)
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(data.features, data.labels, data.lead_keys))
    results = {}
    for kind in KINDS:
        probabilities = np.zeros(len(data))
        fold_metrics, settings = [], []
        for train, test in splits:
            model = _fit(kind, data.subset(train), quick=quick, seed=seed)
            probabilities[test] = model.probabilities(data.features.iloc[test])
            fold_metrics.append(evaluate(data.labels[test], probabilities[test]))
            settings.append(model.settings())
        results[kind] = HeldOut(
            kind, data.labels, probabilities, mean_metrics(fold_metrics), fold_metrics, settings
        )
    scheme = f"{folds}-fold stratified cross-validation"
    evaluation = Evaluation(scheme, results, len(data) * (folds - 1) // folds, len(data) // folds)
    evaluation.rules_roc_auc = _rules_roc_auc(data)
    return evaluation


def _rules_roc_auc(data: TrainingSet) -> float:
    from sklearn.metrics import roc_auc_score

    sections = ["score:fit", "score:engagement", "score:product"]
    return float(roc_auc_score(data.labels, data.features[sections].sum(axis=1)))


def time_split(data: TrainingSet, test_from: int, horizon_micros: int, *, quick=False, seed=0) -> Evaluation:
    """Train on cut-offs whose label window ends by `test_from`; test on leads
    first seen at or after it, at cut-offs from it on."""
    train_rows = np.flatnonzero(data.cutoffs + horizon_micros <= test_from)
    new_leads = np.isnan(data.first_seen) | (data.first_seen >= test_from)
    test_rows = np.flatnonzero((data.cutoffs >= test_from) & new_leads)
    _check_split(data, train_rows, test_rows)
    train, test = data.subset(train_rows), data.subset(test_rows)
    results = {}
    for kind in KINDS:
        model = _fit(kind, train, quick=quick, seed=seed)
        probabilities = model.probabilities(test.features)
        metrics = evaluate(test.labels, probabilities)
        results[kind] = HeldOut(kind, test.labels, probabilities, metrics, [metrics], [model.settings()])
    evaluation = Evaluation("time split", results, len(train_rows), len(test_rows))
    evaluation.rules_roc_auc = _rules_roc_auc(test)
    return evaluation


def _check_folds(data: TrainingSet, folds: int) -> None:
    """Raise OptionError unless each fold's training rows can be split again by the calibration.

    Each kind chooses its setting and calibration on `INNER_FOLDS` folds of
    a fold's training rows, so those need a few leads of each outcome too.
    """
    from leadq.errors import OptionError

    needed = folds * INNER_FOLDS
    converted = len(set(data.lead_keys[data.labels == 1]))
    unconverted = len(set(data.lead_keys[data.labels == 0]))
    if min(converted, unconverted) < needed:
        raise OptionError(
            f"{folds}-fold cross-validation needs at least {needed} converted and {needed} unconverted "
            f"leads, and the data has {converted} converted and {unconverted} unconverted; add leads"
            + (", or lower --folds (at least 2)" if folds > 2 else "")
        )


def _check_split(data: TrainingSet, train_rows: np.ndarray, test_rows: np.ndarray) -> None:
    from leadq.errors import OptionError

    for name, rows in (("training", train_rows), ("test", test_rows)):
        labels = data.labels[rows]
        if len(rows) == 0 or labels.min() == labels.max():
            raise OptionError(
                f"the {name} period has {len(rows)} rows and {int(labels.sum())} "
                "conversions, but needs both converted and unconverted leads; "
                "move --test-from or widen the cut-off range"
            )


def fit_final(kind: str, data: TrainingSet, *, quick=False, seed=0) -> CalibratedModel:
    """Fit the model that the artefact keeps, on every row."""
    return _fit(kind, data, quick=quick, seed=seed)

