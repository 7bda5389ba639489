"""LUQ and the most uncertain claim: how little the other samples support an answer's sentences (Zhang et al. EMNLP
2024; docs/methods.md §13.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.claims import CLAIM_SUPPORT, Claim, ClaimSupport, contradicted, run_claims
from uqviz.statistics.base import RunStatistics

NLI_COST = "1 NLI pair per claim and other answer (about 450 for 10 answers of 5 sentences)"


@dataclass(frozen=True)
class ClaimScores:
    """Per claim (flat order): support = mean P(entailment) over the other answers, LUQ's score = mean of
    P(e) / (P(e) + P(c)), and how many other answers contradict it."""

    claims: list[Claim]
    support: list[float]
    luq_score: list[float]
    contradicting: list[int]


def claim_scores(claims: Sequence[Claim], support: ClaimSupport) -> ClaimScores:
    """Support, LUQ's normalised score and the contradiction count of every claim (§13.2)."""
    probabilities = support.probabilities
    with np.errstate(invalid="ignore"):
        entailment, contradiction = probabilities[..., 2], probabilities[..., 0]
        luq = np.nanmean(entailment / (entailment + contradiction), axis=1) if len(claims) else np.zeros(0)
        mean_entailment = np.nanmean(entailment, axis=1) if len(claims) else np.zeros(0)
    return ClaimScores(list(claims), mean_entailment.tolist(), luq.tolist(), contradicted(support).sum(axis=1).tolist())


def per_answer(scores: ClaimScores, answers: int, reduce) -> list[float]:
    """One U per answer from its claims' 1 − LUQ score; an answer without claims (empty) supports nothing: U = 1."""
    rows: list[list[float]] = [[] for _ in range(answers)]
    for claim, score in zip(scores.claims, scores.luq_score):
        rows[claim.sample].append(1.0 - score)
    return [float(reduce(row)) if row else 1.0 for row in rows]


def luq(claims: Sequence[Claim], support: ClaimSupport, answers: int) -> MeasureResult:
    """LUQ: U_k = 1 − mean over answer k's claims of the mean P(e)/(P(e)+P(c)) given each other answer; U = mean_k
    (Zhang et al. EMNLP 2024; docs/methods.md §13.3)."""
    scores = claim_scores(claims, support)
    per_sample = per_answer(scores, answers, np.mean)
    return MeasureResult(float(np.mean(per_sample)), per_sample, scores)


def max_claim_uncertainty(claims: Sequence[Claim], support: ClaimSupport, answers: int) -> MeasureResult:
    """U_k = the largest 1 − LUQ score among answer k's claims: its least supported sentence; U = mean_k (§13.3)."""
    scores = claim_scores(claims, support)
    per_sample = per_answer(scores, answers, np.max)
    return MeasureResult(float(np.mean(per_sample)), per_sample, scores)


def _scored(method):
    def compute(stats: RunStatistics) -> MeasureResult:
        return method(run_claims(stats).flat, CLAIM_SUPPORT(stats), len(stats.run.samples))
    return compute


MEASURES = (
    Measure(
        "luq", "LUQ (claim support)",
        _scored(luq),
        "U = (1/K) Σ_k (1 − mean_{claims c of k} mean_{j≠k} P(e|a_j,c) / (P(e|a_j,c) + P(c|a_j,c)))",
        "the other answers do not back the answers' sentences",
        "Zhang et al. EMNLP 2024; docs/methods.md §13.3",
        needs=("nli",), on_demand=True, cost=NLI_COST,
    ),
    Measure(
        "max_claim_uncertainty", "Least supported claim",
        _scored(max_claim_uncertainty),
        "U = (1/K) Σ_k max_{claims c of k} (1 − mean_{j≠k} P(e|a_j,c) / (P(e|a_j,c) + P(c|a_j,c)))",
        "some sentence of the answers is backed by few other answers",
        "Zhang et al. EMNLP 2024; docs/methods.md §13.3",
        needs=("nli",), on_demand=True, cost=NLI_COST,
    ),
)
