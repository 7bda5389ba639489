"""Graph measures over an affinity matrix of the answers: degree, Laplacian eigenvalues, eccentricity (Lin, Trivedi, Sun 2024; docs/methods.md §2.3).

The affinity follows the cluster rule: with an NLI rule it is Lin's entailment affinity E, otherwise W = max(0, cosine)
of the answer embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.affinity import ANSWER_AFFINITY
from uqviz.statistics.base import RunStatistics


def laplacian_spectrum(affinity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues and eigenvectors (columns) of L = I - D^{-1/2} W D^{-1/2}."""
    # Not scipy.sparse.csgraph.laplacian: it drops the self-loops W_ii = 1 that Lin et al.'s degrees include.
    affinity = np.asarray(affinity, dtype=np.float64)
    inverse_root = 1.0 / np.sqrt(np.maximum(affinity.sum(axis=1), np.finfo(float).tiny))
    laplacian = np.eye(len(affinity)) - inverse_root[:, None] * affinity * inverse_root[None, :]
    return np.linalg.eigh(laplacian)


@dataclass(frozen=True)
class GraphDetail:
    """The affinity W, the Laplacian spectrum, and the per-sample confidence the method defines (C_Deg or C_Ecc)."""

    affinity: np.ndarray
    affinity_name: str
    eigenvalues: list[float]
    confidence: list[float] | None = None
    kept_eigenvectors: int | None = None


def degree(affinity: np.ndarray, affinity_name: str = "") -> MeasureResult:
    """U_Deg = trace(mI - D)/m², C_Deg(s_j) = D_jj/m, per-sample U = 1 - C_Deg (Lin et al. 2024; docs/methods.md §2.3)."""
    affinity = np.asarray(affinity, dtype=np.float64)
    count = len(affinity)
    confidence = affinity.sum(axis=1) / count
    eigenvalues = laplacian_spectrum(affinity)[0]
    detail = GraphDetail(affinity, affinity_name, eigenvalues.tolist(), confidence.tolist())
    return MeasureResult(float(np.mean(1.0 - confidence)), (1.0 - confidence).tolist(), detail)


def eig_val_laplacian(affinity: np.ndarray, affinity_name: str = "") -> MeasureResult:
    """U_EigV = Σ_k max(0, 1 - λ_k(L)) (Lin et al. 2024, spectral_eigv_clip; docs/methods.md §2.3)."""
    eigenvalues = laplacian_spectrum(affinity)[0]
    value = float(np.sum(np.maximum(0.0, 1.0 - eigenvalues)))
    return MeasureResult(value, None, GraphDetail(np.asarray(affinity), affinity_name, eigenvalues.tolist()))


def eccentricity(affinity: np.ndarray, threshold: float = 0.9, affinity_name: str = "") -> MeasureResult:
    """U_Ecc = ‖(‖v_j - v̄‖)_j‖₂ over eigenvectors of L with λ < threshold; C_Ecc = -‖v_j - v̄‖ (Lin et al. 2024; docs/methods.md §2.3)."""
    eigenvalues, eigenvectors = laplacian_spectrum(affinity)
    points = eigenvectors[:, eigenvalues < threshold]
    deviations = np.linalg.norm(points - points.mean(axis=0, keepdims=True), axis=1)
    detail = GraphDetail(np.asarray(affinity), affinity_name, eigenvalues.tolist(), (-deviations).tolist(), points.shape[1])
    return MeasureResult(float(np.linalg.norm(deviations)), deviations.tolist(), detail)


def _on_answer_affinity(stats: RunStatistics, measure: Callable[..., MeasureResult], **settings: float) -> MeasureResult:
    affinity = ANSWER_AFFINITY(stats)
    return measure(affinity.matrix, affinity_name=affinity.name, **settings)


MEASURES = (
    Measure(
        "degree", "Degree (Deg)",
        lambda stats: _on_answer_affinity(stats, degree),
        "U = trace(m·I - D) / m²,  D_jj = Σ_i W_ij",
        "the answers agree less with each other on average",
        "Lin, Trivedi, Sun 2024; docs/methods.md §2.3",
        needs=("affinity",),
    ),
    Measure(
        "eig_val_laplacian", "Sum of Laplacian eigenvalues (EigV)",
        lambda stats: _on_answer_affinity(stats, eig_val_laplacian),
        "U = Σ_k max(0, 1 - λ_k),  L = I - D^{-1/2} W D^{-1/2}",
        "the similarity graph falls apart into more loosely connected groups",
        "Lin, Trivedi, Sun 2024; docs/methods.md §2.3",
        needs=("affinity",),
    ),
    Measure(
        "eccentricity", "Eccentricity (Ecc)",
        lambda stats: _on_answer_affinity(stats, eccentricity, threshold=stats.config.eccentricity_threshold),
        "U = ‖(‖v_1 - v̄‖, …, ‖v_m - v̄‖)‖₂,  v_j = rows of the eigenvectors with λ < threshold",
        "the answers lie further from their centre in the spectral embedding",
        "Lin, Trivedi, Sun 2024; docs/methods.md §2.3",
        needs=("affinity",),
    ),
)
