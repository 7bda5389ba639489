"""UQLM's black-box consistency scorers against numbers worked by hand (docs/methods.md §12.9), and the reasons when
they cannot run."""

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.measures.consistency import cosine_consistency, entailment_probability, exact_match_rate, noncontradiction
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics

ANSWERS = ["Paris", "Paris", "Lyon"]
# premise i → hypothesis j as (contradiction, neutral, entailment); identical answers are certain entailment
PROBABILITIES = np.array([
    [[0, 0, 1], [0, 0, 1], [0.8, 0.1, 0.1]],
    [[0, 0, 1], [0, 0, 1], [0.8, 0.1, 0.1]],
    [[0.6, 0.2, 0.2], [0.6, 0.2, 0.2], [0, 0, 1]],
])


def test_worked_example():
    assert exact_match_rate(ANSWERS).per_sample == pytest.approx([0.5, 0.5, 1.0])
    # cos(Paris, Paris) = 1 → 1; cos(Paris, Lyon) = 0 → 0.5: U = [1 − 0.75, 1 − 0.75, 1 − 0.5]
    result = cosine_consistency(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert result.per_sample == pytest.approx([0.25, 0.25, 0.5]) and result.value == pytest.approx(1 / 3)
    # Paris–Lyon: 1 − (0.8 + 0.6)/2 = 0.3; Paris–Paris: 1
    assert noncontradiction(PROBABILITIES).per_sample == pytest.approx([0.35, 0.35, 0.7])
    # Paris–Lyon entailment (0.1 + 0.2)/2 = 0.15
    result = entailment_probability(PROBABILITIES)
    assert result.per_sample == pytest.approx([0.425, 0.425, 0.85]) and result.value == pytest.approx(0.566667, abs=1e-6)


def test_unanimous_answers_are_certain_and_one_answer_gives_a_reason():
    assert exact_match_rate(["a", "a", "a"]).value == 0.0
    single = make_run(["Paris"])
    scored = score_run(single, RunStatistics(single), ["exact_match_rate"])["exact_match_rate"].result
    assert scored.value is None and "fewer than two answers" in scored.reason


def test_the_nli_scorers_read_the_runs_judge_and_say_why_without_one(embedder):
    run = make_run(ANSWERS)
    cosine = REGISTRY["cosine_consistency"].compute(RunStatistics(run, embedder=embedder))
    assert cosine.per_sample[0] == pytest.approx(cosine.per_sample[1]) and cosine.per_sample[2] > cosine.per_sample[0]
    without = score_run(run, RunStatistics(run, embedder=embedder), ["noncontradiction"])["noncontradiction"].result
    assert without.value is None and without.reason
