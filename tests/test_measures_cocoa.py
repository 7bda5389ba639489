"""CoCoA: own uncertainty times mean dissimilarity to the other answers (docs/methods.md §12.4)."""

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.measures.cocoa import cocoa
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import RunStatistics


def test_worked_example():
    affinity = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.4], [0.2, 0.4, 1.0]])
    result = cocoa([1.0, 2.0, 3.0], affinity)
    # dissimilarities: mean(0.2, 0.8) = 0.5, mean(0.2, 0.6) = 0.4, mean(0.8, 0.6) = 0.7
    assert result.detail.dissimilarity == pytest.approx([0.5, 0.4, 0.7])
    assert result.per_sample == pytest.approx([0.5, 0.8, 2.1])
    assert result.value == pytest.approx(3.4 / 3)


def test_identical_answers_have_no_cocoa_uncertainty(embedder):
    stats = RunStatistics(make_run(["Paris", "Paris", "Paris"], [[-2.0], [-2.0], [-2.0]]), embedder=embedder)
    for name in ("cocoa_msp", "cocoa_perplexity", "cocoa_mean_token_entropy"):
        assert REGISTRY[name].compute(stats).value == pytest.approx(0.0, abs=1e-6)


def test_one_answer_names_why():
    result = cocoa([1.0], np.ones((1, 1)))
    assert result.value is None and "two answers" in result.reason
