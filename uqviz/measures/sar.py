"""SAR, shifting attention to relevance: TokenSAR, SentSAR and SAR with their relevance detail (Duan et al. ACL 2024; ALGORITHMS.md §4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp

from uqviz.measures.base import Measure, MeasureResult
from uqviz.measures.logprob import mean_loglik, sequence_loglik
from uqviz.similarity import FLOAT32

if TYPE_CHECKING:
    from uqviz.similarity import SimilarityBackend
    from uqviz.statistics import RunStatistics

TOKEN_RELEVANCE = "token_relevance"
SENTENCE_SIMILARITY = "sar_sentence_similarity"


def compared_text(question: str, answer: str) -> str:
    """q ⊕ s as compared by the similarity model: `question + " " + answer` (§4.2, recommended choice)."""
    return f"{question} {answer}"


def removal_variants(tokens: Sequence[str]) -> list[str]:
    """The answer without token i, for every position i.

    The tokens are the run's in-context decodings of the ids, so joining all but position i equals decoding the
    remaining ids: the removal is position-exact, unlike SAR's global `str.replace` (§4.2). A one-token answer's
    only variant is the empty answer, so its g compares q ⊕ s with the question alone; its weight R̃ is 1 either way.
    """
    return ["".join(tokens[:index]) + "".join(tokens[index + 1 :]) for index in range(len(tokens))]


@dataclass(frozen=True)
class TokenRelevance:
    """Per sample and token: g_i = sim(q ⊕ s, q ⊕ s without z_i) and the relevance R_i = 1 − g_i before normalisation."""

    similarity: list[list[float]]
    relevance: list[list[float]]
    precision: str = FLOAT32


def compute_token_relevance(
    question: str,
    sample_tokens: Sequence[Sequence[str]],
    answers: Sequence[str],
    backend: SimilarityBackend,
    precision: str = FLOAT32,
) -> TokenRelevance:
    """Token relevance of every token of every sample from ONE batched pair_scores call over all removal variants (§4.2, §4.6)."""
    full_texts: list[str] = []
    variant_texts: list[str] = []
    lengths: list[int] = []
    for tokens, answer in zip(sample_tokens, answers):
        variants = removal_variants(tokens)
        full_texts += [compared_text(question, answer)] * len(variants)
        variant_texts += [compared_text(question, variant) for variant in variants]
        lengths.append(len(variants))
    scores = backend.pair_scores(full_texts, variant_texts, precision)
    bounds = np.cumsum([0, *lengths])
    similarity = [[float(g) for g in scores[start:end]] for start, end in zip(bounds[:-1], bounds[1:])]
    return TokenRelevance(similarity, [[1.0 - g for g in row] for row in similarity], precision)


def sentence_similarity_matrix(question: str, answers: Sequence[str], backend: SimilarityBackend) -> np.ndarray:
    """g_jk = sim(q ⊕ s_j, q ⊕ s_k), each unordered pair scored once and mirrored; the unused diagonal is 1 (§4.3)."""
    texts = [compared_text(question, answer) for answer in answers]
    pairs = list(combinations(range(len(texts)), 2))
    scores = backend.pair_scores([texts[j] for j, _ in pairs], [texts[k] for _, k in pairs])
    matrix = np.eye(len(texts))
    for (j, k), score in zip(pairs, scores):
        matrix[j, k] = matrix[k, j] = score
    return matrix


def token_relevance(stats: RunStatistics) -> TokenRelevance:
    """The shared token-relevance statistic of a run (memo `token_relevance`, cost recorded in stats.costs)."""
    return stats.memo(
        TOKEN_RELEVANCE,
        lambda: compute_token_relevance(
            stats.question, [s.tokens for s in stats.run.samples], stats.answers, stats.similarity, stats.relevance_precision
        ),
    )


def sentence_similarity(stats: RunStatistics) -> np.ndarray:
    """The shared K × K g_jk of a run; with the bi-encoder it reuses the q ⊕ s embeddings of token relevance."""
    return stats.memo(SENTENCE_SIMILARITY, lambda: sentence_similarity_matrix(stats.question, stats.answers, stats.similarity))


def computed_token_relevance(stats: RunStatistics) -> TokenRelevance | None:
    """The token relevance if this RunStatistics has computed it (scores.json `token_relevance`), else None."""
    return token_relevance(stats) if TOKEN_RELEVANCE in stats.costs else None


def relevance_weights(relevance: Sequence[float]) -> np.ndarray:
    """R̃_i = R_i / Σ_j R_j; uniform 1/n when every R_i is 0, where the original gives NaN (§4.2 numerical guard)."""
    values = np.asarray(relevance, dtype=np.float64)
    if uses_uniform_fallback(values):
        return np.full(values.size, 1.0 / values.size)
    return values / values.sum() if values.size else values


def uses_uniform_fallback(relevance: Sequence[float]) -> bool:
    """True when an answer has tokens but none is relevant (every g_i = 1), so TokenSAR falls back to LN-PE."""
    return len(relevance) > 0 and float(np.sum(relevance)) <= 0


@dataclass(frozen=True)
class TokenSarDetail:
    """Per sample and token: R_i, R̃_i, the contribution R̃_i·(−ℓ_i) and the shift (R̃_i − 1/n)·(−ℓ_i) away from LN-PE.

    Per sample: LN-PE (the same sum with uniform weights) and whether the all-zero-relevance fallback was used.
    """

    relevance: list[list[float]]
    weights: list[list[float]]
    contributions: list[list[float]]
    shifts: list[list[float]]
    ln_pe: list[float]
    uniform_fallback: list[bool]


def token_sar(sample_logprobs: Sequence[Sequence[float]], sample_relevance: Sequence[Sequence[float]]) -> MeasureResult:
    """TokenSAR(s) = Σ_i R̃_i·(−ℓ_i), U = mean over samples; an empty answer scores 0 (Duan et al. ACL 2024; ALGORITHMS.md §4.2)."""
    weights, contributions, shifts, fallback = [], [], [], []
    for logprobs, relevance in zip(sample_logprobs, sample_relevance, strict=True):
        surprisal = -np.asarray(logprobs, dtype=np.float64)
        weight = relevance_weights(relevance)
        weights.append(weight.tolist())
        contributions.append((weight * surprisal).tolist())
        shifts.append(((weight - 1.0 / max(weight.size, 1)) * surprisal).tolist())
        fallback.append(uses_uniform_fallback(relevance))
    per_sample = [float(np.sum(c)) for c in contributions]
    detail = TokenSarDetail(
        [list(map(float, r)) for r in sample_relevance], weights, contributions, shifts,
        [-mean_loglik(lp) for lp in sample_logprobs], fallback,
    )
    return MeasureResult(float(np.mean(per_sample)), per_sample, detail)


@dataclass(frozen=True)
class SentenceShiftDetail:
    """Per sample: its own log-probability log p_j, the log of the neighbour mass (1/t) Σ_{k≠j} g_jk p_k
    (−inf when no neighbour is similar) and E; the g_jk matrix and t."""

    log_probabilities: list[float]
    neighbour_log_mass: list[float]
    entropies: list[float]
    similarity: list[list[float]]
    temperature: float


def shifted_entropies(log_probabilities: Sequence[float], similarity: np.ndarray, temperature: float) -> SentenceShiftDetail:
    """E(s_j) = −log(p_j + (1/t) Σ_{k≠j} g_jk p_k), as a logsumexp over log p_j and log(g_jk/t) + log p_k (§4.3, §4.5)."""
    log_p = np.asarray(log_probabilities, dtype=np.float64)
    matrix = np.asarray(similarity, dtype=np.float64)
    with np.errstate(divide="ignore"):
        neighbour_terms = np.log(matrix) - np.log(temperature) + log_p[None, :]
    np.fill_diagonal(neighbour_terms, -np.inf)
    neighbour = logsumexp(neighbour_terms, axis=1)
    entropies = -np.logaddexp(log_p, neighbour)
    return SentenceShiftDetail(log_p.tolist(), neighbour.tolist(), entropies.tolist(), matrix.tolist(), float(temperature))


def _mean_shifted_entropy(log_probabilities: Sequence[float], similarity: np.ndarray, temperature: float) -> MeasureResult:
    detail = shifted_entropies(log_probabilities, similarity, temperature)
    return MeasureResult(float(np.mean(detail.entropies)), detail.entropies, detail)


def sent_sar(sample_logprobs: Sequence[Sequence[float]], similarity: np.ndarray, temperature: float) -> MeasureResult:
    """SentSAR: mean of E_S(s_j) with p_k = exp(LL(s_k)) (Duan et al. ACL 2024; ALGORITHMS.md §4.3)."""
    return _mean_shifted_entropy([sequence_loglik(lp) for lp in sample_logprobs], similarity, temperature)


def sar(
    sample_logprobs: Sequence[Sequence[float]], sample_relevance: Sequence[Sequence[float]], similarity: np.ndarray, temperature: float
) -> MeasureResult:
    """SAR: mean of E(s_j) with p'_k = exp(−TokenSAR(s_k)) (Duan et al. ACL 2024; ALGORITHMS.md §4.4)."""
    token_level = token_sar(sample_logprobs, sample_relevance).per_sample
    return _mean_shifted_entropy([-value for value in token_level], similarity, temperature)


MEASURES = (
    Measure(
        "token_sar", "TokenSAR",
        lambda stats: token_sar(stats.logprobs, token_relevance(stats).relevance),
        "TokenSAR = (1/K) Σ_k Σ_i R̃_i·(−log p(z_i)),  R_i = 1 − g(q⊕s, q⊕s∖z_i),  R̃_i = R_i / Σ_j R_j",
        "the tokens that carry the answer's meaning are less likely",
        "Duan et al. ACL 2024; ALGORITHMS.md §4.2",
        needs=("logprobs", "similarity"),
    ),
    Measure(
        "sent_sar", "SentSAR",
        lambda stats: sent_sar(stats.logprobs, sentence_similarity(stats), stats.config.sar_temperature),
        "SentSAR = (1/K) Σ_j −log(p_j + (1/t) Σ_{k≠j} g_jk p_k),  p_k = exp(Σ_i log p(z_i))",
        "the answers are unlikely and few likely answers say the same thing",
        "Duan et al. ACL 2024; ALGORITHMS.md §4.3",
        needs=("logprobs", "similarity"),
    ),
    Measure(
        "sar", "SAR",
        lambda stats: sar(stats.logprobs, token_relevance(stats).relevance, sentence_similarity(stats), stats.config.sar_temperature),
        "SAR = (1/K) Σ_j −log(p'_j + (1/t) Σ_{k≠j} g_jk p'_k),  p'_k = exp(−TokenSAR(s_k))",
        "the relevant tokens are unlikely and few answers with likely relevant tokens say the same thing",
        "Duan et al. ACL 2024; ALGORITHMS.md §4.4",
        needs=("logprobs", "similarity"),
    ),
)
