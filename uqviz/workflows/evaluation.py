"""How well an uncertainty score separates right from wrong answers: AUROC, PRR, risk-coverage, calibration (docs/methods.md §0.3).

Every function takes `correct` (1 = the answer was right, 0 = wrong) and `uncertainty` (U, higher = more
likely wrong) for the same questions. Questions whose U is missing or not finite are dropped first
(`labelled_pairs`). A metric that needs both classes returns None when only one is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import percentileofscore
from sklearn.metrics import roc_auc_score, roc_curve

DEFAULT_CALIBRATION_BINS = 10


def labelled_pairs(correct: Sequence[float | None], uncertainty: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """The (correct, U) pairs where both are known and U is finite, as float arrays."""
    pairs = [
        (float(label), float(value))
        for label, value in zip(correct, uncertainty, strict=True)
        if label is not None and value is not None and np.isfinite(value)
    ]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    labels, values = zip(*pairs)
    return np.asarray(labels), np.asarray(values)


def has_both_classes(correct: np.ndarray) -> bool:
    return bool(np.any(correct == 1) and np.any(correct == 0))


def auroc(correct: Sequence[float | None], uncertainty: Sequence[float | None]) -> float | None:
    """AUROC = roc_auc_score(y_incorrect, U), as in the SAR and Kuhn et al. scripts (docs/methods.md §0).

    0.5 is chance, 1 means every wrong answer has a higher U than every right one; ties count one half.
    None when the labels hold a single class (the ROC curve is undefined).
    """
    labels, values = labelled_pairs(correct, uncertainty)
    if not has_both_classes(labels):
        return None
    return float(roc_auc_score(1 - labels, values))


@dataclass(frozen=True)
class RocCurve:
    false_positive_rate: list[float]
    true_positive_rate: list[float]


def roc_points(correct: Sequence[float | None], uncertainty: Sequence[float | None]) -> RocCurve | None:
    """The ROC curve of U detecting wrong answers (positive class = incorrect); None for a single class."""
    labels, values = labelled_pairs(correct, uncertainty)
    if not has_both_classes(labels):
        return None
    fpr, tpr, _ = roc_curve(1 - labels, values)
    return RocCurve(fpr.tolist(), tpr.tolist())


def _tie_averaged_quality(correct: np.ndarray, uncertainty: np.ndarray) -> np.ndarray:
    """Correctness sorted by U ascending, each run of tied U replaced by its mean.

    A prefix that cuts through a tie then holds the expected quality under a random order of the tied
    answers, so the curves below do not depend on input order (lm-polygraph breaks ties by argsort order).
    """
    order = np.argsort(uncertainty, kind="stable")
    values, quality = uncertainty[order], correct[order].astype(np.float64)
    _, starts, counts = np.unique(values, return_index=True, return_counts=True)
    for start, count in zip(starts, counts):
        quality[start : start + count] = quality[start : start + count].mean()
    return quality


def _kept_accuracy(quality_sorted: np.ndarray) -> np.ndarray:
    """Accuracy among the k most certain answers, k = 1..n."""
    return np.cumsum(quality_sorted) / np.arange(1, quality_sorted.size + 1)


def prediction_rejection_area(correct: np.ndarray, uncertainty: np.ndarray) -> float:
    """Raw PRR of LM-Polygraph: the mean over k = 1..n of the accuracy of the k least uncertain answers.

    IINemo/lm-polygraph `ue_metrics/pred_rej_area.py` (max_rejection = 1): sort by U ascending, cumulative
    mean of the target, averaged. Labels are 0/1, which its min-max `normalize(target)` leaves unchanged.
    """
    return float(np.mean(_kept_accuracy(_tie_averaged_quality(correct, uncertainty))))


def prediction_rejection_ratio(correct: Sequence[float | None], uncertainty: Sequence[float | None]) -> float | None:
    """Normalised PRR = (PRR(U) - PRR_random) / (PRR_oracle - PRR_random) (LM-Polygraph, Fadeeva et al. 2023).

    As in lm-polygraph's `UEManager` (`normalize_metric(value, oracle, random)` with `oracle = metric(-target,
    target)`): 1 = rejects wrong answers in the oracle order, 0 = no better than random, < 0 worse than random.
    PRR_random is the exact expectation over random orders, the accuracy itself, where lm-polygraph averages
    1000 random permutations. None for a single class (oracle = random, the ratio is undefined).
    """
    labels, values = labelled_pairs(correct, uncertainty)
    if not has_both_classes(labels):
        return None
    random = float(labels.mean())
    oracle = prediction_rejection_area(labels, -labels)
    return (prediction_rejection_area(labels, values) - random) / (oracle - random)


@dataclass(frozen=True)
class RiskCoverage:
    """Keep the answers with the lowest U: risk (error rate among them) against coverage (share kept)."""

    coverage: list[float]
    risk: list[float]
    area: float


def risk_coverage_curve(correct: Sequence[float | None], uncertainty: Sequence[float | None]) -> RiskCoverage | None:
    """Risk-coverage curve and its area AURC (lower is better; Geifman & El-Yaniv 2017); None without data.

    Point k keeps the k least uncertain answers: coverage k/n, risk = 1 - their accuracy (ties in U averaged).
    A single class is allowed: the curve is then flat at 0 or 1.
    """
    labels, values = labelled_pairs(correct, uncertainty)
    if labels.size == 0:
        return None
    risk = 1.0 - _kept_accuracy(_tie_averaged_quality(labels, values))
    coverage = np.arange(1, labels.size + 1) / labels.size
    return RiskCoverage(coverage.tolist(), risk.tolist(), float(risk.mean()))


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    upper: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


@dataclass(frozen=True)
class Calibration:
    """Equal-width bins of the min-max normalised confidence c = (max U - U) / (max U - min U)."""

    bins: list[CalibrationBin]
    expected_calibration_error: float


def confidence_from_uncertainty(uncertainty: np.ndarray) -> np.ndarray:
    """c = (max U - U) / (max U - min U) ∈ [0, 1]; all equal U give c = 0.5 (no ordering information)."""
    low, high = float(np.min(uncertainty)), float(np.max(uncertainty))
    if np.isclose(low, high):
        return np.full(uncertainty.shape, 0.5)
    return (high - uncertainty) / (high - low)


def calibration_bins(
    correct: Sequence[float | None], uncertainty: Sequence[float | None], bins: int = DEFAULT_CALIBRATION_BINS
) -> Calibration | None:
    """Reliability bins and ECE of the normalised confidence, as lm-polygraph's `ECE(normalize=True)`.

    U is not a probability, so it is min-max normalised over the batch first (lm-polygraph `ue_metrics/ece.py`);
    bin i holds lower < c ≤ upper, the first bin also c = 0. ECE = Σ_bins (count/n)·|accuracy - mean confidence|.
    lm-polygraph uses 20 bins; 10 suit a batch of about 50 questions. None without data.
    """
    labels, values = labelled_pairs(correct, uncertainty)
    if labels.size == 0:
        return None
    confidence = confidence_from_uncertainty(values)
    edges = np.linspace(0.0, 1.0, bins + 1)
    result, error = [], 0.0
    for index in range(bins):
        lower, upper = float(edges[index]), float(edges[index + 1])
        inside = (confidence > lower) & (confidence <= upper) if index else (confidence >= lower) & (confidence <= upper)
        count = int(inside.sum())
        if count == 0:
            result.append(CalibrationBin(lower, upper, 0, None, None))
            continue
        mean_confidence, accuracy = float(confidence[inside].mean()), float(labels[inside].mean())
        error += count / labels.size * abs(accuracy - mean_confidence)
        result.append(CalibrationBin(lower, upper, count, mean_confidence, accuracy))
    return Calibration(result, error)


def percentile_of(value: float | None, population: Sequence[float | None]) -> float | None:
    """Percent of the finite population values ≤ value (weak percentile rank); None without either."""
    finite = np.asarray([v for v in population if v is not None and np.isfinite(v)], dtype=np.float64)
    if value is None or not np.isfinite(value) or finite.size == 0:
        return None
    return float(percentileofscore(finite, value, kind="weak"))
