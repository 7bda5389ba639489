"""Sequence likelihood, reweighted: CSL weights tokens by the model's attention to them when asked whether the answer is
right, MARS by how much each carries the answer's meaning (Lin et al. EMNLP 2024; Bakman et al. ACL 2024; docs/methods.md §12.12)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.measures.sar import relevance_weights
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.csl import ELICITED_ATTENTION
from uqviz.statistics.relevance import TOKEN_RELEVANCE


@dataclass(frozen=True)
class ReweightedDetail:
    """Per sample and token the weight w_i (Σ_i w_i = 1) and contribution w_i·(−ℓ_i); per sample LN-PE (w_i = 1/n)."""

    weights: list[list[float]]
    contributions: list[list[float]]
    ln_pe: list[float]


def reweighted(sample_logprobs: Sequence[Sequence[float]], sample_weights: Sequence[Sequence[float]]) -> MeasureResult:
    """U_k = Σ_i w_i·(−ℓ_i), U = mean over samples; an empty answer scores 0 (docs/methods.md §12.12)."""
    weights, contributions, ln_pe = [], [], []
    for logprobs, weight in zip(sample_logprobs, sample_weights, strict=True):
        surprisal = -np.asarray(logprobs, dtype=np.float64)
        weight = np.asarray(weight, dtype=np.float64)
        if weight.shape != surprisal.shape:
            raise ValueError(f"{weight.size} weights for {surprisal.size} tokens")
        weights.append(weight.tolist())
        contributions.append((weight * surprisal).tolist())
        ln_pe.append(float(surprisal.mean()) if surprisal.size else 0.0)
    per_sample = [float(np.sum(row)) for row in contributions]
    return MeasureResult(float(np.mean(per_sample)), per_sample, ReweightedDetail(weights, contributions, ln_pe))


def csl_weights(attention: np.ndarray) -> np.ndarray:
    """w_i = (1/H) Σ_h a_{h,i} / Σ_j a_{h,j} over all heads (the authors' untuned `attnnll|all`); a zero head is uniform (§12.12)."""
    heads = np.asarray(attention, dtype=np.float64)
    if heads.shape[-1] == 0:
        return np.zeros(0)
    heads = heads.reshape(-1, heads.shape[-1])
    totals = heads.sum(axis=1, keepdims=True)
    normalised = np.where(totals > 0, heads / np.where(totals > 0, totals, 1.0), 1.0 / heads.shape[1])
    return normalised.mean(axis=0)


def csl(sample_logprobs: Sequence[Sequence[float]], sample_attention: Sequence[np.ndarray]) -> MeasureResult:
    """CSL: U_k = Σ_i w_i·(−ℓ_i) with attention weights w (Lin, Trivedi & Sun EMNLP 2024; docs/methods.md §12.12)."""
    return reweighted(sample_logprobs, [csl_weights(attention) for attention in sample_attention])


def mars_weights(importance: Sequence[float]) -> np.ndarray:
    """w_i = 1/(2n) + u_i/2 with u_i = I_i / Σ_j I_j (uniform when every I_i is 0), the authors' 0.5/0.5 mix (§12.12)."""
    if not len(importance):
        return np.zeros(0)
    return 0.5 / len(importance) + 0.5 * relevance_weights(importance)


def mars(sample_logprobs: Sequence[Sequence[float]], sample_importance: Sequence[Sequence[float]]) -> MeasureResult:
    """MARS: U_k = Σ_i (1/(2n) + u_i/2)·(−ℓ_i) (Bakman et al. ACL 2024; docs/methods.md §12.12)."""
    return reweighted(sample_logprobs, [mars_weights(importance) for importance in sample_importance])


def _csl(stats: RunStatistics) -> MeasureResult:
    logprobs = stats.logprobs
    return csl(logprobs, ELICITED_ATTENTION(stats).attention)


CSL_COST = ("one teacher-forced pass of the run's model with eager attention over every answer inside a ~250-token "
            "attention-eliciting prompt, batched")
MEASURES = (
    Measure(
        "csl", "CSL (contextualized sequence likelihood)",
        _csl,
        "CSL = (1/K) Σ_k Σ_i w_i·(−log p(z_i)),  w_i = (1/H) Σ_h a_{h,i} / Σ_j a_{h,j},  a_{h,i} = attention of head h "
        "(every layer) from the last token of \"…Answer: s Decision:\" to z_i",
        "the tokens the model looks at when judging the answer are unlikely",
        "Lin, Trivedi & Sun EMNLP 2024; docs/methods.md §12.12",
        needs=("logprobs", "language model", "attentions"),
        on_demand=True,
        cost=CSL_COST,
    ),
    Measure(
        "mars", "MARS (importance from SAR relevance)",
        lambda stats: mars(stats.logprobs, TOKEN_RELEVANCE(stats).relevance),
        "MARS = (1/K) Σ_k Σ_i (1/(2n) + R̃_i/2)·(−log p(z_i)) = (1/K) Σ_k (LN-PE_k + TokenSAR_k)/2,  R̃ = SAR's token "
        "relevance in place of the paper's BERT importance model",
        "the answer's tokens, and most the ones that carry its meaning, are unlikely",
        "Bakman et al. ACL 2024; docs/methods.md §12.12",
        needs=("logprobs", "similarity"),
    ),
)
