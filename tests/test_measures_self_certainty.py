"""Self-certainty and Borda voting against docs/methods.md §7.4, plus properties."""

import math

import numpy as np
import pytest

from uqviz.measures.self_certainty import answer_self_certainty, borda_vote, kl_from_uniform, self_certainty


def test_self_certainty_worked_example():
    kls = [kl_from_uniform([0.7, 0.1, 0.1, 0.1]), kl_from_uniform([0.25] * 4)]
    assert kls == pytest.approx([0.429813, 0.0], abs=1e-6)
    assert answer_self_certainty(kls) == pytest.approx(0.214907, abs=1e-6)
    result = self_certainty([kls])
    assert result.value == pytest.approx(-0.214907, abs=1e-6)


def test_uniform_is_zero_and_peaked_is_positive():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.dirichlet(np.ones(7))
        assert kl_from_uniform(p) > 0
    assert kl_from_uniform([1 / 9] * 9) == pytest.approx(0.0, abs=1e-12)


def test_borda_worked_example():
    result = borda_vote([0.9, 0.8, 0.3, 0.5], ["A", "B", "A", "C"], exponent=0.5)
    assert result.votes_by_sample == pytest.approx({0: 2.0, 1: 1.732051, 3: 1.414214, 2: 1.0}, abs=1e-6)
    assert result.votes_by_answer == pytest.approx({"A": 3.0, "B": 1.732051, "C": 1.414214}, abs=1e-6)
    assert (result.answer, result.sample_index) == ("A", 0)


def test_borda_exponent_zero_is_majority_and_unextractable_answers_do_not_vote():
    result = borda_vote([0.1, 0.9, 0.2, 0.8], ["A", "B", "A", None], exponent=0.0)
    assert result.votes_by_answer == {"A": 2.0, "B": 1.0}
    assert result.answer == "A"
    assert borda_vote([0.5], [None]).answer is None
    assert math.isclose(sum(borda_vote([3, 2, 1], ["x", "y", "z"], 1.0).votes_by_sample.values()), 6.0)
