"""Bayesian semantic entropy and its stopping rule: hand-derived bounds and closed forms (docs/methods.md §12.14), properties, a real run."""

import math

import numpy as np
import pytest
from scipy.special import digamma

from uqviz.measures.bayesian_entropy import (
    DEFAULT_MAX_VARIANCE,
    bayesian_semantic_entropy,
    class_lower_bounds,
    enough_samples,
    support_posterior,
)
from uqviz.measures.logprob import sequence_loglik
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.clustering import answer_clustering

UNLIKELY = -60.0  # exp(−60) ≈ 1e-26: the lower bounds vanish and the posterior is a plain Dirichlet
THREE = [0] * 5 + [1] * 3 + [2] * 2
DISTINCT = [f"answer {index}" for index in range(10)]


def entropy(probabilities):
    p = np.asarray(probabilities, dtype=float)
    return float(-np.sum(p * np.log(p)))


def test_one_likely_class_gives_a_small_entropy_within_the_hand_bound():
    # p_1 ≥ 0.95 over at most 7 classes, so H ≤ −0.95 log 0.95 − 0.05 log(0.05/6) = 0.288 whatever the posterior
    bound = -0.95 * math.log(0.95) - 0.05 * math.log(0.05 / 6)
    sure = bayesian_semantic_entropy([0] * 10, [math.log(0.95)] * 10, ["Paris"] * 10)
    assert sure.value < bound and sure.detail.interval[1] <= bound
    assert sure.detail.posterior_sd < 0.1
    assert sure.detail.class_lower_bounds == pytest.approx([0.95])
    unsure = bayesian_semantic_entropy([0] * 10, [UNLIKELY] * 10, ["Paris"] * 10)
    assert unsure.value > sure.value and unsure.detail.posterior_sd > sure.detail.posterior_sd


def test_a_single_possible_class_reads_zero():
    result = bayesian_semantic_entropy([0, 0, 0], [UNLIKELY] * 3, support_prior=[1.0])
    assert result.value == pytest.approx(0.0, abs=1e-12) and result.detail.posterior_sd == pytest.approx(0.0, abs=1e-12)
    assert result.detail.support == [(1, 1.0)]


def test_without_bounds_the_mean_is_the_dirichlet_closed_form():
    # E[H] under Dir(α) = ψ(A + 1) − Σ_i (α_i / A) ψ(α_i + 1); α = 0.5 + (5, 3, 2), A = 11.5: 0.965200
    alpha = np.array([5.5, 3.5, 2.5])
    closed = digamma(alpha.sum() + 1) - np.sum(alpha / alpha.sum() * digamma(alpha + 1))
    assert closed == pytest.approx(0.965200, abs=1e-6)
    result = bayesian_semantic_entropy(THREE, [UNLIKELY] * 10, DISTINCT, support_prior=[0, 0, 1])
    assert result.value == pytest.approx(closed, abs=0.01)
    direct = np.random.default_rng(1).dirichlet(alpha, size=200_000)
    assert result.detail.posterior_sd == pytest.approx(np.std(-np.sum(direct * np.log(direct), axis=1)), abs=0.01)


def test_without_bounds_the_mixture_over_the_number_of_classes_is_the_closed_form():
    # one class seen 10 times, K uniform on 1 … 7: E[H] = (1/7) Σ_K [ψ(A + 1) − Σ_i (α_i / A) ψ(α_i + 1)], α = (10.5, 0.5, …)
    expected = 0.0
    for size in range(1, 8):
        alpha = np.array([10.5] + [0.5] * (size - 1))
        expected += (digamma(alpha.sum() + 1) - np.sum(alpha / alpha.sum() * digamma(alpha + 1))) / 7
    assert expected == pytest.approx(0.405234, abs=1e-6)
    assert bayesian_semantic_entropy([0] * 10, [UNLIKELY] * 10, ["Paris"] * 10).value == pytest.approx(expected, abs=0.005)


def test_lower_bounds_confine_the_posterior():
    # K = 2, p_1 ≥ 0.6 and p_2 ≥ 0.3, so p_1 ∈ [0.6, 0.7] and H ∈ [H(0.7, 0.3), H(0.6, 0.4)] = [0.6109, 0.6730]
    low, high = entropy([0.7, 0.3]), entropy([0.6, 0.4])
    result = bayesian_semantic_entropy([0, 1], [math.log(0.6), math.log(0.3)], support_prior=[0, 1])
    assert low <= result.detail.interval[0] <= result.value <= result.detail.interval[1] <= high
    assert result.detail.posterior_sd < (high - low) / 2


def test_the_mean_converges_to_the_plug_in_entropy_as_counts_grow():
    plug_in = entropy([0.5, 0.3, 0.2])
    sds = []
    for scale in (1, 10, 100, 1000):
        ids = [0] * 5 * scale + [1] * 3 * scale + [2] * 2 * scale
        result = bayesian_semantic_entropy(ids, [UNLIKELY] * len(ids), [str(i) for i in range(len(ids))], support_prior=[0, 0, 1])
        sds.append(result.detail.posterior_sd)
    assert result.value == pytest.approx(plug_in, abs=0.002)
    assert sds == sorted(sds, reverse=True) and sds[-1] < 0.01


def test_the_support_prior_is_restricted_to_at_least_the_observed_classes():
    sizes, probabilities = zip(*support_posterior(3))
    assert sizes == (3, 4, 5, 6, 7) and probabilities == pytest.approx([0.2] * 5)
    sizes, probabilities = zip(*support_posterior(2, [0.5, 0.25, 0.0, 0.25]))
    assert sizes == (2, 4) and probabilities == pytest.approx([0.5, 0.5])
    assert support_posterior(8) == [(8, 1.0)]
    assert support_posterior(3, [0.5, 0.5, 0.0]) == [(3, 1.0)]


def test_a_distinct_answer_counts_once_in_its_class_bound():
    log_point_four = math.log(0.4)
    assert class_lower_bounds([0, 0], [log_point_four] * 2, ["Paris", "Paris"])[2] == pytest.approx([0.4])
    assert class_lower_bounds([0, 0], [log_point_four] * 2)[2] == pytest.approx([0.4])  # same class and LL: one answer
    assert class_lower_bounds([0, 0, 1], [log_point_four] * 3, ["Paris", "paris", "Rome"]) == ([0, 1], [2, 1], pytest.approx([0.8, 0.4]))


def test_the_stopping_rule():
    sure = ([0] * 10, [math.log(0.95)] * 10, ["Paris"] * 10)
    spread = (list(range(10)), [UNLIKELY] * 10, DISTINCT)
    assert enough_samples(*sure) and not enough_samples(*spread)
    assert enough_samples(*spread, max_variance=10.0) and not enough_samples(*sure, max_variance=0.0)
    variance = bayesian_semantic_entropy(*spread).detail.posterior_sd ** 2
    assert variance > DEFAULT_MAX_VARIANCE
    assert enough_samples(*spread, max_variance=variance * 1.01) and not enough_samples(*spread, max_variance=variance * 0.99)


def test_a_fixed_seed_repeats_and_another_seed_moves_the_estimate():
    arguments = (THREE, [-2.0, -2.5, -3.0, -2.0, -9.0, -4.0, -1.5, -3.5, -6.0, -2.2], DISTINCT)
    first, again = bayesian_semantic_entropy(*arguments), bayesian_semantic_entropy(*arguments)
    assert first.value == again.value and first.detail == again.detail
    other = bayesian_semantic_entropy(*arguments, seed=1)
    assert other.value != first.value and other.value == pytest.approx(first.value, abs=0.05)


def test_reordering_the_answers_or_relabelling_the_classes_changes_nothing():
    ids = [0, 1, 0, 2, 1, 0, 3, 0]
    logprobs = [-1.0, -2.0, -1.5, -0.7, -2.2, -3.0, -4.0, -1.2]
    texts = [f"t{index}" for index in range(len(ids))]
    reference = bayesian_semantic_entropy(ids, logprobs, texts)
    order = np.random.default_rng(3).permutation(len(ids))
    relabel = {0: 7, 1: 3, 2: 11, 3: 0}
    shuffled = bayesian_semantic_entropy([relabel[ids[i]] for i in order], [logprobs[i] for i in order], [texts[i] for i in order])
    assert shuffled.value == reference.value
    assert shuffled.detail.posterior_sd == reference.detail.posterior_sd and shuffled.detail.interval == reference.detail.interval


def test_no_answers_is_an_error():
    with pytest.raises(ValueError, match="at least one answer"):
        bayesian_semantic_entropy([], [])


def test_registered_measure_on_a_real_run(france_run, embedder):
    stats = RunStatistics(france_run, embedder=embedder)
    result = REGISTRY["bayesian_semantic_entropy"].compute(stats)
    ids = answer_clustering(stats).ids
    expected = bayesian_semantic_entropy(ids, [sequence_loglik(sample.logprobs) for sample in france_run.samples],
                                         [sample.text for sample in france_run.samples])
    assert result.value == expected.value and result.detail.cluster_ids == ids
    assert 0.0 <= result.detail.interval[0] <= result.value <= result.detail.interval[1] <= math.log(max(7, max(ids) + 1))
    assert REGISTRY["bayesian_semantic_entropy"].needs == ("logprobs", "clusters")
