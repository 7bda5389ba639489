"""Rényi divergence and Fisher-Rao distance of each next-token distribution from uniform (Darrin, Piantanida & Colombo 2023, RAINPROOF; docs/methods.md §12.13)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import MissingInputError, RunStatistics


@dataclass(frozen=True)
class DistanceDetail:
    """Per sample and answer token the distance of p̃_i from uniform, the confidence whose token mean U negates."""

    per_token: list[list[float]]


def mean_distance_from_uniform(sample_distances: Sequence[Sequence[float]]) -> MeasureResult:
    """U_k = −(1/n_k) Σ_i d_i, 0 for an empty answer; U = mean over answers (docs/methods.md §12.13)."""
    per_token = [[float(value) for value in row] for row in sample_distances]
    per_sample = [-float(np.mean(row)) if row else 0.0 for row in per_token]
    return MeasureResult(float(np.mean(per_sample)), per_sample, DistanceDetail(per_token))


def recorded_distances(stats: RunStatistics, distances: Callable[[RunStatistics], list[list[float]]]) -> list[list[float]]:
    """The run's stored per-token distances; the reason names a server's top-K run or a run sampled before they were kept."""
    try:
        return distances(stats)
    except MissingInputError:
        if stats.run.distribution is not None:
            raise MissingInputError(f"the server sent only its {stats.run.distribution} log-probabilities, not the full distributions") from None
        if any(sample.kl_from_uniform for sample in stats.run.samples):
            raise MissingInputError("the run was sampled before uqviz kept distances from uniform; sample it again") from None
        raise


SOURCE = "Darrin, Piantanida & Colombo 2023 (RAINPROOF); docs/methods.md §12.13"
MEASURES = (
    Measure(
        "renyi_divergence", "Rényi divergence from uniform",
        lambda stats: mean_distance_from_uniform(recorded_distances(stats, lambda s: s.token_renyi_from_uniform)),
        "U = −(1/K) Σ_k (1/n_k) Σ_i D_1/2(p̃_i ‖ Uniform_V),  p̃_i ∝ p_i^(1/2)",
        "the next-token distributions were closer to uniform (flatter) at the average step", SOURCE,
        needs=("token distributions",),
    ),
    Measure(
        "fisher_rao_distance", "Fisher-Rao distance from uniform",
        lambda stats: mean_distance_from_uniform(recorded_distances(stats, lambda s: s.token_fisher_rao_from_uniform)),
        "U = −(1/K) Σ_k (1/n_k) Σ_i (2/π)·arccos Σ_v √(p̃_i(v)/V),  p̃_i ∝ p_i^(1/2)",
        "the next-token distributions were closer to uniform (flatter) at the average step", SOURCE,
        needs=("token distributions",),
    ),
)
