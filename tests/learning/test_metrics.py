import numpy as np
import pytest

from leadq.learning.metrics import clip_probabilities, evaluate, expected_calibration_error, top_decile_lift


def test_ece_known_case():
    # Bin [0.2, 0.3): predicted 0.2, observed 0.5 -> gap 0.3, weight 0.5.
    # Bin [0.8, 0.9): predicted 0.8, observed 1.0 -> gap 0.2, weight 0.5.
    labels = [0, 1, 1, 1]
    probabilities = [0.2, 0.2, 0.8, 0.8]
    assert expected_calibration_error(labels, probabilities) == pytest.approx(0.25)


def test_ece_one_in_last_bin():
    assert expected_calibration_error([1, 1], [1.0, 0.95]) == pytest.approx(0.025)


def test_ece_perfect_calibration():
    labels = [0] * 7 + [1] * 3
    assert expected_calibration_error(labels, [0.3] * 10) == pytest.approx(0.0)


def test_clip_strictly_inside():
    clipped = clip_probabilities([0.0, 1.0, 0.5])
    assert clipped.min() > 0
    assert clipped.max() < 1
    assert clipped[2] == 0.5


def test_top_decile_lift():
    labels = np.array([1] * 10 + [0] * 90)
    probabilities = np.linspace(1, 0, 100)
    assert top_decile_lift(labels, probabilities) == pytest.approx(10.0)


def test_evaluate_counts():
    metrics = evaluate([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    assert metrics.roc_auc == 1.0
    assert metrics.rows == 4
    assert metrics.positives == 2
