"""SAR, shifting attention to relevance: TokenSAR, SentSAR and SAR with their relevance detail (Duan et al. ACL 2024; docs/methods.md §4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from uqviz.measures.base import Measure, MeasureResult
from uqviz.measures.logprob import mean_loglik, sequence_loglik
from uqviz.statistics.relevance import SENTENCE_SIMILARITY, TOKEN_RELEVANCE


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
    """TokenSAR(s) = Σ_i R̃_i·(−ℓ_i), U = mean over samples; an empty answer scores 0 (Duan et al. ACL 2024; docs/methods.md §4.2)."""
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
    """SentSAR: mean of E_S(s_j) with p_k = exp(LL(s_k)) (Duan et al. ACL 2024; docs/methods.md §4.3)."""
    return _mean_shifted_entropy([sequence_loglik(lp) for lp in sample_logprobs], similarity, temperature)


def sar(
    sample_logprobs: Sequence[Sequence[float]], sample_relevance: Sequence[Sequence[float]], similarity: np.ndarray, temperature: float
) -> MeasureResult:
    """SAR: mean of E(s_j) with p'_k = exp(−TokenSAR(s_k)) (Duan et al. ACL 2024; docs/methods.md §4.4)."""
    token_level = token_sar(sample_logprobs, sample_relevance).per_sample
    return _mean_shifted_entropy([-value for value in token_level], similarity, temperature)


MEASURES = (
    Measure(
        "token_sar", "TokenSAR",
        lambda stats: token_sar(stats.logprobs, TOKEN_RELEVANCE(stats).relevance),
        "TokenSAR = (1/K) Σ_k Σ_i R̃_i·(−log p(z_i)),  R_i = 1 − g(q⊕s, q⊕s∖z_i),  R̃_i = R_i / Σ_j R_j",
        "the tokens that carry the answer's meaning are less likely",
        "Duan et al. ACL 2024; docs/methods.md §4.2",
        needs=("logprobs", "similarity"),
    ),
    Measure(
        "sent_sar", "SentSAR",
        lambda stats: sent_sar(stats.logprobs, SENTENCE_SIMILARITY(stats), stats.config.sar_temperature),
        "SentSAR = (1/K) Σ_j −log(p_j + (1/t) Σ_{k≠j} g_jk p_k),  p_k = exp(Σ_i log p(z_i))",
        "the answers are unlikely and few likely answers say the same thing",
        "Duan et al. ACL 2024; docs/methods.md §4.3",
        needs=("logprobs", "similarity"),
    ),
    Measure(
        "sar", "SAR",
        lambda stats: sar(stats.logprobs, TOKEN_RELEVANCE(stats).relevance, SENTENCE_SIMILARITY(stats), stats.config.sar_temperature),
        "SAR = (1/K) Σ_j −log(p'_j + (1/t) Σ_{k≠j} g_jk p'_k),  p'_k = exp(−TokenSAR(s_k))",
        "the relevant tokens are unlikely and few answers with likely relevant tokens say the same thing",
        "Duan et al. ACL 2024; docs/methods.md §4.4",
        needs=("logprobs", "similarity"),
    ),
)
