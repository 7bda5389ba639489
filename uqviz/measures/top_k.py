"""UQLM's top-k scorers: the least likely token, the margin between the two likeliest tokens and the normalised
negentropy of each step's top-k list (Bouchard & Chauhan 2025, UQLM; docs/methods.md §12.8)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import MissingInputError, RunStatistics


def _per_answer(values: Sequence[np.ndarray], confidence: Callable[[np.ndarray], float]) -> MeasureResult:
    """U_k = 1 − confidence over answer k's tokens (0 for an answer without tokens), U = mean over answers."""
    per_sample = [1.0 - float(confidence(row)) if len(row) else 0.0 for row in values]
    return MeasureResult(float(np.mean(per_sample)), per_sample)


def min_probability(sample_logprobs: Sequence[Sequence[float]]) -> MeasureResult:
    """U_k = 1 − min_i p(z_i): the least likely sampled token of the answer (UQLM; docs/methods.md §12.8)."""
    return _per_answer([np.exp(np.asarray(row, dtype=np.float64)) for row in sample_logprobs], np.min)


def step_margin(top_logprobs: Sequence[float]) -> float:
    """p₁ − p₂ of one step's top-k list; NaN with fewer than two entries."""
    if len(top_logprobs) < 2:
        return math.nan
    top = np.sort(np.exp(np.asarray(top_logprobs, dtype=np.float64)))[::-1]
    return float(top[0] - top[1])


def top_two_margins(top_logprobs: Sequence[Sequence[float]]) -> np.ndarray:
    """p₁ − p₂ of every step's top-k list; steps with fewer than two entries are left out."""
    return np.asarray([step_margin(row) for row in top_logprobs if len(row) >= 2], dtype=np.float64)


def probability_margin(sample_top_logprobs: Sequence[Sequence[Sequence[float]]]) -> MeasureResult:
    """U_k = 1 − mean_i (p₁ − p₂) over the answer's steps, from each step's top-k list (UQLM; docs/methods.md §12.8)."""
    return _per_answer([top_two_margins(rows) for rows in sample_top_logprobs], np.mean)


def step_negentropy(top_logprobs: Sequence[float]) -> float:
    """1 − H(p̂)/log K of one step, p̂ its top-k probabilities renormalised to sum to 1; NaN with fewer than two entries."""
    if len(top_logprobs) < 2:
        return math.nan
    probabilities = np.exp(np.asarray(top_logprobs, dtype=np.float64))
    probabilities /= probabilities.sum()
    entropy = -float(np.sum(probabilities * np.log(np.clip(probabilities, 1e-300, None))))
    return 1.0 - entropy / np.log(len(top_logprobs))


def top_k_negentropies(top_logprobs: Sequence[Sequence[float]]) -> np.ndarray:
    """1 − H(p̂)/log K of every step (K ≥ 2 entries); steps with fewer are left out."""
    return np.asarray([step_negentropy(row) for row in top_logprobs if len(row) >= 2], dtype=np.float64)


def mean_token_negentropy(sample_top_logprobs: Sequence[Sequence[Sequence[float]]]) -> MeasureResult:
    """U_k = 1 − mean_i TN_i, TN_i = 1 − H(top-k)/log K (UQLM; docs/methods.md §12.8)."""
    return _per_answer([top_k_negentropies(rows) for rows in sample_top_logprobs], np.mean)


def min_token_negentropy(sample_top_logprobs: Sequence[Sequence[Sequence[float]]]) -> MeasureResult:
    """U_k = 1 − min_i TN_i: the answer's most hesitant step by its top-k list (UQLM; docs/methods.md §12.8)."""
    return _per_answer([top_k_negentropies(rows) for rows in sample_top_logprobs], np.min)


def top_logprobs(stats: RunStatistics) -> list[list[list[float]]]:
    """Every answer's per-step top-k log-probs; imported answers without them cannot feed these measures."""
    samples = stats.run.samples
    if any(sample.tokens and not sample.top_logprobs for sample in samples):
        raise MissingInputError("the run has no top-k alternatives per token (imported samples)")
    return [sample.top_logprobs for sample in samples]


SOURCE = "Bouchard & Chauhan 2025 (UQLM); docs/methods.md §12.8"
MEASURES = (
    Measure(
        "min_probability", "Minimum token probability",
        lambda stats: min_probability(stats.logprobs),
        "U = (1/K) Σ_k (1 − min_i p(z_i))",
        "some token of the answers was unlikely", SOURCE,
    ),
    Measure(
        "probability_margin", "Probability margin",
        lambda stats: probability_margin(top_logprobs(stats)),
        "U = (1/K) Σ_k (1 − (1/n_k) Σ_i (p_(1),i − p_(2),i))",
        "the two likeliest next tokens were close at the average step", SOURCE, needs=("top-k alternatives",),
    ),
    Measure(
        "mean_token_negentropy", "Mean top-k negentropy",
        lambda stats: mean_token_negentropy(top_logprobs(stats)),
        "U = (1/K) Σ_k (1 − (1/n_k) Σ_i (1 − H(p̂_i)/log K_i)),  p̂_i = the step's top-k renormalised",
        "the top-k lists were flat at the average step", SOURCE, needs=("top-k alternatives",),
    ),
    Measure(
        "min_token_negentropy", "Minimum top-k negentropy",
        lambda stats: min_token_negentropy(top_logprobs(stats)),
        "U = (1/K) Σ_k (1 − min_i (1 − H(p̂_i)/log K_i))",
        "the flattest top-k list of the answers was flatter", SOURCE, needs=("top-k alternatives",),
    ),
)
