"""Every registered measure, picked up automatically: it computes, cites its source and follows the U sign."""

import math

import pytest

from tests.conftest import make_run
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics

CONFIDENT = make_run(["Paris", "Paris", "Paris"], [[-0.01], [-0.01], [-0.01]])
UNSURE = make_run(["Paris", "Lyon is it", "Marseille maybe"], [[-2.0], [-3.0, -2.5, -1.0], [-4.0, -3.5]])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_measure_is_documented(name):
    measure = REGISTRY[name]
    assert measure.name == name
    assert "docs/methods.md §" in measure.reference
    assert measure.formula and measure.higher_means and measure.title


@pytest.mark.parametrize("name", sorted(n for n, m in REGISTRY.items() if set(m.needs) <= {"logprobs", "token distributions", "token entropies"}))
def test_token_measures_rank_unsure_run_higher(name):
    confident = REGISTRY[name].compute(RunStatistics(CONFIDENT))
    unsure = REGISTRY[name].compute(RunStatistics(UNSURE))
    assert math.isfinite(confident.value) and math.isfinite(unsure.value)
    assert unsure.value > confident.value
    assert len(unsure.per_sample) == len(UNSURE.samples)


def test_scores_document_follows_contract():
    document = score_run(UNSURE).to_dict()
    assert document["schema"] == "uqviz.scores/1"
    for name in ("predictive_entropy", "ln_predictive_entropy", "self_certainty", "chow_quantile"):
        entry = document["measures"][name]
        assert set(entry) >= {"value", "per_sample"}
        assert entry["value"] == pytest.approx(REGISTRY[name].compute(RunStatistics(UNSURE)).value)
