"""UQLM's black-box consistency scorers: how often, how closely and how compatibly the other answers repeat each answer
(exact match, Cole et al. 2023; cosine; non-contradiction and entailment probability, Chen & Mueller 2024; docs/methods.md
§12.9)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NLI_LABELS
from uqviz.statistics.affinity import ANSWER_NLI_PROBABILITIES
from uqviz.statistics.base import MissingInputError


def _from_pairs(agreement: np.ndarray) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} agreement[k, j] per answer, U = mean over answers; needs two answers or more."""
    count = len(agreement)
    if count < 2:
        raise MissingInputError("it compares each answer with the others, and the run has fewer than two answers")
    others = ~np.eye(count, dtype=bool)
    per_sample = [1.0 - float(agreement[k][others[k]].mean()) for k in range(count)]
    return MeasureResult(float(np.mean(per_sample)), per_sample, agreement.tolist())


def exact_match_rate(answers: Sequence[str]) -> MeasureResult:
    """U_k = 1 − the share of the other answers identical to answer k (UQLM's exact match; docs/methods.md §12.9)."""
    return _from_pairs(np.asarray([[float(a == b) for b in answers] for a in answers]))


def cosine_consistency(embeddings: np.ndarray) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} (1 + cos(v_k, v_j)) / 2 over unit answer embeddings (UQLM's cosine; docs/methods.md §12.9)."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    return _from_pairs(0.5 + (vectors @ vectors.T) / 2)


def _both_ways(probabilities: np.ndarray, label: str) -> np.ndarray:
    directed = np.asarray(probabilities, dtype=np.float64)[..., NLI_LABELS.index(label)]
    return (directed + directed.T) / 2


def noncontradiction(probabilities: np.ndarray) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} (1 − (p_c(k→j) + p_c(j→k))/2) (UQLM's non-contradiction; docs/methods.md §12.9)."""
    return _from_pairs(1.0 - _both_ways(probabilities, CONTRADICTION))


def entailment_probability(probabilities: np.ndarray) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} (p_e(k→j) + p_e(j→k))/2 (UQLM's entailment score; docs/methods.md §12.9)."""
    return _from_pairs(_both_ways(probabilities, ENTAILMENT))


SOURCE = "Bouchard & Chauhan 2025 (UQLM); docs/methods.md §12.9"
MEASURES = (
    Measure(
        "exact_match_rate", "Exact-match rate",
        lambda stats: exact_match_rate(stats.answers),
        "U = (1/K) Σ_k (1 − (1/(K−1)) Σ_{j≠k} [a_j = a_k])",
        "few other answers repeat each answer word for word", "Cole et al. 2023; " + SOURCE, needs=("texts",),
    ),
    Measure(
        "cosine_consistency", "Cosine consistency",
        lambda stats: cosine_consistency(stats.answer_embeddings),
        "U = (1/K) Σ_k (1 − (1/(K−1)) Σ_{j≠k} (1 + cos(v_k, v_j))/2)",
        "the other answers' embeddings point elsewhere", SOURCE, needs=("embeddings",),
    ),
    Measure(
        "noncontradiction", "Non-contradiction probability",
        lambda stats: noncontradiction(ANSWER_NLI_PROBABILITIES(stats)),
        "U = (1/K) Σ_k (1 − (1/(K−1)) Σ_{j≠k} (1 − (p_c(k→j) + p_c(j→k))/2))",
        "the other answers contradict each answer", "Chen & Mueller 2024; " + SOURCE, needs=("nli",),
    ),
    Measure(
        "entailment_probability", "Entailment probability",
        lambda stats: entailment_probability(ANSWER_NLI_PROBABILITIES(stats)),
        "U = (1/K) Σ_k (1 − (1/(K−1)) Σ_{j≠k} (p_e(k→j) + p_e(j→k))/2)",
        "the other answers do not entail each answer", SOURCE, needs=("nli",),
    ),
)
