"""The Poisson-binomial forecast and score deciles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from leadq.evaluation import forecast as forecast_module
from leadq.evaluation.calibration import score_deciles
from leadq.evaluation.forecast import EXACT, NORMAL, forecast, poisson_binomial


def _enumerated(p):
    """P(k conversions) by listing every outcome of every lead."""
    pmf = np.zeros(len(p) + 1)
    for outcome in itertools.product((0, 1), repeat=len(p)):
        weight = np.prod([q if hit else 1 - q for q, hit in zip(p, outcome)])
        pmf[sum(outcome)] += weight
    return pmf


def test_poisson_binomial_matches_enumeration():
    p = np.array([0.1, 0.5, 0.9, 0.33, 0.02])
    assert np.allclose(poisson_binomial(p), _enumerated(p))


def test_forecast_mean_and_exact_interval():
    p = np.full(200, 0.1)
    result = forecast(p, None, 0.9, "test", None)
    assert result.expected == pytest.approx(20.0)
    assert result.method == EXACT
    # Binomial(200, 0.1): the 5th and 95th percentiles are 13 and 27.
    assert (result.low, result.high) == (13.0, 27.0)


def test_forecast_normal_above_limit(monkeypatch):
    monkeypatch.setattr(forecast_module, "EXACT_LIMIT", 100)
    result = forecast(np.full(200, 0.1), np.full(200, 1000.0), 0.9, "test", "values")
    assert result.method == NORMAL
    assert result.low == pytest.approx(20 - 1.6449 * np.sqrt(18), abs=1e-3)
    assert result.expected_value == pytest.approx(20_000.0)
    assert result.value_high == pytest.approx(
        20_000 + 1.6449 * 1000 * np.sqrt(18), rel=1e-4
    )


def test_deciles_keep_ties_together():
    scores = [0] * 50 + [10] * 30 + [20] * 20
    labels = [False] * 50 + [True] * 3 + [False] * 27 + [True] * 10 + [False] * 10
    calibration = score_deciles(scores, labels, "test")
    assert [(d.min_score, d.max_score, d.leads) for d in calibration.deciles] == [
        (0, 0, 50),
        (10, 10, 30),
        (20, 20, 20),
    ]
    assert calibration.rates_rise()
    assert calibration.probability(10) == pytest.approx(0.1)
    assert calibration.probability(15) == pytest.approx(0.5)
    assert calibration.probability(99) == pytest.approx(0.5)
