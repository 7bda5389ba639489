"""Self-certainty, the mean KL(Uniform ‖ p_i) over an answer's tokens, and Borda voting (Kang et al. 2025; docs/methods.md §7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult

DEFAULT_BORDA_EXPONENT = 0.5


def kl_from_uniform(distribution: Sequence[float]) -> float:
    """KL(Uniform_V ‖ p) = -log V - (1/V) Σ_j log p_j for one next-token distribution (§7.1)."""
    p = np.asarray(distribution, dtype=np.float64)
    return float(-np.log(p.size) - np.mean(np.log(p)))


def answer_self_certainty(token_kls: Sequence[float]) -> float:
    """SC(y|x) = (1/n) Σ_i KL(U ‖ p_i); an empty answer has SC 0, the least certain value."""
    return float(np.mean(token_kls)) if len(token_kls) else 0.0


def self_certainty(sample_token_kls: Sequence[Sequence[float]]) -> MeasureResult:
    """U = -SC averaged over samples, per-sample U = -SC(s_k) (Kang, Zhao, Song 2025; docs/methods.md §7.1)."""
    per_sample = [-answer_self_certainty(kls) for kls in sample_token_kls]
    return MeasureResult(float(np.mean(per_sample)), per_sample)


@dataclass(frozen=True)
class BordaResult:
    """The chosen answer, its first sample, votes per answer and per sample (rank-weighted)."""

    answer: str | None
    sample_index: int | None
    votes_by_answer: dict[str, float]
    votes_by_sample: dict[int, float]


def borda_vote(certainties: Sequence[float], answers: Sequence[str | None], exponent: float = DEFAULT_BORDA_EXPONENT) -> BordaResult:
    """Borda voting: rank r by SC descending casts (N - r + 1)^p votes for its answer (Kang et al. 2025; docs/methods.md §7.2)."""
    count = len(certainties)
    order = sorted(range(count), key=lambda index: -certainties[index])
    votes_by_sample: dict[int, float] = {}
    votes_by_answer: dict[str, float] = {}
    first_sample: dict[str, int] = {}
    for rank, index in enumerate(order, start=1):
        votes = float((count - rank + 1) ** exponent)
        votes_by_sample[index] = votes
        answer = answers[index]
        if answer is None:
            continue
        votes_by_answer[answer] = votes_by_answer.get(answer, 0.0) + votes
    for index, answer in enumerate(answers):
        if answer is not None:
            first_sample.setdefault(answer, index)
    if not votes_by_answer:
        return BordaResult(None, None, {}, votes_by_sample)
    best = max(votes_by_answer, key=lambda answer: (votes_by_answer[answer], -first_sample[answer]))
    return BordaResult(best, first_sample[best], votes_by_answer, votes_by_sample)


MEASURES = (
    Measure(
        "self_certainty", "Self-certainty",
        lambda stats: self_certainty(stats.token_kl_from_uniform),
        "U = -(1/K) Σ_k (1/n_k) Σ_i KL(Uniform_V ‖ p_i)",
        "the next-token distributions are closer to uniform (less peaked)",
        "Kang, Zhao, Song 2025; docs/methods.md §7.1",
        needs=("token distributions",),
    ),
)
