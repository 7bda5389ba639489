"""Mean and maximum token entropy of the answers' next-token distributions (Fomicheva et al. 2020; docs/methods.md §12.1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from uqviz.measures.base import Measure, MeasureResult


def _per_answer(sample_entropies: Sequence[Sequence[float]], reduce: Callable[[np.ndarray], float]) -> MeasureResult:
    per_sample = [float(reduce(np.asarray(entropies, dtype=np.float64))) if len(entropies) else 0.0 for entropies in sample_entropies]
    return MeasureResult(float(np.mean(per_sample)), per_sample)


def mean_token_entropy(sample_entropies: Sequence[Sequence[float]]) -> MeasureResult:
    """U_k = (1/n) Σ_i H(p_i) per answer, averaged over answers; an empty answer has 0 (Fomicheva et al. 2020; docs/methods.md §12.1)."""
    return _per_answer(sample_entropies, np.mean)


def max_token_entropy(sample_entropies: Sequence[Sequence[float]]) -> MeasureResult:
    """U_k = max_i H(p_i) per answer, averaged over answers: the one most hesitant step (docs/methods.md §12.1)."""
    return _per_answer(sample_entropies, np.max)


MEASURES = (
    Measure(
        "mean_token_entropy", "Mean token entropy",
        lambda stats: mean_token_entropy(stats.token_entropies),
        "U = (1/K) Σ_k (1/n_k) Σ_i H(p(· | z_<i, x))",
        "the model hesitated between more tokens at an average step",
        "Fomicheva et al. 2020; docs/methods.md §12.1",
        needs=("token entropies",),
    ),
    Measure(
        "max_token_entropy", "Maximum token entropy",
        lambda stats: max_token_entropy(stats.token_entropies),
        "U = (1/K) Σ_k max_i H(p(· | z_<i, x))",
        "the most hesitant step of the answers was more hesitant",
        "docs/methods.md §12.1",
        needs=("token entropies",),
    ),
)
