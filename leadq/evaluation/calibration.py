"""Conversion rate by score decile, and probabilities read from it.

Leads are ranked by total score, and tied scores share their average
rank. A tie therefore never splits across deciles, and a model with few
distinct scores has fewer than ten groups. A calibrated score has rates that rise with the
decile. When the data has predicted probabilities, each decile also shows
their mean, which a calibrated model matches to the observed rate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Decile:
    decile: int
    leads: int
    converted: int
    min_score: float
    max_score: float
    mean_probability: float | None = None

    @property
    def rate(self) -> float:
        return self.converted / self.leads

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate}


@dataclass
class Calibration:
    """Deciles of the score against a conversion label, and how it was labelled."""

    deciles: list[Decile]
    # The labelling of the rows, shown to the reader: point in time or not.
    method: str

    def rates_rise(self) -> bool:
        """Return whether no decile converts at a lower rate than the one before."""
        rates = [d.rate for d in self.deciles]
        return all(later >= earlier for earlier, later in pairwise(rates))

    def probability(self, score: float) -> float:
        """Return the rate of the decile whose score range is nearest `score`."""
        tops = [d.max_score for d in self.deciles]
        index = min(
            int(np.searchsorted(tops, score, side="left")), len(self.deciles) - 1
        )
        return self.deciles[index].rate

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "rates_rise": self.rates_rise(),
            "deciles": [d.as_dict() for d in self.deciles],
        }


def score_deciles(scores, labels, method: str, probabilities=None) -> Calibration:
    """Group rows into score deciles; `labels` are 0/1 conversions."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    if len(scores) == 0:
        return Calibration([], method)
    groups = _decile_of(scores)
    deciles = []
    for decile in np.unique(groups):
        members = groups == decile
        mean_probability = None
        if probabilities is not None:
            mean_probability = float(
                np.asarray(probabilities, dtype=float)[members].mean()
            )
        deciles.append(
            Decile(
                decile=int(decile),
                leads=int(members.sum()),
                converted=int(labels[members].sum()),
                min_score=float(scores[members].min()),
                max_score=float(scores[members].max()),
                mean_probability=mean_probability,
            )
        )
    return Calibration(deciles, method)


def _decile_of(scores: np.ndarray) -> np.ndarray:
    """Return deciles 1 (lowest scores) to 10 from the average rank of each score."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_ranks = ends - (counts - 1) / 2
    ranks = average_ranks[inverse]
    return np.ceil(ranks * 10 / len(scores)).astype(int)
