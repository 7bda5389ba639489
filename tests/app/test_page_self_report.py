"""AppTest of the Ask the model page: P(True) on submit with the shown or an edited prompt, verbalized confidence, and
one sentence (and an explicit offer to load the run's model) when no model is at hand."""

import json
import math
from dataclasses import replace
from functools import partial

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import make_run
from uqviz.measures.registry import REGISTRY
from uqviz.measures.self_report import p_true, parse_confidence
from uqviz.statistics.base import ScoreConfig
from uqviz.statistics.probing import ONE_STAGE, P_TRUE, TWO_STAGE, VERBALIZED_REPLIES

pytestmark = pytest.mark.slow
PAGE = "pages/self_report.py"
EDITED = "Q: {question}\nA: {answer}\nTrue or False? Answer:"


def open_page(run, **state) -> AppTest:
    return open_app_page(PAGE, run=run, **state)


def with_model(run, language_model) -> AppTest:
    """The page as after sampling in this session: the run's model is attached."""
    return open_page(run, run_language_model=lambda: language_model)


def charts(at: AppTest) -> dict[str, dict]:
    """Every plotly chart by its key (the element id ends with the user key)."""
    return {chart.proto.id.split("-", 2)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def derived_statistics(at: AppTest):
    """The page's own set of statistics under edited settings (one per combination of models)."""
    (stats,) = [stats for key, stats in at.session_state["statistics"].items() if len(key) == 4 and key[2]]
    return stats


def test_p_true_on_submit_is_the_registry_measure_and_is_added_to_the_scores(france_run, language_model):
    at = with_model(france_run, language_model)
    assert at.text_area(key="p_true_template").value == ScoreConfig().p_true_prompt
    assert "p_true_chart" not in charts(at)
    at.button(key="p_true_submit").click().run()
    assert not at.exception and not at.error and not at.warning

    stats = session_statistics(at, language_model=True)
    expected = REGISTRY["p_true"].compute(stats)  # reads the cached pass: the one the page made
    assert float(metric(at, "U (P(True))")) == pytest.approx(expected.value, abs=1e-3)
    probe = stats.cached(P_TRUE, ScoreConfig().p_true_prompt)
    assert probe is not None and len(probe.prompts) == len(france_run.samples)
    chart = charts(at)["p_true_chart"]["data"][0]
    assert chart["y"] == pytest.approx([math.exp(value) for value in probe.logprobs])
    assert chart["y"] == pytest.approx(expected.detail.probabilities)
    assert at.session_state["scores"][1].measures["p_true"].result.value == pytest.approx(expected.value)

    at.selectbox(key="p_true_answer").set_value(2).run()
    assert at.code[0].value == probe.prompts[2]
    assert f"Possible answer: {france_run.samples[2].text}" in at.code[0].value


def test_an_edited_prompt_changes_the_prompts_used_and_stays_on_the_page(france_run, language_model):
    at = with_model(france_run, language_model)
    at.button(key="p_true_submit").click().run()
    default_value = float(metric(at, "U (P(True))"))
    at.text_area(key="p_true_template").input(EDITED)
    at.button(key="p_true_submit").click().run()
    assert not at.exception and not at.error

    probe = derived_statistics(at).cached(P_TRUE, EDITED)
    assert probe is not None
    assert all(prompt.startswith(f"Q: {france_run.prompt}\nA: ") for prompt in probe.prompts)
    assert [prompt.endswith("True or False? Answer:") for prompt in probe.prompts] == [True] * len(france_run.samples)
    assert at.code[0].value == probe.prompts[0] and at.code[0].value.startswith("Q: ")
    edited_value = float(metric(at, "U (P(True))"))
    assert edited_value == pytest.approx(p_true(probe).value, abs=1e-3)
    assert edited_value != pytest.approx(default_value, abs=1e-3)
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"] == pytest.approx(p_true(probe).detail.probabilities)
    # the run's scores keep the default prompt's value
    assert at.session_state["scores"][1].measures["p_true"].result.value == pytest.approx(default_value, abs=1e-3)
    assert any("edited prompt" in caption.value for caption in at.caption)

    # only {question} and {answer} are filled in: a format spec that would build a 300 MB string stays text
    at.text_area(key="p_true_template").input("Is {answer:>300000000} right for {question}?")
    at.button(key="p_true_submit").click().run()
    assert not at.exception
    shown_prompt = at.code[0].value
    assert shown_prompt.startswith("Is {answer:>300000000} right for ") and shown_prompt.endswith(f"{france_run.prompt}?")
    assert len(shown_prompt) < 1_000


def test_verbalized_confidence_tables_show_each_raw_reply_and_what_was_read(france_run, language_model):
    at = with_model(france_run, language_model)
    assert not at.dataframe
    at.number_input(key="verbalized_max_new_tokens").set_value(8)
    at.button(key="verbalized_submit").click().run()
    assert not at.exception and not at.error

    stats = derived_statistics(at)
    config = ScoreConfig()
    one = stats.cached(VERBALIZED_REPLIES, ONE_STAGE, config.verbalized_one_stage_prompt, 8)
    two = stats.cached(VERBALIZED_REPLIES, TWO_STAGE, config.verbalized_two_stage_prompt, 8)
    assert len(one.replies) == 1 and len(two.replies) == len(france_run.samples)
    tables = [frame.value for frame in at.dataframe]
    assert len(tables) == 2
    for table, replies in zip(tables, (one.replies, two.replies)):
        assert list(table["reply"]) == replies
        for reply, confidence in zip(replies, table["confidence"]):
            read = parse_confidence(reply).confidence
            assert (read is None and pd.isna(confidence)) or confidence == pytest.approx(read)
    assert list(tables[1]["answer text"]) == [sample.text for sample in france_run.samples]
    expected = REGISTRY["verbalized_two_stage"].compute(stats)
    value = metric(at, "U (2-stage verbalized)")
    assert value == ("—" if expected.value is None else f"{expected.value:.3f}")
    assert at.session_state["scores"][1].measures["verbalized_two_stage"].result.value is None  # edited: not saved


def test_a_model_named_only_by_the_run_file_loads_after_an_explicit_confirmation(france_run):
    from uqviz.models.loading import default_gguf_path

    source = f"gguf:{default_gguf_path()}"  # the same weights, named by path: not the sidebar's model
    run = replace(france_run, model=replace(france_run.model, source=source))
    at = open_page(run)
    assert any("No language model is attached to this run" in shown(info.value) for info in at.info)
    assert str(default_gguf_path()) in shown(at.warning[0].value)
    assert not [button for button in at.button if button.key == "p_true_submit"]
    held = at.session_state["statistics"]
    assert not any(statistics.has_language_model for statistics in held.values())

    at.button(key="confirm_run_model").click().run()
    assert not at.exception
    at.button(key="p_true_submit").click().run()
    assert not at.exception and not at.error
    expected = REGISTRY["p_true"].compute(session_statistics(at, language_model=True))
    assert float(metric(at, "U (P(True))")) == pytest.approx(expected.value, abs=1e-3)
    assert expected.detail.prompts[0].startswith(f"Question: {france_run.prompt}")


def test_the_sidebars_own_model_needs_no_confirmation_and_loads_only_when_asked(france_run):
    at = open_page(france_run)  # opened from History: no model attached, but the run names the sidebar's model
    assert not at.exception and not at.warning
    assert not [button for button in at.button if button.key == "confirm_run_model"]
    assert any("loads when you press" in caption.value for caption in at.caption)
    assert at.button(key="p_true_submit") is not None
    held = at.session_state["statistics"]
    assert all(not statistics.has_language_model or isinstance(statistics._language_model, partial)
               for statistics in held.values())  # a loader, not yet a loaded model


def test_an_imported_run_without_token_ids_is_one_sentence_and_no_offer():
    run = replace(make_run(["Paris", "<b>Lyon</b>"], prompt="Capital?"), prompt_token_ids=None)
    at = open_page(run)
    assert not at.exception and not at.error
    assert [shown(info.value) for info in at.info] == [
        "The model cannot be asked about these answers: the run has no prompt token ids (pasted, or sampled by a "
        "server that renders the prompt itself), so its answers cannot be replayed through the model."
    ]
    assert not at.button


def test_the_judge_tables_show_each_reply_what_was_read_and_the_registry_value(france_run, language_model):
    from uqviz.format.spreadsheet import spreadsheet_cell
    from uqviz.measures.judge import read_categorical, read_continuous
    from uqviz.statistics.probing import JUDGE_REPLIES

    at = with_model(france_run, language_model)
    at.button(key="judge_submit").click().run()
    assert not at.exception and not at.error

    stats = session_statistics(at, language_model=True)
    config = ScoreConfig()
    tables = [frame.value for frame in at.dataframe if "J" in frame.value.columns]  # keys are not readable on dataframes
    assert len(tables) == 2
    for table, name, template, reader in zip(tables, ("judge_categorical", "judge_continuous"),
                                             (config.judge_categorical_prompt, config.judge_continuous_prompt),
                                             (read_categorical, read_continuous)):
        replies = stats.cached(JUDGE_REPLIES, template, config.judge_max_new_tokens)
        assert replies is not None and len(replies.replies) == len(france_run.samples)
        assert list(table["reply"]) == [spreadsheet_cell(reply) for reply in replies.replies]
        assert list(table["answer text"]) == [spreadsheet_cell(sample.text) for sample in france_run.samples]
        assert list(table["read"]) == [reader(reply).read or "" for reply in replies.replies]
        expected = REGISTRY[name].compute(stats)
        label = f"U ({'categorical' if 'categorical' in name else 'continuous'} judge)"
        assert metric(at, label) == ("—" if expected.value is None else f"{expected.value:.3f}")
        saved = at.session_state["scores"][1].measures[name].result.value
        assert saved == expected.value or saved == pytest.approx(expected.value)


def test_a_run_that_cannot_be_replayed_can_still_be_judged(france_run, language_model):
    run = replace(france_run, prompt_token_ids=None, samples=france_run.samples[:1])  # as a server run: no prompt ids
    at = with_model(run, language_model)
    assert not at.exception
    assert any("can still judge them" in shown(info.value) for info in at.info)
    assert not [button for button in at.button if button.key in ("p_true_submit", "verbalized_submit")]
    at.text_area(key="judge_categorical_template").input("Is {answer} right for {question}? Say Correct or Incorrect.")
    at.button(key="judge_submit").click().run()
    assert not at.exception and not at.error
    assert len([frame for frame in at.dataframe if "J" in frame.value.columns]) == 2
    assert any("Edited prompts" in caption.value for caption in at.caption)
