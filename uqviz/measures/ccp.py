"""Claim-conditioned probability: how much of each token's probability mass keeps the answer's meaning when its
top-k alternatives are swapped in (Fadeeva et al. ACL 2024; docs/methods.md §12.5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL
from uqviz.statistics.alternatives import TOKEN_ALTERNATIVES, TokenAlternatives
from uqviz.statistics.base import RunStatistics


def combined_label(forward: str, backward: str) -> str:
    """One label from NLI(x → y) and NLI(y → x): agreement wins, entailment against contradiction is neutral, else the
    one that is not neutral (lm-polygraph's CCP; docs/methods.md §12.5)."""
    if forward == backward:
        return forward
    if {forward, backward} == {ENTAILMENT, CONTRADICTION}:
        return NEUTRAL
    return forward if forward != NEUTRAL else backward


@dataclass(frozen=True)
class TokenCcp:
    """One token: its CCP, the alternatives with their log-probs and combined labels (the sampled token first)."""

    position: int
    ccp: float
    tokens: list[str]
    logprobs: list[float]
    labels: list[str]


def token_ccp(alternatives: TokenAlternatives) -> TokenCcp:
    """CCP_i = Σ p(meaning kept) / Σ p(meaning kept or contradicted); the sampled token always keeps it, neutral
    alternatives count in neither sum (docs/methods.md §12.5)."""
    labels = [ENTAILMENT] + [combined_label(f, b) for f, b in zip(alternatives.forward[1:], alternatives.backward[1:])]
    kept = [lp for lp, label in zip(alternatives.logprobs, labels) if label == ENTAILMENT]
    judged = [lp for lp, label in zip(alternatives.logprobs, labels) if label in (ENTAILMENT, CONTRADICTION)]
    ccp = float(np.exp(np.logaddexp.reduce(kept) - np.logaddexp.reduce(judged)))
    return TokenCcp(alternatives.position, ccp, alternatives.tokens, alternatives.logprobs, labels)


def answer_ccp(token_alternatives: Sequence[TokenAlternatives]) -> tuple[float, list[TokenCcp]]:
    """U = 1 - Π_i CCP_i over the answer's tokens, and each token's CCP (an empty answer keeps its meaning: U = 0)."""
    tokens = [token_ccp(alternatives) for alternatives in token_alternatives]
    return 1.0 - float(np.prod([token.ccp for token in tokens])), tokens


def claim_conditioned_probability(answers: Sequence[Sequence[TokenAlternatives]]) -> MeasureResult:
    """U_k = 1 - Π_i CCP_i per answer, averaged over answers (Fadeeva et al. ACL 2024; docs/methods.md §12.5)."""
    scored = [answer_ccp(alternatives) for alternatives in answers]
    per_sample = [value for value, _ in scored]
    return MeasureResult(float(np.mean(per_sample)), per_sample, [tokens for _, tokens in scored])


SATURATED_U = 0.95


def saturation_note(per_sample: Sequence[float], lengths: Sequence[int]) -> str | None:
    """One sentence when some answer's U = 1 − Π CCP_i is near 1: a product over many tokens saturates with length,
    so answer-level CCP stops telling long answers apart; claim-level CCP is the cure (docs/methods.md §12.5)."""
    saturated = [(k, u, n) for k, (u, n) in enumerate(zip(per_sample, lengths)) if u >= SATURATED_U]
    if not saturated:
        return None
    k, u, n = max(saturated, key=lambda item: item[2])
    return (f"{len(saturated)} of {len(per_sample)} answers have U ≥ {SATURATED_U} (S{k + 1}: {n} tokens, U = {u:.3f}). "
            "U multiplies every token's CCP, so over long answers it tends to 1 and no longer tells answers apart; "
            "CCP per claim (each sentence scored on its own tokens) is the cure.")


def _ccp(stats: RunStatistics) -> MeasureResult:
    return claim_conditioned_probability([TOKEN_ALTERNATIVES(stats, index) for index in range(len(stats.run.samples))])


MEASURES = (
    Measure(
        "claim_conditioned_probability", "Claim-conditioned probability (CCP)",
        _ccp,
        "U = (1/K) Σ_k (1 - Π_i CCP_i),  CCP_i = Σ_{alt keeps meaning} p / Σ_{alt keeps or contradicts} p",
        "the tokens' likely alternatives would change what the answer says",
        "Fadeeva et al. ACL 2024; docs/methods.md §12.5",
        cost="2 NLI pairs per top-k alternative of every answer token",
        needs=("logprobs", "top-k alternatives", "nli"),
        on_demand=True,
    ),
)
