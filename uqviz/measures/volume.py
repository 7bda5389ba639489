"""Semantic volume: the log-determinant of the Gram matrix of unit embeddings, internal and external (docs/methods.md §6)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from uqviz.engine.projection import pca
from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import PERTURBATION_EMBEDDINGS, RunStatistics

# A vector whose norm after centring or PCA is below this fraction of the largest input norm is rounding
# noise around zero (for example identical answers after centring): it stays zero instead of being blown
# up to a unit vector with a random direction.
ZERO_NORM = 1e-6
SINGULAR_REASON = (
    "the Gram matrix is singular (identical or linearly dependent texts, or more texts than dimensions), "
    "so its log-determinant is -inf; set ε > 0"
)
NO_PERTURBATIONS_REASON = (
    "the run has no perturbations of the question; generate or paste them on the Semantic volume page"
)


@dataclass(frozen=True)
class VolumeDetail:
    """What the page draws: the Gram matrix, its eigenvalues and the volume of the first k vectors."""

    gram: np.ndarray
    eigenvalues: np.ndarray
    curve: list[float | None]
    epsilon: float
    dimensions: int


def unit_rows(vectors: np.ndarray, pca_dimensions: int | None = None, center: bool = False) -> np.ndarray:
    """Optional mean-centring, optional PCA to d' dimensions, then unit rows; near-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float64)
    scale = float(np.max(np.linalg.norm(vectors, axis=1), initial=0.0))
    if center:
        vectors = vectors - vectors.mean(axis=0, keepdims=True)
    if pca_dimensions is not None:
        vectors = pca(vectors, pca_dimensions).coordinates
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    nonzero = norms > ZERO_NORM * scale
    return np.where(nonzero, vectors / np.where(nonzero, norms, 1.0), 0.0)


def log_det(gram: np.ndarray, epsilon: float) -> float | None:
    """log det(G + εI) with slogdet; None where the matrix is singular (only possible with ε = 0)."""
    sign, value = np.linalg.slogdet(gram + epsilon * np.eye(gram.shape[0]))
    return float(value) if sign > 0 and math.isfinite(value) else None


def log_volume_bounds(count: int, epsilon: float) -> tuple[float | None, float]:
    """The range of log det(G + εI) over n unit vectors: all identical (G = 11ᵀ) to orthonormal (G = I).

    The eigenvalues of G are non-negative and sum to n, and Σ log(λ_i + ε) is concave, so the minimum sits
    at λ = (n, 0, …, 0) and the maximum at λ = (1, …, 1). The lower bound is -inf (None) for ε = 0, n > 1.
    """
    low = equicorrelated_log_det(count, 1.0, epsilon)
    return (low if math.isfinite(low) else None), equicorrelated_log_det(count, 0.0, epsilon)


def equicorrelated_log_det(count: int, cosine: float, epsilon: float) -> float:
    """log det(G + εI) for n unit vectors at the same cosine c to each other: eigenvalues 1+(n-1)c and 1-c (n-1 times)."""
    top = 1.0 + (count - 1) * cosine + epsilon
    rest = 1.0 - cosine + epsilon
    if count == 1:
        return math.log(top)
    if top <= 0 or rest <= 0:
        return -math.inf
    return math.log(top) + (count - 1) * math.log(rest)


def equivalent_cosine(value: float, count: int, epsilon: float) -> float | None:
    """The c in [0, 1] at which n unit vectors all at cosine c to each other have this log-volume.

    log det of that equicorrelated Gram falls monotonically from n·log(1+ε) at c = 0 to the identical
    bound at c = 1, so Brent's method finds c; values outside that range are clipped. None for one text.
    """
    if count < 2:
        return None
    if value >= equicorrelated_log_det(count, 0.0, epsilon):
        return 0.0
    if value <= equicorrelated_log_det(count, 1.0, epsilon):
        return 1.0
    # At ε = 0 the c = 1 end is -inf, so the bracket's upper end stops just short of it.
    return float(brentq(lambda cosine: equicorrelated_log_det(count, cosine, epsilon) - value, 0.0, 1.0 - 1e-12, xtol=1e-15))


def semantic_volume(
    vectors: np.ndarray, epsilon: float = 1e-3, pca_dimensions: int | None = None, center: bool = False
) -> MeasureResult:
    """SV = log det(ṼᵀṼ + εI) over unit embeddings, float64, symmetrised (Li et al. 2025; docs/methods.md §6)."""
    if not math.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"ε must be zero or positive, got {epsilon}")
    if pca_dimensions is not None and pca_dimensions < 1:
        raise ValueError(f"the PCA dimension must be at least 1, got {pca_dimensions}")
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.shape[0] == 0:
        return MeasureResult(None, reason="there are no texts to measure")
    unit = unit_rows(vectors, pca_dimensions, center)
    gram = unit @ unit.T
    gram = (gram + gram.T) / 2.0
    curve = [log_det(gram[:k, :k], epsilon) for k in range(1, gram.shape[0] + 1)]
    eigenvalues = np.clip(np.linalg.eigvalsh(gram)[::-1], 0.0, None)
    detail = VolumeDetail(gram, eigenvalues, curve, epsilon, unit.shape[1])
    value = curve[-1]
    return MeasureResult(value, None, detail, None if value is not None else SINGULAR_REASON)


def internal_volume(stats: RunStatistics) -> MeasureResult:
    """Semantic volume of the sampled answers (internal uncertainty)."""
    config = stats.config
    return semantic_volume(stats.answer_embeddings, config.volume_epsilon, config.volume_pca_dim, config.volume_center)


def external_volume(stats: RunStatistics) -> MeasureResult:
    """Semantic volume of the question's perturbations (external uncertainty); None when the run has none."""
    if not stats.run.perturbations:
        return MeasureResult(None, reason=NO_PERTURBATIONS_REASON)
    vectors = PERTURBATION_EMBEDDINGS(stats)
    config = stats.config
    return semantic_volume(vectors, config.volume_epsilon, config.volume_pca_dim, config.volume_center)


FORMULA = "SV = log det(ṼᵀṼ + εI), Ṽ = unit embeddings (optionally centred and PCA-reduced)"

MEASURES = (
    Measure(
        "semantic_volume", "Semantic volume (internal)",
        internal_volume,
        FORMULA + " of the K answers",
        "the answers point in more different directions of meaning space",
        "Li et al. 2025 (AAAI 2026); docs/methods.md §6",
        needs=("embeddings",),
    ),
    Measure(
        "semantic_volume_external", "Semantic volume (external)",
        external_volume,
        FORMULA + " of n rephrasings of the question",
        "the question can be read in more different ways (it is ambiguous)",
        "Li et al. 2025 (AAAI 2026); docs/methods.md §6",
        needs=("embeddings", "perturbations"),
    ),
)
