"""Black-box consistency scorers: how often, how closely and how compatibly the other answers repeat each answer (UQLM's
exact match, Cole et al. 2023; cosine; BERTScore, Zhang et al. 2020; non-contradiction and entailment probability, Chen &
Mueller 2024), the Monte Carlo probability of each answer's meaning, and the directional entailment graph (Da et al. 2024,
TruthTorchLM; docs/methods.md §12.9)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NLI_LABELS
from uqviz.statistics.affinity import ANSWER_NLI_PROBABILITIES, ANSWER_TOKEN_EMBEDDINGS
from uqviz.statistics.base import MissingInputError
from uqviz.statistics.clustering import ANSWER_CLUSTERING, MEANING_JUDGE

FEWER_THAN_TWO = "it compares each answer with the others, and the run has fewer than two answers"


def _from_pairs(agreement: np.ndarray, detail: Any = None) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} agreement[k, j] per answer, U = mean over answers; needs two answers or more."""
    count = len(agreement)
    if count < 2:
        raise MissingInputError(FEWER_THAN_TWO)
    others = ~np.eye(count, dtype=bool)
    per_sample = [1.0 - float(agreement[k][others[k]].mean()) for k in range(count)]
    return MeasureResult(float(np.mean(per_sample)), per_sample, agreement.tolist() if detail is None else detail)


def exact_match_rate(answers: Sequence[str]) -> MeasureResult:
    """U_k = 1 − the share of the other answers identical to answer k (UQLM's exact match; docs/methods.md §12.9)."""
    return _from_pairs(np.asarray([[float(a == b) for b in answers] for a in answers]))


def cosine_consistency(embeddings: np.ndarray) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} (1 + cos(v_k, v_j)) / 2 over unit answer embeddings (UQLM's cosine; docs/methods.md §12.9)."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    return _from_pairs(0.5 + (vectors @ vectors.T) / 2)


@dataclass(frozen=True)
class MeaningRecurrenceDetail:
    """Each answer's meaning class, its Monte Carlo probability (the share of the other answers in it) and the judge."""

    cluster_ids: list[int]
    recurrence: list[float]
    judge: str


def monte_carlo_meaning_probability(cluster_ids: Sequence[int], judge: str = "") -> MeasureResult:
    """U_k = 1 − the share of the other answers in answer k's meaning class, a frequency estimate (docs/methods.md §12.9)."""
    ids = np.asarray(cluster_ids)
    result = _from_pairs((ids[:, None] == ids[None, :]).astype(np.float64))
    return replace(result, detail=MeaningRecurrenceDetail(ids.tolist(), [1.0 - value for value in result.per_sample], judge))


@dataclass(frozen=True)
class BertScoreDetail:
    """precision[k, j] of answer k's tokens matched in answer j (recall is its transpose), F1, and the token encoder."""

    precision: np.ndarray
    f1: np.ndarray
    encoder: str


def bert_score_consistency(token_vectors: Sequence[np.ndarray], encoder: str = "") -> MeasureResult:
    """U_k = 1 − mean_{j≠k} BERTScore F1(a_k, a_j), no idf, no rescaling (Zhang et al. 2020, UQLM; docs/methods.md §12.9)."""
    units = [np.asarray(vectors, dtype=np.float32) for vectors in token_vectors]
    units = [vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.finfo(np.float32).tiny) for vectors in units]
    count = len(units)
    precision = np.zeros((count, count))
    for k in range(count):
        for j in range(k, count):
            if len(units[k]) and len(units[j]):
                cosine = units[k] @ units[j].T
                precision[k, j], precision[j, k] = cosine.max(axis=1).mean(), cosine.max(axis=0).mean()
    recall = precision.T
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total != 0)
    return _from_pairs(f1, BertScoreDetail(precision, f1, encoder))


def _both_ways(probabilities: np.ndarray, label: str) -> np.ndarray:
    directed = np.asarray(probabilities, dtype=np.float64)[..., NLI_LABELS.index(label)]
    return (directed + directed.T) / 2


def noncontradiction(probabilities: np.ndarray) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} (1 − (p_c(k→j) + p_c(j→k))/2) (UQLM's non-contradiction; docs/methods.md §12.9)."""
    return _from_pairs(1.0 - _both_ways(probabilities, CONTRADICTION))


def entailment_probability(probabilities: np.ndarray) -> MeasureResult:
    """U_k = 1 − mean_{j≠k} (p_e(k→j) + p_e(j→k))/2 (UQLM's entailment score; docs/methods.md §12.9)."""
    return _from_pairs(_both_ways(probabilities, ENTAILMENT))


@dataclass(frozen=True)
class EntailmentGraphDetail:
    """A[i, j] = p_e(a_i → a_j), the walk P = D⁻¹A, P's eigenvalues μ (complex) and Σ max(0, −Re μ), U − Σ_k P_kk."""

    entailment: np.ndarray
    transition: np.ndarray
    eigenvalues: np.ndarray
    correction: float


def directional_entailment_graph(probabilities: np.ndarray) -> MeasureResult:
    """U = Σ_k max(0, 1 − Re λ_k(I − D⁻¹A)), U_k = P_kk, A_ij = p_e(a_i → a_j) (Da et al. 2024; docs/methods.md §12.9)."""
    entailment = np.asarray(probabilities, dtype=np.float64)[..., NLI_LABELS.index(ENTAILMENT)]
    if len(entailment) < 2:
        raise MissingInputError(FEWER_THAN_TWO)
    transition = entailment / entailment.sum(axis=1, keepdims=True)
    eigenvalues = np.linalg.eigvals(transition)
    value = float(np.sum(np.maximum(0.0, eigenvalues.real)))
    correction = float(np.sum(np.maximum(0.0, -eigenvalues.real)))
    detail = EntailmentGraphDetail(entailment, transition, eigenvalues, correction)
    return MeasureResult(value, np.diag(transition).tolist(), detail)


SOURCE = "Bouchard & Chauhan 2025 (UQLM); docs/methods.md §12.9"
MEASURES = (
    Measure(
        "exact_match_rate", "Exact-match rate",
        lambda stats: exact_match_rate(stats.answers),
        "U = (1/K) Σ_k (1 − (1/(K−1)) Σ_{j≠k} [a_j = a_k])",
        "few other answers repeat each answer word for word", "Cole et al. 2023; " + SOURCE, needs=("texts",),
    ),
    Measure(
        "monte_carlo_meaning_probability", "Monte Carlo meaning probability",
        lambda stats: monte_carlo_meaning_probability(ANSWER_CLUSTERING(stats).ids, MEANING_JUDGE(stats).description),
        "U = (1/K) Σ_k (1 − (|c(a_k)| − 1)/(K − 1)),  c(a_k) = a_k's meaning class",
        "few other answers share each answer's meaning", "docs/methods.md §12.9", needs=("clusters",),
    ),
    Measure(
        "cosine_consistency", "Cosine consistency",
        lambda stats: cosine_consistency(stats.answer_embeddings),
        "U = (1/K) Σ_k (1 − (1/(K−1)) Σ_{j≠k} (1 + cos(v_k, v_j))/2)",
        "the other answers' embeddings point elsewhere", SOURCE, needs=("embeddings",),
    ),
    Measure(
        "bert_score_consistency", "BERTScore consistency",
        lambda stats: bert_score_consistency(ANSWER_TOKEN_EMBEDDINGS(stats), stats.similarity.embedder.name),
        "U = (1/K) Σ_k (1 − (1/(K−1)) Σ_{j≠k} F1(a_k, a_j)),  F1 = 2PR/(P+R),  P = mean_{t∈a_k} max_{t'∈a_j} cos(e_t, e_t')",
        "the other answers' tokens match each answer's tokens less closely", "Zhang et al. 2020; " + SOURCE,
        needs=("embeddings",), on_demand=True,
        cost="one more pass of the run's embedder (by default the packaged all-MiniLM-L6-v2) over the distinct answers for token vectors",
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
    Measure(
        "directional_entailment_graph", "Directional entailment graph (D-UE)",
        lambda stats: directional_entailment_graph(ANSWER_NLI_PROBABILITIES(stats)),
        "U = Σ_k max(0, 1 − Re λ_k(I − D⁻¹A)),  A_ij = p_e(a_i → a_j),  D = diag(Σ_j A_ij)",
        "the answers entail each other less, as if they held more separate meanings (U counts them softly, 1 to K)",
        "Da et al. 2024 (TruthTorchLM); docs/methods.md §12.9", needs=("nli",),
    ),
)
