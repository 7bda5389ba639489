"""Rényi divergence and Fisher-Rao distance from uniform against docs/methods.md §12.13, properties and the real model."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from tests.conftest import make_run
from uqviz.engine.sampling import distances_from_uniform
from uqviz.format.run import Run
from uqviz.measures.distribution import mean_distance_from_uniform
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import MissingInputError, RunStatistics

NAMES = ("renyi_divergence", "fisher_rao_distance")


def direct(p, alpha: float = 0.5, temperature: float = 2.0) -> tuple[float, float]:
    """D_α(p̃ ‖ U) and (2/π)·arccos BC(p̃, U) of p̃ ∝ p^(1/T), written out from the definitions (LM-Polygraph's α, T)."""
    p = np.asarray(p, dtype=np.float64)
    tilted = p ** (1 / temperature)
    tilted /= tilted.sum()
    renyi = math.log(np.sum(tilted**alpha * (1 / p.size) ** (1 - alpha))) / (alpha - 1)
    fisher_rao = 2 / math.pi * math.acos(min(1.0, float(np.sum(np.sqrt(tilted / p.size)))))
    return renyi, fisher_rao


def distances(p) -> tuple[float, float]:
    renyi, fisher_rao = distances_from_uniform(torch.tensor(p, dtype=torch.float64))
    return float(renyi), float(fisher_rao)


def test_worked_examples_by_hand():
    """p = (0.7, 0.1, 0.1, 0.1): √p sums to 1.785343, p̃ = (0.468627, 0.177124 ×3), BC = ½(√0.468627 + 3√0.177124)
    = 0.973574, so D = −2 ln BC and FR = (2/π) arccos BC. p = (½, ½, 0, 0): p̃ = p, BC = 2·√(1/8) = 1/√2."""
    assert distances([0.7, 0.1, 0.1, 0.1]) == pytest.approx((0.053563, 0.146681), abs=1e-6)
    assert distances([0.5, 0.5, 0.0, 0.0]) == pytest.approx((math.log(2), 0.5), abs=1e-12)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_per_step_functions_match_the_direct_formula_row_by_row(dtype, tolerance):
    rng = np.random.default_rng(0)
    for size in (2, 4, 50, 5000):
        for concentration in (0.01, 1.0, 100.0):
            rows = rng.dirichlet(np.full(size, concentration), size=3)
            renyi, fisher_rao = distances_from_uniform(torch.tensor(rows, dtype=dtype))
            expected = np.array([direct(row) for row in rows])
            assert renyi.tolist() == pytest.approx(expected[:, 0].tolist(), abs=tolerance)
            assert fisher_rao.tolist() == pytest.approx(expected[:, 1].tolist(), abs=tolerance)


@pytest.mark.parametrize("size", [2, 4, 1000, 49152])
def test_uniform_is_zero_one_hot_is_the_maximum_and_the_two_are_one_coefficient(size):
    # arccos of a BC rounded just under 1 keeps about half the digits: 1e-7 in float64, 1e-3 in float32
    for dtype, tolerance in ((torch.float64, 1e-7), (torch.float32, 1e-3)):
        uniform = torch.full((size,), 1 / size, dtype=dtype)
        assert [float(value) for value in distances_from_uniform(uniform)] == pytest.approx([0.0, 0.0], abs=tolerance)
    one_hot = torch.zeros(size)
    one_hot[size // 2] = 1.0
    maximum = (math.log(size), 2 / math.pi * math.acos(size**-0.5))  # p̃ = p, BC = 1/√V
    assert [float(value) for value in distances_from_uniform(one_hot)] == pytest.approx(maximum, abs=1e-5)
    rows = torch.softmax(torch.randn(20, size, generator=torch.Generator().manual_seed(size)) * 3, dim=-1)
    renyi, fisher_rao = distances_from_uniform(rows)
    assert bool((renyi > 0).all() and (renyi < maximum[0]).all() and (fisher_rao > 0).all() and (fisher_rao < maximum[1]).all())
    # with α = ½, D = −2 ln BC and FR = (2/π) arccos BC: one coefficient, so each step ranks the same under both
    assert renyi.tolist() == pytest.approx((-2 * torch.log(torch.cos(math.pi / 2 * fisher_rao))).tolist(), abs=1e-4)


def test_measure_worked_example():
    """Answers: (p_a, uniform), ((½, ½, 0, 0), one-hot) over V = 4, and an empty one (docs/methods.md §12.13)."""
    renyi = [[0.053563, 0.0], [math.log(2), math.log(4)], []]
    result = mean_distance_from_uniform(renyi)
    assert result.per_sample == pytest.approx([-0.0267815, -1.039721, 0.0], abs=1e-6)
    assert result.value == pytest.approx(-0.355501, abs=1e-6)
    assert result.detail.per_token == renyi
    fisher_rao = mean_distance_from_uniform([[0.146681, 0.0], [0.5, 2 / 3], []])
    assert fisher_rao.per_sample == pytest.approx([-0.0733405, -0.583333, 0.0], abs=1e-6)
    assert fisher_rao.value == pytest.approx(-0.218891, abs=1e-6)


def with_distances(run: Run, renyi: list[list[float]], fisher_rao: list[list[float]]) -> Run:
    samples = [dataclasses.replace(sample, renyi_from_uniform=r, fisher_rao_from_uniform=f) for sample, r, f in zip(run.samples, renyi, fisher_rao)]
    return dataclasses.replace(run, samples=samples)


def test_registered_measures_read_the_stored_distances():
    run = with_distances(make_run(["a b", "c"]), [[0.2, 0.4], [1.0]], [[0.1, 0.3], [0.5]])
    stats = RunStatistics(run)
    renyi, fisher_rao = (REGISTRY[name].compute(stats) for name in NAMES)
    assert renyi.per_sample == pytest.approx([-0.3, -1.0]) and renyi.value == pytest.approx(-0.65)
    assert fisher_rao.per_sample == pytest.approx([-0.2, -0.5]) and fisher_rao.value == pytest.approx(-0.35)
    assert REGISTRY["renyi_divergence"].needs == ("token distributions",)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda run: run, "sampled before uqviz kept distances from uniform"),  # KL terms but no distances: an old run
        (lambda run: dataclasses.replace(run, distribution="top-20", samples=[
            dataclasses.replace(sample, kl_from_uniform=[]) for sample in run.samples]), "only its top-20 log-probabilities"),
        (lambda run: dataclasses.replace(run, samples=[
            dataclasses.replace(sample, entropies=[], kl_from_uniform=[]) for sample in run.samples]), "no next-token distributions"),
    ],
    ids=["old-local-run", "server-top-k", "pasted"],
)
def test_runs_without_the_full_distributions_get_a_reason(change, reason):
    run = change(with_distances(make_run(["a b", "c"]), [[], []], [[], []]))
    for name in NAMES:
        with pytest.raises(MissingInputError, match=reason):
            REGISTRY[name].compute(RunStatistics(run))
    scores = score_run(run, names=list(NAMES))
    assert all(scores.measures[name].result.value is None and reason in scores.measures[name].result.reason for name in NAMES)


def teacher_forced_logprobs(lm, prompt_ids: list[int], answer_ids: list[int]) -> torch.Tensor:
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logits = lm.model(ids).logits[0].float()
    return torch.log_softmax(logits[len(prompt_ids) - 1 : len(prompt_ids) - 1 + len(answer_ids)], dim=-1)


@pytest.mark.slow
def test_sampled_runs_carry_distances_equal_to_a_teacher_forced_recomputation(language_model, france_run):
    for sample_ in france_run.samples:
        assert len(sample_.renyi_from_uniform) == len(sample_.fisher_rao_from_uniform) == len(sample_.tokens) > 0
        full = teacher_forced_logprobs(language_model, france_run.prompt_token_ids, sample_.token_ids).double().exp().numpy()
        expected = np.array([direct(row) for row in full])
        assert sample_.renyi_from_uniform == pytest.approx(expected[:, 0].tolist(), abs=1e-4)
        assert sample_.fisher_rao_from_uniform == pytest.approx(expected[:, 1].tolist(), abs=1e-4)
    scores = score_run(france_run, names=list(NAMES))
    for name, field in zip(NAMES, ("renyi_from_uniform", "fisher_rao_from_uniform")):
        means = [-float(np.mean(getattr(sample_, field))) for sample_ in france_run.samples]
        assert scores.measures[name].result.per_sample == pytest.approx(means)
        assert scores.measures[name].result.value == pytest.approx(np.mean(means))
