"""Bayesian semantic entropy and its stopping rule (Ciosek, Felicioni & Ghiassian 2025; docs/methods.md §12.14).

The class probabilities get a Dirichlet posterior over M meaning classes (the k observed ones and M − k unseen ones),
truncated below by the observed answers' sequence probabilities; M itself has a prior restricted to M ≥ k. U is the
posterior mean of the entropy, estimated by self-normalised importance sampling with a fixed seed, as the authors'
notebook (github.com/spotify-research/bayesian-semantic-entropy, `estimation_final.ipynb`) does.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from uqviz.measures.base import Measure, MeasureResult
from uqviz.measures.logprob import sequence_loglik
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.clustering import ANSWER_CLUSTERING

DIRICHLET_PRIOR = 0.5  # the notebook's "SE-Bayes" setting (dirichlet_prior=0.5)
MAX_CLASSES = 7  # the notebook's truncate_no_semantic_classes
UNIFORM_SUPPORT = (1.0 / MAX_CLASSES,) * MAX_CLASSES  # P(M) for M = 1 … 7 classes; the authors fit this on 200 training prompts instead
DRAWS = 1000  # the notebook's num_mc_samples
BOUND_SLACK = 1e-2  # lower bounds summing past 1 − slack are scaled down to it, as in the notebook
ENTROPY_FLOOR = 1e-6  # probabilities at or below it add nothing to the entropy, as in the notebook
DEFAULT_MAX_VARIANCE = 0.01  # uqviz's default stopping tolerance (posterior sd 0.1 nat); the paper sweeps it
CREDIBLE_MASS = 0.95


@dataclass(frozen=True)
class BayesianEntropyDetail:
    """Per class (class-id order) its count and probability lower bound; P(M | data); the posterior sd and interval."""

    cluster_ids: list[int]
    class_counts: list[int]
    class_lower_bounds: list[float]
    support: list[tuple[int, float]]
    posterior_sd: float
    interval: tuple[float, float]
    draws: int
    seed: int


def class_lower_bounds(cluster_ids: Sequence[int], sequence_logprobs: Sequence[float],
                       texts: Sequence[str] | None = None) -> tuple[list[int], list[int], list[float]]:
    """Classes in id order, their counts, and Σ exp LL over each class's distinct answers (by text, else by class and LL)."""
    classes = sorted(set(cluster_ids))
    keys: list[Hashable] = list(texts) if texts is not None else list(zip(cluster_ids, sequence_logprobs, strict=True))
    distinct = {key: (class_id, loglik) for key, class_id, loglik in zip(keys, cluster_ids, sequence_logprobs, strict=True)}
    bounds = {class_id: 0.0 for class_id in classes}
    for class_id, loglik in distinct.values():
        bounds[class_id] += float(np.exp(loglik))
    counts = [list(cluster_ids).count(class_id) for class_id in classes]
    return classes, counts, [min(bounds[class_id], 1.0) for class_id in classes]


def support_posterior(observed: int, support_prior: Sequence[float] = UNIFORM_SUPPORT) -> list[tuple[int, float]]:
    """P(M | M ≥ k) from the prior over M = 1, 2, …; M = k when the prior has no mass left there (the notebook's rule)."""
    mass = np.asarray(support_prior, dtype=float)[observed - 1:]
    if mass.sum() <= 0:
        return [(observed, 1.0)]
    return [(observed + offset, float(p / mass.sum())) for offset, p in enumerate(mass) if p > 0]


def _entropy(probabilities: np.ndarray) -> np.ndarray:
    kept = probabilities > ENTROPY_FLOOR
    return -np.sum(np.where(kept, probabilities * np.log(np.where(kept, probabilities, 1.0)), 0.0), axis=-1)


def _log_dirichlet(points: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    log_points = np.log(np.maximum(points, np.finfo(float).tiny))
    return log_points @ (alpha - 1.0) - (np.sum(gammaln(alpha)) - gammaln(np.sum(alpha)))


def truncated_dirichlet_entropies(alpha: np.ndarray, bounds: np.ndarray, draws: int,
                                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Entropies of draws x = b + (1 − Σb)·y and their self-normalised weights for Dir(α) truncated to x ≥ b."""
    room = 1.0 - bounds.sum()
    uniform = draws // 2
    y = np.concatenate([rng.dirichlet(np.ones_like(alpha), size=uniform), rng.dirichlet(alpha, size=draws - uniform)])
    x = bounds + room * y
    # defensive mixture proposal: half uniform on the truncated simplex (the notebook's), half the shifted posterior
    log_weight = _log_dirichlet(x, alpha) - np.logaddexp(gammaln(len(alpha)), _log_dirichlet(y, alpha))
    weight = np.exp(log_weight - log_weight.max())
    return _entropy(x), weight / weight.sum()


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, quantile: float) -> float:
    order = np.argsort(values)
    position = np.searchsorted(np.cumsum(weights[order]), quantile)
    return float(values[order][min(position, len(values) - 1)])


def bayesian_semantic_entropy(
    cluster_ids: Sequence[int],
    sequence_logprobs: Sequence[float],
    texts: Sequence[str] | None = None,
    *,
    prior: float = DIRICHLET_PRIOR,
    support_prior: Sequence[float] = UNIFORM_SUPPORT,
    draws: int = DRAWS,
    seed: int = 0,
) -> MeasureResult:
    """U = E[H(p) | answers], p ~ Dir(prior + counts) over M classes truncated to p_c ≥ Σ exp LL (docs/methods.md §12.14)."""
    if len(cluster_ids) == 0:
        raise ValueError("Bayesian semantic entropy needs at least one answer")
    classes, counts, bounds = class_lower_bounds(cluster_ids, sequence_logprobs, texts)
    lower = np.asarray(bounds)
    if lower.sum() >= 1.0 - BOUND_SLACK:
        lower = lower * (1.0 - BOUND_SLACK) / lower.sum()
    # a canonical class order (count, then bound, descending), so that relabelling or reordering answers changes nothing
    order = np.lexsort((-lower, -np.asarray(counts)))
    rng = np.random.default_rng(seed)
    support = support_posterior(len(classes), support_prior)
    entropies, weights = [], []
    for size, probability in support:
        alpha = np.full(size, prior)
        alpha[: len(classes)] += np.asarray(counts)[order]
        floor = np.zeros(size)
        floor[: len(classes)] = lower[order]
        values, own = truncated_dirichlet_entropies(alpha, floor, draws, rng)
        entropies.append(values)
        weights.append(probability * own)
    values, weight = np.concatenate(entropies), np.concatenate(weights)
    mean = max(0.0, float(np.sum(weight * values)))  # floored, so that one sure class reads 0, not 1e-17
    sd = float(np.sqrt(np.sum(weight * (values - mean) ** 2)))
    tail = (1.0 - CREDIBLE_MASS) / 2
    interval = (max(0.0, _weighted_quantile(values, weight, tail)), max(0.0, _weighted_quantile(values, weight, 1.0 - tail)))
    detail = BayesianEntropyDetail(list(cluster_ids), counts, bounds, support, sd, interval, draws, seed)
    return MeasureResult(mean, None, detail)


def enough_samples(
    cluster_ids: Sequence[int],
    sequence_logprobs: Sequence[float],
    texts: Sequence[str] | None = None,
    *,
    max_variance: float = DEFAULT_MAX_VARIANCE,
    prior: float = DIRICHLET_PRIOR,
    support_prior: Sequence[float] = UNIFORM_SUPPORT,
    draws: int = DRAWS,
    seed: int = 0,
) -> bool:
    """Stop sampling once Var[H | answers] ≤ max_variance, the paper's adaptive rule (docs/methods.md §12.14)."""
    result = bayesian_semantic_entropy(cluster_ids, sequence_logprobs, texts, prior=prior, support_prior=support_prior,
                                       draws=draws, seed=seed)
    return settled(result.detail.posterior_sd, max_variance)


def settled(posterior_sd: float, max_variance: float = DEFAULT_MAX_VARIANCE) -> bool:
    """Var[H | answers] ≤ max_variance: the paper's rule for drawing no more answers (docs/methods.md §12.14)."""
    return posterior_sd ** 2 <= max_variance


def from_statistics(stats: RunStatistics) -> MeasureResult:
    """Bayesian semantic entropy of a run's answers, classed by the run's clustering rule (docs/methods.md §12.14)."""
    return bayesian_semantic_entropy(ANSWER_CLUSTERING(stats).ids, [sequence_loglik(lp) for lp in stats.logprobs], stats.answers)


MEASURES = (
    Measure(
        "bayesian_semantic_entropy", "Bayesian semantic entropy",
        from_statistics,
        "U = E[−Σ_c p_c log p_c],  p ~ Dir(0.5 + n_c) over M ≥ |C| classes, p_c ≥ Σ_{distinct s ∈ c} exp LL(s)",
        "the posterior over meaning-class probabilities expects them spread over more meanings",
        "Ciosek, Felicioni & Ghiassian 2025; docs/methods.md §12.14",
        needs=("logprobs", "clusters"),
    ),
)
