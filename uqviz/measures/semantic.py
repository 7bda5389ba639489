"""Semantic entropy and its relatives over meaning classes (Kuhn et al. 2023; Farquhar et al. 2024; docs/methods.md §2.2, §3).

Three estimators of §3.3 are registered. `semantic_entropy` is the default: the Nature 2024 code's estimator (b),
a plug-in entropy over class probabilities renormalised over the K samples from length-normalised likelihoods,
so it lies in [0, log |C|] and can be read next to the discrete estimator. `semantic_entropy_kuhn2023` is (a) and
`semantic_entropy_lm_polygraph` is (d) with its default "mean" estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from scipy.stats import entropy

from uqviz.measures.base import Measure, MeasureResult
from uqviz.measures.logprob import mean_loglik, sequence_loglik
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.clustering import ANSWER_CLUSTERING


@dataclass(frozen=True)
class SemanticEntropyDetail:
    """The class of every sample, and per class its log-probability under the estimator and its frequency |c|/K."""

    cluster_ids: list[int]
    class_log_probability: list[float]
    class_frequency: list[float]
    estimator: str


def _class_logsumexp(ids: Sequence[int], values: np.ndarray) -> np.ndarray:
    return np.array([logsumexp(values[np.asarray(ids) == class_id]) for class_id in range(max(ids) + 1)])


def _frequencies(ids: Sequence[int]) -> np.ndarray:
    return np.bincount(np.asarray(ids)) / len(ids)


def _plugin_entropy(log_probability: np.ndarray) -> float:
    """-Σ p log p of a class distribution (scipy.stats.entropy), floored at 0 so that one class reads 0, not -1e-17."""
    return max(0.0, float(entropy(np.exp(log_probability))))


def semantic_entropy_nature(ids: Sequence[int], sample_logprobs: Sequence[Sequence[float]]) -> MeasureResult:
    """SE = -Σ_c p(c) log p(c), p(c) from LN(s_k) renormalised over samples (Farquhar et al. 2024 code; docs/methods.md §3.3b)."""
    normalised = np.array([mean_loglik(lp) for lp in sample_logprobs])
    log_probability = _class_logsumexp(ids, normalised - logsumexp(normalised))
    detail = SemanticEntropyDetail(list(ids), log_probability.tolist(), _frequencies(ids).tolist(), "nature2024")
    return MeasureResult(_plugin_entropy(log_probability), None, detail)


def semantic_entropy_kuhn(
    ids: Sequence[int], sample_logprobs: Sequence[Sequence[float]], length_normalised: bool = True
) -> MeasureResult:
    """SE = -(1/|C|) Σ_c logsumexp_{k∈c} LN(s_k), no renormalisation, llh shift dropped (Kuhn et al. 2023 code; docs/methods.md §3.3a)."""
    loglik = np.array([(mean_loglik if length_normalised else sequence_loglik)(lp) for lp in sample_logprobs])
    log_probability = _class_logsumexp(ids, loglik)
    detail = SemanticEntropyDetail(list(ids), log_probability.tolist(), _frequencies(ids).tolist(), "kuhn2023")
    return MeasureResult(float(-np.mean(log_probability)), None, detail)


def semantic_entropy_polygraph(
    ids: Sequence[int], sample_logprobs: Sequence[Sequence[float]], estimator: str = "mean"
) -> MeasureResult:
    """SE = -(1/K) Σ_k class_lp(c_k), class_lp = logsumexp of LL over the class ("mean"), or the "direct" form (lm-polygraph; docs/methods.md §3.3d)."""
    log_probability = _class_logsumexp(ids, np.array([sequence_loglik(lp) for lp in sample_logprobs]))
    per_sample_log = log_probability[np.asarray(ids)]
    if estimator == "mean":
        per_sample = (-per_sample_log).tolist()
        value = float(np.mean(per_sample))
    elif estimator == "direct":
        per_sample = None
        value = float(-np.sum(per_sample_log * np.exp(per_sample_log)))
    else:
        raise ValueError(f"unknown lm-polygraph estimator {estimator!r}; expected 'mean' or 'direct'")
    detail = SemanticEntropyDetail(list(ids), log_probability.tolist(), _frequencies(ids).tolist(), f"lm-polygraph {estimator}")
    return MeasureResult(value, per_sample, detail)


def discrete_semantic_entropy(ids: Sequence[int]) -> MeasureResult:
    """SE_D = -Σ_c (|c|/K) log(|c|/K), black-box (Farquhar et al. 2024 code; docs/methods.md §3.3c)."""
    frequency = _frequencies(ids)
    detail = SemanticEntropyDetail(list(ids), np.log(frequency).tolist(), frequency.tolist(), "discrete")
    return MeasureResult(_plugin_entropy(np.log(frequency)), None, detail)


def num_semantic_sets(ids: Sequence[int]) -> MeasureResult:
    """U = number of meaning classes (Lin et al. 2024, NumSet; docs/methods.md §2.2)."""
    frequency = _frequencies(ids)
    detail = SemanticEntropyDetail(list(ids), np.log(frequency).tolist(), frequency.tolist(), "count")
    return MeasureResult(float(len(frequency)), None, detail)


def _ids(stats: RunStatistics) -> list[int]:
    return ANSWER_CLUSTERING(stats).ids


MEASURES = (
    Measure(
        "semantic_entropy", "Semantic entropy (probability-weighted, Nature 2024)",
        lambda stats: semantic_entropy_nature(_ids(stats), stats.logprobs),
        "SE = -Σ_c p(c) log p(c),  p(c) = Σ_{k∈c} exp LN(s_k) / Σ_k exp LN(s_k)",
        "the likelihood mass of the answers is spread over more meanings",
        "Farquhar et al. 2024; docs/methods.md §3.3b",
        needs=("logprobs", "clusters"),
    ),
    Measure(
        "semantic_entropy_kuhn2023", "Semantic entropy (Kuhn et al. 2023 code)",
        lambda stats: semantic_entropy_kuhn(_ids(stats), stats.logprobs),
        "SE = -(1/|C|) Σ_c log Σ_{k∈c} exp LN(s_k)",
        "the meaning classes are less likely on average (more classes of unlikely answers)",
        "Kuhn, Gal, Farquhar 2023; docs/methods.md §3.3a",
        needs=("logprobs", "clusters"),
    ),
    Measure(
        "semantic_entropy_lm_polygraph", "Semantic entropy (lm-polygraph mean)",
        lambda stats: semantic_entropy_polygraph(_ids(stats), stats.logprobs),
        "SE = -(1/K) Σ_k log Σ_{j∈c_k} exp LL(s_j)",
        "the samples' meaning classes are less likely on average",
        "lm-polygraph SemanticEntropy; docs/methods.md §3.3d",
        needs=("logprobs", "clusters"),
    ),
    Measure(
        "discrete_semantic_entropy", "Discrete semantic entropy",
        lambda stats: discrete_semantic_entropy(_ids(stats)),
        "SE_D = -Σ_c (|c|/K) log(|c|/K)",
        "the answers are spread over more meanings, counted by frequency",
        "Farquhar et al. 2024; docs/methods.md §3.3c",
        needs=("clusters",),
    ),
    Measure(
        "num_semantic_sets", "Number of semantic sets",
        lambda stats: num_semantic_sets(_ids(stats)),
        "U = |C|",
        "the answers fall into more meaning classes",
        "Lin, Trivedi, Sun 2024; docs/methods.md §2.2",
        needs=("clusters",),
    ),
)
