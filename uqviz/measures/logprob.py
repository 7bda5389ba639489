"""Measures over the sampled tokens' log-probabilities: PE, LN-PE (§1), the Chow rules (§8), MSP and perplexity (§12.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import DEFAULT_CHOW_QUANTILE


def sequence_loglik(logprobs: Sequence[float]) -> float:
    """LL(s) = Σ log p(z_i | z_<i, x); -inf where the sum overflows (scoring then names why)."""
    with np.errstate(over="ignore"):
        return float(np.sum(logprobs, dtype=np.float64))


def mean_loglik(logprobs: Sequence[float]) -> float:
    """LN(s) = LL(s)/n; an empty answer has LN 0 (EOS is not an answer token, so nothing was uncertain)."""
    return sequence_loglik(logprobs) / max(len(logprobs), 1)


def predictive_entropy(sample_logprobs: Sequence[Sequence[float]]) -> MeasureResult:
    """Monte-Carlo predictive entropy PE = -(1/K) Σ_k LL(s_k) (Kuhn et al. 2023; docs/methods.md §1)."""
    per_sample = [-sequence_loglik(lp) for lp in sample_logprobs]
    return MeasureResult(float(np.mean(per_sample)), per_sample)


def ln_predictive_entropy(sample_logprobs: Sequence[Sequence[float]]) -> MeasureResult:
    """Length-normalised predictive entropy LN-PE = -(1/K) Σ_k LN(s_k) (Malinin & Gales 2021; docs/methods.md §1)."""
    per_sample = [-mean_loglik(lp) for lp in sample_logprobs]
    return MeasureResult(float(np.mean(per_sample)), per_sample)


@dataclass(frozen=True)
class ChowDetail:
    """Per-sample Chow scores (log-prob scale, higher = more confident) and the quantile level used."""

    scores: list[float]
    lengths: list[int]
    alpha: float | None = None


def chow_scores(logprobs: Sequence[float], alpha: float = DEFAULT_CHOW_QUANTILE) -> dict[str, float]:
    """Chow-Sum, Chow-Average and Chow-Quantile_α of one output (Gupta et al. ICLR 2024; docs/methods.md §8)."""
    values = np.asarray(logprobs, dtype=np.float64)
    if values.size == 0:
        return {"sum": 0.0, "average": 0.0, "quantile": 0.0}
    return {
        "sum": float(values.sum()),
        "average": float(values.mean()),
        "quantile": float(np.quantile(values, alpha, method="linear")),
    }


def _chow(sample_logprobs: Sequence[Sequence[float]], rule: str, alpha: float = DEFAULT_CHOW_QUANTILE) -> MeasureResult:
    scores = [chow_scores(lp, alpha)[rule] for lp in sample_logprobs]
    per_sample = [-score for score in scores]
    detail = ChowDetail(scores, [len(lp) for lp in sample_logprobs], alpha if rule == "quantile" else None)
    return MeasureResult(float(np.mean(per_sample)), per_sample, detail)


def chow_sum(sample_logprobs: Sequence[Sequence[float]]) -> MeasureResult:
    """U = -Chow-Sum, averaged over samples (Gupta et al. ICLR 2024; docs/methods.md §8)."""
    return _chow(sample_logprobs, "sum")


def chow_average(sample_logprobs: Sequence[Sequence[float]]) -> MeasureResult:
    """U = -Chow-Average, averaged over samples (Gupta et al. ICLR 2024; docs/methods.md §8)."""
    return _chow(sample_logprobs, "average")


def chow_quantile(sample_logprobs: Sequence[Sequence[float]], alpha: float = DEFAULT_CHOW_QUANTILE) -> MeasureResult:
    """U = -quantile_α of token log-probs, averaged over samples (Gupta et al. ICLR 2024; docs/methods.md §8)."""
    return _chow(sample_logprobs, "quantile", alpha)


MEASURES = (
    Measure(
        "predictive_entropy", "Predictive entropy (PE)",
        lambda stats: predictive_entropy(stats.logprobs),
        "PE = -(1/K) Σ_k Σ_i log p(z_i | z_<i, x)",
        "the sampled answers are less likely as whole sequences (long answers score higher)",
        "Kuhn et al. 2023; docs/methods.md §1",
    ),
    Measure(
        "ln_predictive_entropy", "Length-normalised predictive entropy (LN-PE)",
        lambda stats: ln_predictive_entropy(stats.logprobs),
        "LN-PE = -(1/K) Σ_k (1/n_k) Σ_i log p(z_i | z_<i, x)",
        "the average token of the sampled answers is less likely",
        "Malinin & Gales 2021; docs/methods.md §1",
    ),
    Measure(
        "chow_sum", "Chow-Sum",
        lambda stats: chow_sum(stats.logprobs),
        "U = -(1/K) Σ_k Σ_i ℓ_i",
        "the answers are less likely as sequences (biased against long answers)",
        "Gupta et al. ICLR 2024; docs/methods.md §8",
    ),
    Measure(
        "chow_average", "Chow-Average",
        lambda stats: chow_average(stats.logprobs),
        "U = -(1/K) Σ_k mean_i ℓ_i",
        "the average token is less likely (one bad token is diluted in a long answer)",
        "Gupta et al. ICLR 2024; docs/methods.md §8",
    ),
    Measure(
        "chow_quantile", "Chow-Quantile",
        lambda stats: chow_quantile(stats.logprobs, stats.config.chow_alpha),
        "U = -(1/K) Σ_k quantile_α({ℓ_i}), α = 0 is the least likely token",
        "the least likely tokens of the answers are less likely",
        "Gupta et al. ICLR 2024; docs/methods.md §8",
    ),
    Measure(
        "maximum_sequence_probability", "Maximum sequence probability (MSP)",
        lambda stats: predictive_entropy(stats.logprobs),
        "U = -(1/K) Σ_k log p(s_k | x): the same number as PE and -Chow-Sum",
        "the answers are less likely as whole sequences",
        "lm-polygraph's MaximumSequenceProbability, per answer; docs/methods.md §12.1",
    ),
    Measure(
        "perplexity", "Perplexity (log)",
        lambda stats: ln_predictive_entropy(stats.logprobs),
        "U = -(1/K) Σ_k (1/n_k) Σ_i log p(z_i | z_<i, x) = log PPL: the same number as LN-PE and -Chow-Average",
        "the average token of the answers is less likely",
        "lm-polygraph's Perplexity, per answer; docs/methods.md §12.1",
    ),
)
