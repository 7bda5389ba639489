"""UQLM's top-k scorers against numbers worked by hand (docs/methods.md §12.8), their properties, and the reason
given for runs without top-k lists."""

import math
from dataclasses import replace

import pytest

from tests.conftest import make_run
from uqviz.measures.registry import REGISTRY
from uqviz.measures.top_k import mean_token_negentropy, min_probability, min_token_negentropy, probability_margin
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics

LN = math.log
# answer 1: step 1 top (0.6, 0.3, 0.1), sampled 0.6; step 2 top (0.5, 0.25, 0.25), sampled 0.25
# answer 2: one step, top (0.4, 0.2) (not summing to 1), sampled 0.4
TOPS = [[[LN(0.6), LN(0.3), LN(0.1)], [LN(0.5), LN(0.25), LN(0.25)]], [[LN(0.4), LN(0.2)]]]
SAMPLED = [[LN(0.6), LN(0.25)], [LN(0.4)]]


def test_worked_example():
    # min p: 1 − 0.25 = 0.75 and 1 − 0.4 = 0.6
    assert min_probability(SAMPLED).per_sample == pytest.approx([0.75, 0.6])
    # margins: (0.3 + 0.25)/2 = 0.275 → 0.725; 0.4 − 0.2 = 0.2 → 0.8
    result = probability_margin(TOPS)
    assert result.per_sample == pytest.approx([0.725, 0.8]) and result.value == pytest.approx(0.7625)
    # TN: 1 − 0.897946/ln 3 = 0.182657; 1 − 1.039721/ln 3 = 0.053605; renormalised (2/3, 1/3): 1 − 0.636514/ln 2 = 0.081704
    assert mean_token_negentropy(TOPS).per_sample == pytest.approx([1 - (0.182657 + 0.053605) / 2, 1 - 0.081704], abs=5e-6)
    assert min_token_negentropy(TOPS).per_sample == pytest.approx([1 - 0.053605, 1 - 0.081704], abs=5e-6)


def test_properties_certain_steps_and_empty_answers():
    certain = [[[0.0, -30.0]]]  # one token with all the mass: margin 1, negentropy 1, p = 1
    assert probability_margin(certain).value == pytest.approx(0.0, abs=1e-9)
    assert mean_token_negentropy(certain).value == pytest.approx(0.0, abs=1e-9)
    flat = [[[LN(0.2)] * 5]]  # uniform top-5: negentropy 0, margin 0
    assert mean_token_negentropy(flat).value == pytest.approx(1.0) and probability_margin(flat).value == pytest.approx(1.0)
    assert min_probability([[]]).per_sample == [0.0] and probability_margin([[]]).per_sample == [0.0]


def test_the_registered_measures_read_the_run_and_say_why_imported_runs_cannot_feed_them():
    run = make_run(["a b", "c"], SAMPLED)
    run = replace(run, samples=[replace(sample, top_logprobs=tops, top_tokens=[["x"] * len(row) for row in tops])
                                for sample, tops in zip(run.samples, TOPS)])
    stats = RunStatistics(run)
    assert REGISTRY["probability_margin"].compute(stats).value == pytest.approx(0.7625)
    assert REGISTRY["min_probability"].compute(stats).value == pytest.approx(0.675)
    imported = replace(run, samples=[replace(sample, top_logprobs=[], top_tokens=[], top_token_ids=[]) for sample in run.samples])
    scores = score_run(imported, RunStatistics(imported), ["mean_token_negentropy", "min_probability"])
    assert scores["mean_token_negentropy"].result.value is None and "top-k alternatives" in scores["mean_token_negentropy"].result.reason
    assert scores["min_probability"].result.value == pytest.approx(0.675)
