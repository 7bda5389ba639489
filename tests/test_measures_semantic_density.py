"""Semantic density per answer against a worked example (docs/methods.md §12.3)."""

import math

import numpy as np
import pytest

from uqviz.measures.semantic_density import semantic_density
from uqviz.models.nli import NLI_LABELS


def nli(contra: float, neutral: float) -> list[float]:
    values = {"contradiction": contra, "neutral": neutral, "entailment": 1.0 - contra - neutral}
    return [values[label] for label in NLI_LABELS]


def test_worked_example_with_a_repeated_answer():
    # Distinct answers: Paris (first at 0) and Lyon, p̄(Paris) = e^-0.1 = 0.904837, p̄(Lyon) = e^-2 = 0.135335, sum 1.040173.
    # k(Paris→Lyon) = 1 - 0.8 - 0.1/2 = 0.15, k(Lyon→Paris) = 1 - 0.6 - 0.2/2 = 0.3, every self-pair k = 1; each target
    # counts once, as one of the distinct answers:
    # SD(Paris) = (0.904837·1 + 0.135335·0.15) / 1.040173 = 0.925138 / 1.040173 = 0.889408   (both "Paris")
    # SD(Lyon)  = (0.904837·0.3 + 0.135335·1) / 1.040173 = 0.406787 / 1.040173 = 0.391076
    # U_j = 1 - SD = [0.110592, 0.110592, 0.608924], U = (2·0.110592 + 0.608924) / 3 = 0.276703
    self_pair, paris_lyon, lyon_paris = nli(0.0, 0.0), nli(0.8, 0.1), nli(0.6, 0.2)
    probabilities = np.array([
        [self_pair, self_pair, paris_lyon],
        [self_pair, self_pair, paris_lyon],
        [lyon_paris, lyon_paris, self_pair],
    ])
    result = semantic_density(["Paris", "Paris", "Lyon"], [[-0.1], [-0.1], [-2.0]], probabilities)
    assert result.detail.density == pytest.approx([0.889408, 0.889408, 0.391076], abs=1e-6)
    assert result.per_sample == pytest.approx([0.110592, 0.110592, 0.608924], abs=1e-6)
    assert result.value == pytest.approx(0.276703, abs=1e-6)
    assert result.detail.normalised_probability == pytest.approx([math.exp(-0.1), math.exp(-0.1), math.exp(-2.0)])


def test_two_contradicting_answers_of_equal_probability_each_hold_half_the_mass():
    # k = 0 both ways, p̄ equal: SD = (p̄·1 + p̄·0) / (p̄ + p̄) = 1/2 (counting the target twice would give 2/3)
    contradiction = nli(1.0, 0.0)
    probabilities = np.array([[nli(0.0, 0.0), contradiction], [contradiction, nli(0.0, 0.0)]])
    result = semantic_density(["yes", "no"], [[-0.7], [-0.7]], probabilities)
    assert result.detail.density == pytest.approx([0.5, 0.5])
    assert result.value == pytest.approx(0.5)


def test_unanimous_answers_have_density_one():
    probabilities = np.tile(np.array(nli(0.0, 0.0)), (3, 3, 1))
    result = semantic_density(["a", "b", "c"], [[-1.0], [-2.0, -0.5], [-0.3]], probabilities)
    assert result.value == pytest.approx(0.0)
