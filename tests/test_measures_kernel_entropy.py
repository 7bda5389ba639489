"""Kernel language entropy: a two-answer case solved by hand, properties, and lm-polygraph's graph weights (docs/methods.md §12.2)."""

import math

import numpy as np
import pytest

from uqviz.measures.kernel_entropy import heat_kernel, kernel_language_entropy, nli_graph
from uqviz.models.nli import NLI_LABELS


def probabilities(entail: np.ndarray, contra: np.ndarray) -> np.ndarray:
    """K × K × 3 NLI probabilities in NLI_LABELS order from entailment and contradiction matrices."""
    stacked = {"entailment": entail, "contradiction": contra, "neutral": 1.0 - entail - contra}
    return np.stack([stacked[label] for label in NLI_LABELS], axis=-1)


def test_two_answers_solved_by_hand():
    # both directions: entailment 0.9, contradiction 0.05 → W_01 = 1.8 + ½(2 - 1.8 - 0.1) = 1.85;
    # exp(-tL) of L = w[[1,-1],[-1,1]] is ½[[1+e, 1-e],[1-e, 1+e]], e = exp(-2tw), so the unit-trace kernel has
    # eigenvalues (1 ± tanh(tw))/2
    entail = np.array([[1.0, 0.9], [0.9, 1.0]])
    contra = np.array([[0.0, 0.05], [0.05, 0.0]])
    weights = nli_graph(probabilities(entail, contra))
    assert weights[0, 1] == pytest.approx(1.85)
    result = kernel_language_entropy(weights, time=0.3)
    assert result.value == pytest.approx(0.8078860897552265, abs=1e-9)
    r = math.tanh(0.3 * 1.85)
    assert sorted(result.detail.eigenvalues) == pytest.approx([(1 - r) / 2, (1 + r) / 2])


def test_kernel_has_unit_trace_and_is_symmetric():
    rng = np.random.default_rng(1)
    weights = rng.uniform(0, 2, size=(5, 5))
    weights = (weights + weights.T) / 2
    kernel = heat_kernel(weights, 0.7)
    assert np.trace(kernel) == pytest.approx(1.0)
    assert np.allclose(kernel, kernel.T)


def test_agreeing_answers_score_lower_than_contradicting_ones():
    size = 4
    agree = probabilities(np.full((size, size), 0.95), np.full((size, size), 0.01))
    clash = probabilities(np.eye(size) + 0.02 * (1 - np.eye(size)), 0.9 * (1 - np.eye(size)))
    assert kernel_language_entropy(nli_graph(agree)).value < kernel_language_entropy(nli_graph(clash)).value


def test_one_answer_names_why():
    result = kernel_language_entropy(np.ones((1, 1)))
    assert result.value is None and "two answers" in result.reason
