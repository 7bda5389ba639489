"""Kernel language entropy: the von Neumann entropy of a heat kernel on the answers' NLI graph (Nikitin et al. NeurIPS 2024; docs/methods.md §12.2)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from uqviz.measures.base import Measure, MeasureResult
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NLI_LABELS
from uqviz.statistics.affinity import ANSWER_NLI_PROBABILITIES

EIGENVALUE_CUTOFF = 1e-8
DIAGONAL_EPSILON = 1e-12


@dataclass(frozen=True)
class KernelEntropyDetail:
    """The NLI graph W, the unit-trace heat kernel, its eigenvalues (descending) and the time t."""

    weights: np.ndarray
    kernel: np.ndarray
    eigenvalues: list[float]
    time: float


def nli_graph(probabilities: np.ndarray) -> np.ndarray:
    """W = w·NLI summed over both directions with w = (entail 1, neutral ½, contradiction 0), so W_ij ∈ [0, 2] (§12.2)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    entail = probabilities[..., NLI_LABELS.index(ENTAILMENT)]
    contra = probabilities[..., NLI_LABELS.index(CONTRADICTION)]
    entail, contra = entail + entail.T, contra + contra.T
    return entail + 0.5 * (2.0 - entail - contra)


def heat_kernel(weights: np.ndarray, time: float) -> np.ndarray:
    """exp(-t L) with L = D - W, scaled to unit diagonal and then to unit trace (§12.2)."""
    weights = np.asarray(weights, dtype=np.float64)
    laplacian = np.diag(weights.sum(axis=0)) - weights
    kernel = expm(-time * laplacian)
    root = np.sqrt(np.diag(kernel)) + DIAGONAL_EPSILON
    return kernel / np.outer(root, root) / len(kernel)


def von_neumann_entropy(kernel: np.ndarray) -> tuple[float, np.ndarray]:
    """-Σ λ log λ over the eigenvalues of a symmetric unit-trace kernel with |λ| > 1e-8, and the eigenvalues (descending)."""
    eigenvalues = np.linalg.eigvalsh((kernel + kernel.T) / 2)[::-1]
    kept = eigenvalues[np.abs(eigenvalues) > EIGENVALUE_CUTOFF]
    with np.errstate(invalid="ignore"):
        return float(-np.sum(kept * np.log(kept))), eigenvalues


def kernel_language_entropy(weights: np.ndarray, time: float = 0.3) -> MeasureResult:
    """KLE = VNE(K_heat) / log K, K_heat the unit-trace heat kernel of the NLI graph at time t (Nikitin et al. NeurIPS 2024;
    docs/methods.md §12.2)."""
    count = len(weights)
    if count < 2:
        return MeasureResult(None, None, reason="kernel language entropy needs at least two answers")
    kernel = heat_kernel(weights, time)
    entropy, eigenvalues = von_neumann_entropy(kernel)
    detail = KernelEntropyDetail(np.asarray(weights, dtype=np.float64), kernel, eigenvalues.tolist(), time)
    return MeasureResult(entropy / math.log(count), None, detail)


MEASURES = (
    Measure(
        "kernel_language_entropy", "Kernel language entropy (KLE)",
        lambda stats: kernel_language_entropy(nli_graph(ANSWER_NLI_PROBABILITIES(stats)), stats.config.kle_time),
        "U = -Tr(K log K) / log K_answers,  K = exp(-t(D - W)) scaled to unit trace, W from NLI, t = 0.3",
        "the answers' meanings spread over more directions of the kernel",
        "Nikitin et al. NeurIPS 2024; docs/methods.md §12.2",
        cost="the answers' NLI matrix, shared with the clusters; one K × K matrix exponential",
        needs=("nli",),
    ),
)
