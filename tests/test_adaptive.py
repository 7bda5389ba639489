"""Sampling until semantic entropy settles (docs/methods.md §12.14): the rounds, their seeds, the stopping rule and the
record a run keeps of them, on the real packaged model."""

from dataclasses import replace

import pytest

from uqviz.engine.sampling import SamplingError, sample
from uqviz.format.run import RunFormatError, SamplingSettings, run_from_dict, run_from_json, run_to_json
from uqviz.measures.bayesian_entropy import from_statistics
from uqviz.statistics.base import RunStatistics, ScoreConfig
from uqviz.workflows.adaptive import AdaptiveRule, sample_until_settled

PROMPT = "Name a colour."
SETTINGS = SamplingSettings(n=7, max_new_tokens=6, seed=11)


@pytest.fixture(scope="module")
def statistics_of(embedder):
    return lambda run: RunStatistics(run, ScoreConfig(cluster_rule="embedding"), embedder=embedder)


def test_a_loose_tolerance_stops_after_the_first_round_with_the_fixed_run_answers(language_model, statistics_of):
    rounds = []
    run = sample_until_settled(language_model, PROMPT, SETTINGS, statistics_of, AdaptiveRule(first=3, step=2, max_variance=10.0),
                               on_round=lambda drawn, sd: rounds.append((drawn, sd)))
    fixed = sample(language_model, PROMPT, replace(SETTINGS, n=3))
    assert [answer.text for answer in run.samples] == [answer.text for answer in fixed.samples]
    assert run.settings == replace(SETTINGS, n=3)
    assert run.adaptive.max_n == 7 and (run.adaptive.first, run.adaptive.step) == (3, 2)
    expected = from_statistics(statistics_of(run)).detail.posterior_sd
    assert rounds == [(3, pytest.approx(expected))] and run.adaptive.posterior_sd == [pytest.approx(expected)]


def test_a_tolerance_never_met_draws_every_answer_in_rounds_seeded_by_the_answers_before(language_model, statistics_of):
    run = sample_until_settled(language_model, PROMPT, SETTINGS, statistics_of, AdaptiveRule(first=3, step=2, max_variance=0.0))
    assert len(run.samples) == 7 and run.settings.n == 7 and len(run.adaptive.posterior_sd) == 3  # rounds of 3, 2 and 2
    second_round = sample(language_model, PROMPT, replace(SETTINGS, n=2, seed=SETTINGS.seed + 3))
    assert [answer.text for answer in run.samples[3:5]] == [answer.text for answer in second_round.samples]
    assert all(sd > 0 for sd in run.adaptive.posterior_sd)
    back = run_from_json(run_to_json(run))
    assert back.adaptive == run.adaptive and back.samples == run.samples


def test_a_bad_rule_or_record_is_refused_in_one_sentence(france_run):
    with pytest.raises(SamplingError, match="at least 1 answer"):
        AdaptiveRule(first=0)
    with pytest.raises(SamplingError, match="finite number"):
        AdaptiveRule(max_variance=float("nan"))
    data = france_run.to_dict()
    assert run_from_dict(data).adaptive is None  # runs drawn at once, and runs written before the record existed
    for record, message in (({"first": 2, "step": 1, "max_variance": -1, "max_n": 4, "posterior_sd": []}, "at least 0"),
                            ({"first": 2, "step": 1, "max_variance": 0.1, "max_n": 4, "posterior_sd": ["x"]}, "finite number"),
                            ({"first": 2, "step": 1, "max_variance": 0.1, "posterior_sd": []}, "adaptive.max_n: missing")):
        with pytest.raises(RunFormatError, match=message):
            run_from_dict({**data, "adaptive": record})
