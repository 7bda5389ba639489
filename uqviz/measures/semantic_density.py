"""Semantic density: each answer's probability-weighted kernel density among the answers, from NLI probabilities
(Qiu & Miikkulainen NeurIPS 2024; docs/methods.md §12.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.measures.logprob import mean_loglik
from uqviz.models.nli import CONTRADICTION, NEUTRAL, NLI_LABELS, unique_texts
from uqviz.statistics.affinity import ANSWER_NLI_PROBABILITIES


@dataclass(frozen=True)
class SemanticDensityDetail:
    """Per answer its density; the kernel k(a_j, a_i) = 1 - p_contra - p_neutral/2 and each answer's p(s)^(1/n)."""

    density: list[float]
    kernel: np.ndarray
    normalised_probability: list[float]


def semantic_density(texts: Sequence[str], sample_logprobs: Sequence[Sequence[float]], probabilities: np.ndarray) -> MeasureResult:
    """U_j = 1 - SD(a_j), SD(a_j) = Σ_u p̄_u k(a_j, a_u) / Σ_u p̄_u over the distinct answers u (a_j among them, once),
    p̄ = p(s)^(1/n) (Qiu & Miikkulainen NeurIPS 2024; docs/methods.md §12.3)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    distance = probabilities[..., NLI_LABELS.index(CONTRADICTION)] + probabilities[..., NLI_LABELS.index(NEUTRAL)] / 2
    kernel = np.where(distance <= 1.0, 1.0 - distance, 0.0)
    normalised = np.exp([mean_loglik(logprobs) for logprobs in sample_logprobs])
    _, index = unique_texts(texts)
    distinct = [index.index(position) for position in range(max(index, default=-1) + 1)]
    density = (kernel[:, distinct] @ normalised[distinct] / np.sum(normalised[distinct])).tolist()
    per_sample = [1.0 - value for value in density]
    return MeasureResult(float(np.mean(per_sample)), per_sample, SemanticDensityDetail(density, kernel, normalised.tolist()))


MEASURES = (
    Measure(
        "semantic_density", "Semantic density",
        lambda stats: semantic_density(stats.answers, stats.logprobs, ANSWER_NLI_PROBABILITIES(stats)),
        "U = 1 - (1/K) Σ_j SD(a_j),  SD(a_j) = Σ_u p̄_u k(a_j, a_u) / Σ_u p̄_u over the distinct answers u,  k = 1 - p_c - p_n/2",
        "less of the answers' probability mass lies near each answer's meaning",
        "Qiu & Miikkulainen NeurIPS 2024; docs/methods.md §12.3",
        cost="the answers' NLI matrix, shared with the clusters",
        needs=("logprobs", "nli"),
    ),
)
