"""What-if orchestration: temperature sweep, framings and two models on the real packaged model; input parsing."""

import pytest

from tests.conftest import make_run
from uqviz.measures.registry import REGISTRY
from uqviz.format.run import SamplingSettings
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics
from uqviz.viz.history import measures_figure
from uqviz.workflows.whatif import (
    DEFAULT_FRAMINGS, MAX_RUNS, Framing, WhatIfRun, framing_comparison, measure_series, model_comparison,
    parse_temperatures, temperature_sweep,
)

SMALL = SamplingSettings(n=2, max_new_tokens=10, seed=3)


def test_temperatures_are_parsed_or_refused_with_a_sentence():
    assert parse_temperatures("0.3, 0.7 1.2,,2") == [0.3, 0.7, 1.2, 2.0]
    assert parse_temperatures("0") == [0.0]
    for text, fragment in [("", "at least one"), ("0.5, hot", "'hot' is not a number"), ("-0.1", "outside"),
                           ("2.5", "outside"), ("nan", "outside"), (" ".join(["1"] * (MAX_RUNS + 1)), f"at most {MAX_RUNS}")]:
        with pytest.raises(ValueError, match=fragment):
            parse_temperatures(text)


def test_framings_wrap_or_prefix_the_question():
    assert DEFAULT_FRAMINGS[0].apply("Capital of France?") == "Capital of France?"
    assert DEFAULT_FRAMINGS[1].apply("Capital of France?") == "Capital of France?\nI think the answer is"
    assert Framing("mine", "Be brief. {question} Answer in one word.").apply("Q?") == "Be brief. Q? Answer in one word."
    assert Framing("prefix", "I'm not sure, but ").apply("Q?") == "I'm not sure, but Q?"


def test_measure_series_follows_the_registry_and_keeps_gaps():
    confident = make_run(["a", "a"], [[-0.1], [-0.1]])
    unsure = make_run(["a", "b"], [[-2.0], [-3.0]])
    results = [WhatIfRun("x", run, score_run(run)) for run in (confident, unsure)]
    series = measure_series(results)
    assert list(series) == [name for name in REGISTRY if name in results[0].scores.measures]
    assert series["predictive_entropy"] == pytest.approx([0.1, 2.5], abs=1e-12)
    trimmed = WhatIfRun("y", unsure, score_run(unsure, names=["predictive_entropy"]))
    assert measure_series([results[0], trimmed])["ln_predictive_entropy"] == [pytest.approx(0.1), None]


@pytest.mark.slow
def test_temperature_sweep_samples_and_scores_each_temperature(language_model, embedder):
    calls = []
    results = temperature_sweep(
        language_model, "What is the capital of France?", [0.0, 1.0], SMALL,
        statistics_for=lambda run: RunStatistics(run, embedder=embedder), progress=lambda *args: calls.append(args),
    )
    assert calls == [(0, 2, "T=0"), (1, 2, "T=1")]
    assert [result.label for result in results] == ["T=0", "T=1"]
    assert [result.run.settings.temperature for result in results] == [0.0, 1.0]
    assert all(result.run.settings.seed == 3 and len(result.run.samples) == 2 for result in results)
    greedy = results[0].run.samples
    assert greedy[0].token_ids == greedy[1].token_ids  # temperature 0 is greedy: both samples agree
    for result in results:
        assert set(result.scores.measures) == set(REGISTRY)
        expected = score_run(result.run, names=["ln_predictive_entropy"]).measures["ln_predictive_entropy"].result.value
        assert result.scores.measures["ln_predictive_entropy"].result.value == pytest.approx(expected, abs=1e-12)
        assert result.scores.measures["lexical_similarity"].result.value is not None
    assert results[0].scores.measures["num_semantic_sets"].result.value == 1


@pytest.mark.slow
def test_framings_and_models_share_prompt_settings_and_seed(language_model):
    tiny = SamplingSettings(n=2, max_new_tokens=4, seed=3)
    framed = framing_comparison(language_model, "What is 2+2?", DEFAULT_FRAMINGS[:2], tiny, chat=False)
    assert [result.run.prompt for result in framed] == ["What is 2+2?", "What is 2+2?\nI think the answer is"]
    assert [result.label for result in framed] == ["as asked", "I think the answer is…"]
    models = model_comparison([language_model, language_model], "What is 2+2?", tiny, chat=False)
    name = language_model.info.name
    assert [result.label for result in models] == [f"1. {name}", f"2. {name}"]
    # Same model, prompt and seed: the second run repeats the first exactly.
    assert [s.text for s in models[0].run.samples] == [s.text for s in models[1].run.samples]
    assert [s.text for s in models[0].run.samples] == [s.text for s in framed[0].run.samples]


def test_measures_figure_draws_one_panel_per_measure():
    series = {"predictive_entropy": [0.1, None, 2.5], "lexical_similarity": [-0.9, -0.5, -0.2]}
    numeric = measures_figure([0.0, 0.7, 1.4], series, "temperature")
    assert [trace.mode for trace in numeric.data] == ["lines+markers"] * 2
    assert list(numeric.data[0].x) == [0.0, 0.7, 1.4] and list(numeric.data[0].y) == [0.1, None, 2.5]
    assert [annotation.text for annotation in numeric.layout.annotations] == [REGISTRY[name].title for name in series]
    categorical = measures_figure(["<i>a</i>", "b", "c"], series, "framing")
    assert categorical.data[0].mode == "markers" and list(categorical.data[0].x) == ["&lt;i&gt;a&lt;/i&gt;", "b", "c"]
