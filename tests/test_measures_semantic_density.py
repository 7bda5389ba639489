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
    # p̄(Paris) = e^-0.1, p̄(Lyon) = e^-2; k(Paris→Lyon) = 1 - 0.8 - 0.1/2 = 0.15, k(Lyon→Paris) = 1 - 0.6 - 0.2/2 = 0.3;
    # SD(Paris) = (p̄P·1 + p̄L·0.15 + p̄P) / (p̄P + p̄L + p̄P), SD(Lyon) = (p̄P·0.3 + p̄L·1 + p̄L) / (p̄P + p̄L + p̄L)
    self_pair, paris_lyon, lyon_paris = nli(0.0, 0.0), nli(0.8, 0.1), nli(0.6, 0.2)
    probabilities = np.array([
        [self_pair, self_pair, paris_lyon],
        [self_pair, self_pair, paris_lyon],
        [lyon_paris, lyon_paris, self_pair],
    ])
    result = semantic_density(["Paris", "Paris", "Lyon"], [[-0.1], [-0.1], [-2.0]], probabilities)
    assert result.detail.density == pytest.approx([0.9408563535946967, 0.9408563535946967, 0.46118086735954233])
    assert result.value == pytest.approx(0.2190354751503548)
    assert result.detail.normalised_probability == pytest.approx([math.exp(-0.1), math.exp(-0.1), math.exp(-2.0)])


def test_unanimous_answers_have_density_one():
    probabilities = np.tile(np.array(nli(0.0, 0.0)), (3, 3, 1))
    result = semantic_density(["a", "b", "c"], [[-1.0], [-2.0, -0.5], [-0.3]], probabilities)
    assert result.value == pytest.approx(0.0)
