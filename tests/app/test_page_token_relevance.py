"""AppTest of the token relevance (SAR) page: tokens, shift panel, g_jk heatmap, table, settings, escaping, cross-encoder."""

import json
from dataclasses import replace

import pytest
from plotly.colors import sample_colorscale
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import make_run
from tests.test_measures_sar import build_cross_encoder
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import RunStatistics, ScoreConfig
from uqviz.viz.sar import COLOUR_SCALES, MARS_WEIGHTS, SAR_WEIGHTS, SURPRISAL

pytestmark = pytest.mark.slow
PAGE = "pages/token_relevance.py"
HOSTILE = "<img src=x onerror=alert(1)>"


def open_page(run) -> AppTest:
    return open_app_page(PAGE, run=run)


def html_bodies(at):
    return [element.proto.body for element in at.get("html")]


def sar_table(at):
    return next(frame.value for frame in at.dataframe if "E (SAR)" in frame.value.columns)


def figures(at):
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


def test_page_shows_coloured_tokens_shift_heatmap_table_backend_and_cost(france_run, embedder):
    at = open_page(france_run)
    count = len(france_run.samples)
    token_blocks = [body for body in html_bodies(at) if "uqviz-token" in body]
    assert len(token_blocks) == count
    assert [block.count('class="uqviz-token"') for block in token_blocks] == [len(s) for s in france_run.samples]
    assert all("relevance R = " in block and "top alternatives" in block for block in token_blocks)

    shift, heatmap, weights = figures(at)
    assert [trace["type"] for trace in shift["data"]] == ["scatter"] * 3
    assert [row[0] for row in shift["data"][2]["customdata"]] == list(range(count))
    assert heatmap["data"][0]["type"] == "heatmap" and len(heatmap["data"][0]["z"]) == count
    # which tokens matter, twice: SAR's relevance and MARS's weights of the first answer (CSL waits for its toggle)
    assert [trace["name"] for trace in weights["data"]] == [SAR_WEIGHTS, MARS_WEIGHTS]
    for trace in weights["data"]:
        assert len(trace["y"]) == len(france_run.samples[0]) and sum(trace["y"]) == pytest.approx(1.0)

    expected = {name: REGISTRY[name].compute(RunStatistics(france_run, ScoreConfig(), embedder=embedder))
                for name in ("token_sar", "sent_sar", "sar")}
    table = sar_table(at)
    assert list(table["E_S (SentSAR)"]) == pytest.approx(expected["sent_sar"].per_sample, abs=1e-6)
    assert list(table["E (SAR)"]) == pytest.approx(expected["sar"].per_sample, abs=1e-6)
    assert list(table["TokenSAR"]) == pytest.approx(expected["token_sar"].per_sample, abs=1e-6)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["SAR"] == f"{expected['sar'].value:.3f}"

    captions = [caption.value for caption in at.caption]
    precision = session_statistics(at).relevance_precision
    assert f"Similarity backend: bi-encoder cosine (all-MiniLM-L6-v2 (packaged)); token relevance at {precision}" in captions
    cost = next(caption for caption in captions if caption.startswith("Cost:"))
    assert f"token relevance {sum(len(s) for s in france_run.samples)} text pairs" in cost and "similarity-model calls" in cost
    assert any("TokenSAR" in block.value for block in at.markdown)  # the explanation with its formulas


def test_precision_choice_recomputes_the_relevance_at_that_precision(france_run, embedder):
    at = open_page(france_run)
    values = {}
    for precision in ("float32", "bfloat16"):
        at.selectbox(key="sar_precision").set_value(precision).run()
        assert not at.exception
        config = ScoreConfig(relevance_precision=precision)
        expected = REGISTRY["token_sar"].compute(RunStatistics(france_run, config, embedder=embedder))
        values[precision] = list(sar_table(at)["TokenSAR"])
        assert values[precision] == pytest.approx(expected.per_sample, abs=1e-6)
        assert any(caption.value.endswith(f"token relevance at {precision}") for caption in at.caption)
    assert values["float32"] != values["bfloat16"]


def test_colour_toggle_and_temperature_rederive_without_embedding_again(france_run, embedder):
    at = open_page(france_run)
    calls = session_statistics(at).similarity.calls
    at.segmented_control(key="sar_colour").set_value(SURPRISAL).run()
    assert not at.exception
    assert any(header.value == "Tokens coloured by −log p" for header in at.subheader)
    top = sample_colorscale(COLOUR_SCALES[SURPRISAL], [1.0])[0]
    assert sum(body.count(f"background:{top}") for body in html_bodies(at) if "uqviz-token" in body) >= 1

    at.select_slider(key="sar_temperature").set_value(1.0).run()
    assert not at.exception
    expected = REGISTRY["sent_sar"].compute(RunStatistics(france_run, ScoreConfig(sar_temperature=1.0), embedder=embedder))
    assert {metric.label: metric.value for metric in at.metric}["SentSAR"] == f"{expected.value:.3f}"
    assert session_statistics(at).similarity.calls == calls


def test_hostile_answer_shows_as_text():
    run = make_run([f"{HOSTILE} is here", "Paris"], [[-1.0, -0.2, -0.4], [-0.3]], prompt="What is it?")
    run = replace(run, samples=[replace(run.samples[0], tokens=[HOSTILE, " is", " here"]), run.samples[1]], sampling_seconds=0.1)
    at = open_page(run)
    bodies = html_bodies(at)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in body for body in bodies)
    assert not any("<img" in body for body in bodies)
    for figure in figures(at):
        text = json.dumps(figure)
        assert "<img" not in text and "&lt;img" in text
    assert sar_table(at)["answer"][0] == run.samples[0].text


def test_cross_encoder_folder_switches_the_backend_and_a_bad_one_is_one_error(france_run, tmp_path):
    at = open_page(france_run)
    at.text_input(key="sar_cross_encoder").input(str(tmp_path / "nowhere")).run()
    assert not at.exception
    assert any("not a model folder" in shown(error.value) for error in at.error)
    assert any(caption.value.startswith("Similarity backend: bi-encoder") for caption in at.caption)

    folder = build_cross_encoder(tmp_path / "tiny-cross-encoder")
    at.text_input(key="sar_cross_encoder").input(str(folder)).run()
    assert not at.exception and not at.error
    assert any(caption.value.startswith("Similarity backend: cross-encoder (tiny-cross-encoder)") for caption in at.caption)
    assert len(sar_table(at)) == len(france_run.samples)


def test_imported_run_without_log_probabilities_gets_a_message():
    run = replace(make_run(["Paris", "Lyon"], [[], []]), sampling_seconds=0.1)
    at = open_page(run)
    assert any("without token log-probabilities" in shown(error.value) for error in at.error)


def test_a_run_beyond_the_relevance_budget_says_so_and_computes_only_when_asked(france_run, embedder, monkeypatch):
    """docs/methods.md §4.6: the cost is shown before anything is embedded; the button computes it without the cap."""
    monkeypatch.setattr("uqviz.statistics.relevance.relevance_cost", lambda question, samples: 1_000_000)
    at = open_page(france_run)
    assert not at.exception
    assert any("1,000,000 characters" in shown(info.value) and "400,000" in shown(info.value) for info in at.info)
    assert not at.metric and not at.get("plotly_chart")
    at.button(key="sar_uncapped").click().run()
    assert not at.exception and not at.error
    uncapped = RunStatistics(france_run, ScoreConfig(relevance_budget=None), embedder=embedder)
    expected = REGISTRY["token_sar"].compute(uncapped).value
    assert float(next(m.value for m in at.metric if m.label == "TokenSAR")) == pytest.approx(expected, abs=1e-3)


def test_pmi_on_request_colours_the_chosen_answers_tokens_by_what_the_prompt_explains(france_run, language_model):
    """docs/methods.md §12.11: one more pass without the prompt; each token's hover gives both log-probabilities."""
    from uqviz.viz.tokens import pmi_tokens_html

    at = open_app_page(PAGE, run=france_run, run_language_model=lambda: language_model)
    at.toggle(key="token_weights_pmi").set_value(True).run()
    assert not at.exception and not at.error
    expected = REGISTRY["pmi"].compute(RunStatistics(france_run, language_model=language_model))
    assert any(f"**PMI of S1**: U = {expected.per_sample[0]:.3f}," in shown(m.value) for m in at.markdown)
    detail = expected.detail
    block = pmi_tokens_html(france_run.samples[0], detail.conditional[0], detail.unconditional[0])
    assert block in html_bodies(at) and "first token: no log-probability without the prompt" in block
