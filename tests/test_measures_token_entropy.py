"""Mean and maximum token entropy, and MSP and perplexity as the same numbers as PE and LN-PE (docs/methods.md §12.1)."""

import pytest

from tests.conftest import make_run
from uqviz.measures.registry import REGISTRY
from uqviz.measures.token_entropy import max_token_entropy, mean_token_entropy
from uqviz.statistics.base import MissingInputError, RunStatistics


def test_worked_example_per_answer_then_over_answers():
    entropies = [[1.0, 2.0, 3.0], [0.5], []]
    mean = mean_token_entropy(entropies)
    assert mean.per_sample == pytest.approx([2.0, 0.5, 0.0])
    assert mean.value == pytest.approx(2.5 / 3)
    peak = max_token_entropy(entropies)
    assert peak.per_sample == pytest.approx([3.0, 0.5, 0.0])
    assert peak.value == pytest.approx(3.5 / 3)


def test_maximum_is_never_below_the_mean():
    entropies = [[0.1, 4.0, 0.2], [1.0, 1.0], [2.5]]
    for mean, peak in zip(mean_token_entropy(entropies).per_sample, max_token_entropy(entropies).per_sample):
        assert peak >= mean


def test_msp_and_perplexity_are_pe_and_ln_pe_under_their_usual_names():
    stats = RunStatistics(make_run(["a b", "c"], [[-0.5, -1.5], [-3.0]]))
    assert REGISTRY["maximum_sequence_probability"].compute(stats).value == pytest.approx((2.0 + 3.0) / 2)
    assert REGISTRY["perplexity"].compute(stats).value == pytest.approx((1.0 + 3.0) / 2)
    assert REGISTRY["maximum_sequence_probability"].compute(stats).value == REGISTRY["predictive_entropy"].compute(stats).value


def test_an_imported_run_without_distributions_names_why():
    run = make_run(["a", "b"])
    for sample in run.samples:
        sample.entropies.clear()
    with pytest.raises(MissingInputError, match="next-token distributions"):
        REGISTRY["mean_token_entropy"].compute(RunStatistics(run))
