"""Held-out metrics of predicted probabilities.

ECE (expected calibration error) uses 10 equal-width bins of the predicted
probability, [0, 0.1), [0.1, 0.2) ... [0.9, 1.0]: the mean of |mean predicted
- observed rate| over the bins, weighted by the share of predictions in each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

ECE_BINS = 10
# Predictions are clipped to this range, so none is shown as 0% or 100%.
PROBABILITY_FLOOR = 0.001
PROBABILITY_CEILING = 0.999


@dataclass(frozen=True)
class Metrics:
    roc_auc: float
    pr_auc: float
    top_decile_lift: float
    ece: float
    brier: float
    rows: int
    positives: int

    def as_dict(self) -> dict:
        return asdict(self)


def clip_probabilities(probabilities) -> np.ndarray:
    return np.clip(np.asarray(probabilities, dtype=float), PROBABILITY_FLOOR, PROBABILITY_CEILING)


def expected_calibration_error(labels, probabilities, bins: int = ECE_BINS) -> float:
    """Weighted mean gap between predicted and observed rates in equal-width bins."""
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    # The last bin is closed, so a probability of exactly 1 falls in it.
    index = np.minimum((probabilities * bins).astype(int), bins - 1)
    error = 0.0
    for bin_index in range(bins):
        members = index == bin_index
        if members.any():
            gap = abs(probabilities[members].mean() - labels[members].mean())
            error += members.mean() * gap
    return float(error)


def top_decile_lift(labels, probabilities) -> float:
    """Conversion rate of the 10% highest predictions divided by the base rate."""
    labels = np.asarray(labels, dtype=float)
    count = max(1, int(np.ceil(len(labels) / 10)))
    # A stable sort on the negated probabilities keeps ties in input order.
    top = np.argsort(-np.asarray(probabilities, dtype=float), kind="stable")[:count]
    base = labels.mean()
    return float(labels[top].mean() / base) if base > 0 else float("nan")


def evaluate(labels, probabilities) -> Metrics:
    labels = np.asarray(labels, dtype=int)
    return Metrics(
        roc_auc=float(roc_auc_score(labels, probabilities)),
        pr_auc=float(average_precision_score(labels, probabilities)),
        top_decile_lift=top_decile_lift(labels, probabilities),
        ece=expected_calibration_error(labels, probabilities),
        brier=float(brier_score_loss(labels, probabilities)),
        rows=int(len(labels)),
        positives=int(labels.sum()),
    )


def mean_metrics(folds: list[Metrics]) -> Metrics:
    """Average fold metrics; rows and positives are summed."""
    fields = ("roc_auc", "pr_auc", "top_decile_lift", "ece", "brier")
    means = {name: float(np.mean([getattr(fold, name) for fold in folds])) for name in fields}
    return Metrics(
        **means,
        rows=sum(fold.rows for fold in folds),
        positives=sum(fold.positives for fold in folds),
    )
