"""CoCoA: an answer's own uncertainty (MSP, perplexity or mean token entropy) times its mean dissimilarity to the
other answers (Vashurin et al. 2025; docs/methods.md §12.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.measures.logprob import mean_loglik, sequence_loglik
from uqviz.measures.token_entropy import mean_token_entropy
from uqviz.statistics.affinity import ANSWER_AFFINITY
from uqviz.statistics.base import RunStatistics


@dataclass(frozen=True)
class CocoaDetail:
    """Per answer: its own uncertainty, its mean dissimilarity 1 - W to the other answers, and what W is."""

    information: list[float]
    dissimilarity: list[float]
    affinity_name: str


def cocoa(information: Sequence[float], affinity: np.ndarray, affinity_name: str = "") -> MeasureResult:
    """U_j = u_j · (1/(K-1)) Σ_{i≠j} (1 - W_ji), averaged over answers (Vashurin et al. 2025; docs/methods.md §12.4)."""
    affinity = np.asarray(affinity, dtype=np.float64)
    count = len(affinity)
    if count < 2:
        return MeasureResult(None, None, reason="CoCoA needs at least two answers to compare each one with")
    others = ~np.eye(count, dtype=bool)
    dissimilarity = [float(np.mean(1.0 - affinity[row][others[row]])) for row in range(count)]
    per_sample = [float(value * spread) for value, spread in zip(information, dissimilarity)]
    return MeasureResult(float(np.mean(per_sample)), per_sample, CocoaDetail(list(map(float, information)), dissimilarity, affinity_name))


def _on_affinity(stats: RunStatistics, information: Sequence[float]) -> MeasureResult:
    affinity = ANSWER_AFFINITY(stats)
    return cocoa(information, affinity.matrix, affinity.name)


MEASURES = (
    Measure(
        "cocoa_msp", "CoCoA (MSP)",
        lambda stats: _on_affinity(stats, [-sequence_loglik(logprobs) for logprobs in stats.logprobs]),
        "U = (1/K) Σ_j -log p(a_j | x) · mean_{i≠j} (1 - W_ji)",
        "the answers are unlikely and disagree with each other",
        "Vashurin et al. 2025; docs/methods.md §12.4",
        needs=("logprobs", "affinity"),
    ),
    Measure(
        "cocoa_perplexity", "CoCoA (perplexity)",
        lambda stats: _on_affinity(stats, [-mean_loglik(logprobs) for logprobs in stats.logprobs]),
        "U = (1/K) Σ_j log PPL(a_j) · mean_{i≠j} (1 - W_ji)",
        "the answers' average token is unlikely and the answers disagree",
        "Vashurin et al. 2025; docs/methods.md §12.4",
        needs=("logprobs", "affinity"),
    ),
    Measure(
        "cocoa_mean_token_entropy", "CoCoA (mean token entropy)",
        lambda stats: _on_affinity(stats, mean_token_entropy(stats.token_entropies).per_sample),
        "U = (1/K) Σ_j mean_i H(p_i | a_j) · mean_{i≠j} (1 - W_ji)",
        "the model hesitated while writing answers that disagree",
        "Vashurin et al. 2025; docs/methods.md §12.4",
        needs=("token entropies", "affinity"),
    ),
)
