"""AUROC, normalised PRR, risk-coverage and calibration against values computed by hand on toy labels."""

import itertools
import math

import numpy as np
import pytest

from uqviz.workflows.evaluation import (
    auroc,
    calibration_bins,
    percentile_of,
    prediction_rejection_area,
    prediction_rejection_ratio,
    risk_coverage_curve,
    roc_points,
)

# Toy batch used below: questions 1 and 2 were answered right, 3 and 4 wrong.
CORRECT = [1, 1, 0, 0]
U = [0.1, 0.4, 0.35, 0.8]


def test_auroc_by_hand():
    # Pairs (wrong, right) with U_wrong > U_right: (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, 0.1) yes, (0.8, 0.4) yes -> 3/4.
    assert auroc(CORRECT, U) == pytest.approx(0.75, abs=1e-12)
    # Ties count one half: wrong 0.2 vs right 0.2 (1/2) and vs right 0.5 (0) -> 0.5 / 2 pairs = 0.25.
    assert auroc([1, 0, 1], [0.2, 0.2, 0.5]) == pytest.approx(0.25, abs=1e-12)


def test_prr_by_hand():
    # Sorted by U: 0.1 (right), 0.35 (wrong), 0.4 (right), 0.8 (wrong) -> labels 1, 0, 1, 0.
    # Accuracy of the k most certain: 1, 1/2, 2/3, 1/2 -> raw PRR = (1 + 0.5 + 0.666667 + 0.5) / 4 = 0.666667.
    # Oracle order 1, 1, 0, 0: 1, 1, 2/3, 1/2 -> 0.791667. Random = accuracy = 0.5.
    # Normalised: (0.666667 - 0.5) / (0.791667 - 0.5) = 0.166667 / 0.291667 = 4/7 = 0.571429.
    assert prediction_rejection_area(np.array(CORRECT, float), np.array(U)) == pytest.approx(0.666667, abs=1e-6)
    assert prediction_rejection_ratio(CORRECT, U) == pytest.approx(0.571429, abs=1e-6)


def test_prr_extremes_by_hand():
    # Perfect order is the oracle: 1. Reversed order 0, 0, 1, 1: 0, 0, 1/3, 1/2 -> 0.208333;
    # (0.208333 - 0.5) / 0.291667 = -1.
    assert prediction_rejection_ratio(CORRECT, [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0, abs=1e-12)
    assert prediction_rejection_ratio(CORRECT, [0.9, 0.8, 0.2, 0.1]) == pytest.approx(-1.0, abs=1e-12)


def test_ties_are_averaged_so_order_does_not_matter():
    # U = 0.2, 0.2, 0.5 with labels 1, 0, 1: the tied pair averages to 0.5, 0.5, then 1.
    # Kept accuracy 0.5, 0.5, 2/3 -> 0.555556; oracle 1, 1, 2/3 -> 0.888889; random 2/3;
    # (0.555556 - 0.666667) / (0.888889 - 0.666667) = -0.5.
    assert prediction_rejection_ratio([1, 0, 1], [0.2, 0.2, 0.5]) == pytest.approx(-0.5, abs=1e-6)
    assert prediction_rejection_ratio([0, 1, 1], [0.2, 0.2, 0.5]) == pytest.approx(-0.5, abs=1e-6)
    # A constant score carries no information: AUROC 0.5, PRR 0, a flat risk of 1 - accuracy.
    assert auroc(CORRECT, [1.0] * 4) == 0.5
    assert prediction_rejection_ratio(CORRECT, [1.0] * 4) == pytest.approx(0.0, abs=1e-12)
    assert risk_coverage_curve(CORRECT, [1.0] * 4).risk == pytest.approx([0.5] * 4)


def test_random_baseline_is_the_mean_over_all_orders():
    # lm-polygraph estimates PRR_random from 1000 random permutations; its expectation is the accuracy.
    labels = np.array([1, 0, 0, 1, 1], dtype=float)
    areas = [prediction_rejection_area(labels, np.array(order, dtype=float)) for order in itertools.permutations(range(5))]
    assert np.mean(areas) == pytest.approx(labels.mean(), abs=1e-12)


def test_permutation_and_monotone_invariance():
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 2, 12)
        labels[:2] = [0, 1]
        values = rng.normal(size=12)
        order = rng.permutation(12)
        assert auroc(labels[order], values[order]) == pytest.approx(auroc(labels, values))
        assert prediction_rejection_ratio(labels[order], values[order]) == pytest.approx(prediction_rejection_ratio(labels, values))
        assert auroc(labels, np.exp(3 * values)) == pytest.approx(auroc(labels, values))
        assert prediction_rejection_ratio(labels, np.exp(3 * values)) == pytest.approx(prediction_rejection_ratio(labels, values))


def test_single_class_and_missing_values():
    assert auroc([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert prediction_rejection_ratio([0, 0], [0.1, 0.2]) is None
    assert roc_points([1, 1], [0.1, 0.2]) is None
    assert risk_coverage_curve([1, 1], [0.3, 0.1]).risk == [0.0, 0.0]
    assert risk_coverage_curve([], []) is None and calibration_bins([], []) is None
    # Only (1, 0.1) and (0, 0.9) have both a label and a finite U.
    correct, values = [1, 0, None, 1, 0], [0.1, 0.9, 0.5, None, math.nan]
    assert auroc(correct, values) == 1.0
    assert risk_coverage_curve(correct, values).coverage == [0.5, 1.0]


def test_roc_points_end_at_the_corners():
    curve = roc_points(CORRECT, U)
    assert curve.false_positive_rate[0] == 0 and curve.true_positive_rate[0] == 0
    assert curve.false_positive_rate[-1] == 1 and curve.true_positive_rate[-1] == 1
    # Trapezoid area under the step curve is the AUROC.
    assert np.trapezoid(curve.true_positive_rate, curve.false_positive_rate) == pytest.approx(0.75)


def test_risk_coverage_by_hand():
    # Risk = 1 - kept accuracy: 0, 1/2, 1/3, 1/2; AURC = 1.333333 / 4 = 0.333333.
    curve = risk_coverage_curve(CORRECT, U)
    assert curve.coverage == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert curve.risk == pytest.approx([0.0, 0.5, 1 / 3, 0.5])
    assert curve.area == pytest.approx(0.333333, abs=1e-6)


def test_calibration_bins_by_hand():
    # Confidence (0.8 - U) / 0.7 = 1, 0.571429, 0.642857, 0. Two bins:
    # [0, 0.5]: c = 0 (wrong) -> accuracy 0, mean confidence 0;
    # (0.5, 1]: c = 1, 0.571429, 0.642857 (right, right, wrong) -> accuracy 2/3, mean confidence 0.738095.
    # ECE = 1/4 * 0 + 3/4 * |0.666667 - 0.738095| = 0.053571.
    calibration = calibration_bins(CORRECT, U, bins=2)
    low, high = calibration.bins
    assert (low.count, low.accuracy, low.mean_confidence) == (1, 0.0, 0.0)
    assert high.count == 3
    assert high.accuracy == pytest.approx(2 / 3)
    assert high.mean_confidence == pytest.approx(0.738095, abs=1e-6)
    assert calibration.expected_calibration_error == pytest.approx(0.053571, abs=1e-6)
    assert sum(entry.count for entry in calibration_bins(CORRECT, U).bins) == 4


def test_percentile_of():
    assert percentile_of(0.5, [0.1, 0.5, 0.9, None]) == pytest.approx(200 / 3)
    assert percentile_of(0.0, [0.1, 0.5]) == 0.0
    assert percentile_of(None, [0.1]) is None and percentile_of(0.3, [None]) is None
