"""PE, LN-PE and the Chow rules against docs/methods.md §1 and §8 worked examples, plus properties."""

import pytest

from uqviz.measures.logprob import (
    chow_average,
    chow_quantile,
    chow_scores,
    chow_sum,
    ln_predictive_entropy,
    predictive_entropy,
)

SECTION_1 = [[-0.1, -0.2], [-0.5, -0.5, -0.5], [-2.0]]


def test_predictive_entropy_worked_example():
    result = predictive_entropy(SECTION_1)
    assert result.value == pytest.approx(1.266667, abs=1e-6)
    assert result.per_sample == pytest.approx([0.3, 1.5, 2.0])


def test_ln_predictive_entropy_worked_example():
    result = ln_predictive_entropy(SECTION_1)
    assert result.value == pytest.approx(0.883333, abs=1e-6)
    assert result.per_sample == pytest.approx([0.15, 0.5, 2.0])


def test_chow_worked_example():
    logprobs = [-0.01, -0.05, -2.3, -0.1]
    assert chow_scores(logprobs, 0.0) == pytest.approx({"sum": -2.46, "average": -0.615, "quantile": -2.3})
    assert chow_scores(logprobs, 0.25)["quantile"] == pytest.approx(-0.65)
    assert chow_scores(logprobs, 0.5)["quantile"] == pytest.approx(-0.075)
    assert chow_sum([logprobs]).value == pytest.approx(2.46)
    assert chow_average([logprobs]).value == pytest.approx(0.615)
    assert chow_quantile([logprobs], 0.0).value == pytest.approx(2.3)


def test_chow_length_bias_illustration():
    short, long = [-0.05] * 2, [-0.05] * 40
    assert chow_sum([short]).value == pytest.approx(0.1)
    assert chow_sum([long]).value == pytest.approx(2.0)
    assert chow_average([short]).value == pytest.approx(chow_average([long]).value)
    one_bad = [-2.3] + [-0.01] * 39
    assert chow_average([one_bad]).value == pytest.approx(0.06725)
    assert chow_quantile([one_bad], 0.0).value == pytest.approx(2.3)


def test_empty_answer_counts_as_certain_sequence_of_nothing():
    assert predictive_entropy([[]]).value == 0.0
    assert ln_predictive_entropy([[], [-1.0]]).per_sample == [0.0, 1.0]
