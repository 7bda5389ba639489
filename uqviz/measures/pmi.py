"""Pointwise mutual information between the prompt and each answer token, and its entropy-gated conditional form
(Takayama & Arase 2019; van der Poel, Cotterell & Meister 2022; docs/methods.md §12.11)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.probing import UNCONDITIONAL_LOGPROBS

CPMI_TAU = 0.0656
CPMI_LAMBDA = 3.599
"""CPMI's entropy threshold τ (nats) and weight λ: LM-Polygraph 0.7.0's defaults, van der Poel et al.'s tuned values."""


@dataclass(frozen=True)
class PmiDetail:
    """Per answer and token: log p(y_t | y_<t, x), log p(y_t | y_<t) without the prompt (NaN on the first token), the
    weight w_t on the latter (0 on the first token; CPMI: λ where H_t ≥ τ, else 0) and the token's score s_t."""

    conditional: list[np.ndarray]
    unconditional: list[np.ndarray]
    weights: list[np.ndarray]
    scores: list[np.ndarray]
    tau: float | None = None
    lam: float | None = None


def token_scores(conditional: np.ndarray, unconditional: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """s_t = log p(y_t | y_<t, x) − w_t log p(y_t | y_<t), with no unconditional term where w_t = 0 (docs/methods.md §12.11)."""
    return conditional - np.where(weights != 0, weights * unconditional, 0.0)


def _scored(conditional: list[np.ndarray], unconditional: list[np.ndarray], weights: list[np.ndarray],
            tau: float | None = None, lam: float | None = None) -> MeasureResult:
    """U_k = −mean_t s_t (0 for an empty answer), U = mean over answers."""
    scores = [token_scores(c, u, w) for c, u, w in zip(conditional, unconditional, weights)]
    per_sample = [-float(np.mean(row)) if len(row) else 0.0 for row in scores]
    return MeasureResult(float(np.mean(per_sample)), per_sample, PmiDetail(conditional, unconditional, weights, scores, tau, lam))


def _arrays(rows: Sequence[Sequence[float]]) -> list[np.ndarray]:
    return [np.asarray(row, dtype=np.float64) for row in rows]


def _after_first(weights: np.ndarray) -> np.ndarray:
    """The weights with w_1 = 0: LM-Polygraph gives the first token no unconditional term."""
    weights = np.array(weights, dtype=np.float64)
    weights[:1] = 0.0
    return weights


def pmi(sample_conditional: Sequence[Sequence[float]], sample_unconditional: Sequence[Sequence[float]]) -> MeasureResult:
    """U_k = −(1/n) Σ_t [log p(y_t | y_<t, x) − 1(t > 1) log p(y_t | y_<t)] (Takayama & Arase 2019; docs/methods.md §12.11)."""
    conditional, unconditional = _arrays(sample_conditional), _arrays(sample_unconditional)
    return _scored(conditional, unconditional, [_after_first(np.ones(len(row))) for row in conditional])


def conditional_pmi(sample_conditional: Sequence[Sequence[float]], sample_unconditional: Sequence[Sequence[float]],
                    sample_entropies: Sequence[Sequence[float]], tau: float = CPMI_TAU, lam: float = CPMI_LAMBDA) -> MeasureResult:
    """U_k = −(1/n) Σ_t [log p(y_t | y_<t, x) − λ 1(t > 1, H_t ≥ τ) log p(y_t | y_<t)] (van der Poel et al. 2022; docs/methods.md §12.11)."""
    conditional, unconditional = _arrays(sample_conditional), _arrays(sample_unconditional)
    weights = [_after_first(lam * (entropies >= tau)) for entropies in _arrays(sample_entropies)]
    return _scored(conditional, unconditional, weights, tau, lam)


def _pmi(stats: RunStatistics) -> MeasureResult:
    conditional = stats.logprobs  # read first: a run without log-probs is refused before any pass
    return pmi(conditional, UNCONDITIONAL_LOGPROBS(stats).logprobs)


def _conditional_pmi(stats: RunStatistics) -> MeasureResult:
    conditional, entropies = stats.logprobs, stats.token_entropies  # read first, as above
    return conditional_pmi(conditional, UNCONDITIONAL_LOGPROBS(stats).logprobs, entropies)


COST = "one extra pass of the language model over every answer without the prompt"
MEASURES = (
    Measure(
        "pmi", "Pointwise mutual information (PMI)",
        _pmi,
        "U = (1/K) Σ_k −(1/n_k) Σ_t [log p(y_t | y_<t, x) − 1(t > 1) log p(y_t | y_<t)]",
        "the prompt made the answers' tokens less likely than the model finds them without it",
        "Takayama & Arase 2019; docs/methods.md §12.11",
        needs=("logprobs", "language model"),
        on_demand=True,
        cost=COST,
    ),
    Measure(
        "conditional_pmi", "Conditional PMI (CPMI)",
        _conditional_pmi,
        f"U = (1/K) Σ_k −(1/n_k) Σ_t [log p(y_t | y_<t, x) − λ 1(t > 1, H_t ≥ τ) log p(y_t | y_<t)],  τ = {CPMI_TAU}, λ = {CPMI_LAMBDA}",
        "the answers' tokens are unlikely given the prompt, or, where the model hesitated, likely without it",
        "van der Poel, Cotterell & Meister 2022; docs/methods.md §12.11",
        needs=("logprobs", "token entropies", "language model"),
        on_demand=True,
        cost=COST,
    ),
)
