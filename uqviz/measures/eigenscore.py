"""EigenScore: the log-determinant of the regularised covariance of the answers' hidden states (Chen et al. ICLR 2024; docs/methods.md §2.4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.probing import ANSWER_HIDDEN_STATES

EIGENVALUE_FLOOR = 1e-10


@dataclass(frozen=True)
class EigenScoreDetail:
    """The K × K covariance Σ = Z J_d Zᵀ, the eigenvalues of Σ + αI (ascending), α, and where Z came from (layer, position)."""

    covariance: np.ndarray
    eigenvalues: list[float]
    alpha: float
    dimensions: int
    layer: int | None = None
    position: str | None = None


def eigenscore(states: np.ndarray, alpha: float = 1e-3, layer: int | None = None, position: str | None = None) -> MeasureResult:
    """(1/K) Σ_i log λ_i(Z J_d Zᵀ + αI), each embedding centred over its own d features, λ ≤ 0 floored at 1e-10
    (Chen et al. ICLR 2024, INSIDE; docs/methods.md §2.4)."""
    states = np.asarray(states, dtype=np.float64)
    if len(states) < 2:
        return MeasureResult(None, None, reason="EigenScore needs at least two answers to measure their spread")
    if not np.isfinite(states).all():
        return MeasureResult(None, None, reason="the hidden states hold inf or NaN (the model overflowed), so no covariance exists")
    centred = states - states.mean(axis=1, keepdims=True)  # Z J_d without the d × d matrix J_d
    covariance = centred @ centred.T
    eigenvalues = np.linalg.eigvalsh(covariance + alpha * np.eye(len(states)))
    value = float(np.mean(np.log(np.where(eigenvalues > 0, eigenvalues, EIGENVALUE_FLOOR))))
    return MeasureResult(value, None, EigenScoreDetail(covariance, eigenvalues.tolist(), alpha, states.shape[1], layer, position))


def _eigenscore(stats) -> MeasureResult:
    hidden = ANSWER_HIDDEN_STATES(stats)
    return eigenscore(hidden.states, stats.config.eigenscore_alpha, hidden.layer, hidden.position)


MEASURES = (
    Measure(
        "eigenscore", "EigenScore (INSIDE)",
        _eigenscore,
        "U = (1/K) log det(Z J_d Zᵀ + αI),  Z = the answers' middle-layer states at the step producing each last token, α = 1e-3",
        "the answers' internal states are spread over more directions",
        "Chen et al. ICLR 2024; docs/methods.md §2.4",
        cost="one batched forward pass of prompt + answers, stopped at the middle layer",
        needs=("language model", "hidden states"),
    ),
)
