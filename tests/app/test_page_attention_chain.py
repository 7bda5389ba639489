"""AppTest of the attention-chain page: it renders the chain for a real run, and its sliders never re-run the
attention pass (model forward calls are counted with a hook on the page's own model)."""

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import naming_hostile_model
from uqviz.measures.rauq import rauq_of_pass
from uqviz.statistics.uqac import ATTENTION_PASS, EXPANSION_LOGPROBS, GREEDY, GREEDY_ANSWER, head_counts

pytestmark = pytest.mark.slow
PAGE = "pages/attention_chain.py"


def open_page(run) -> AppTest:
    return open_app_page(PAGE, run=run)


def graph(at: AppTest, key: str = "uqac_graph") -> dict:
    charts = [chart for chart in at.get("plotly_chart") if chart.proto.id.endswith(f"-{key}")]
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def array(values) -> np.ndarray:
    """A figure array as JSON holds it: a plain list, or plotly's base64 typed array."""
    if isinstance(values, dict):
        data = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return data.reshape([int(size) for size in str(values["shape"]).split(",")]) if "shape" in values else data
    return np.asarray(values)


def count_forwards(at: AppTest) -> list:
    calls = []
    model = session_statistics(at, language_model=True).language_model.model
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls


def test_page_draws_chain_numbers_text_and_expansions(france_run):
    at = open_page(france_run)
    figure = graph(at)
    names = [trace.get("name") for trace in figure["data"]]
    assert "answer token" in names
    answer = next(trace for trace in figure["data"] if trace.get("name") == "answer token")
    statistics = session_statistics(at, language_model=True)
    detail = statistics.computed(EXPANSION_LOGPROBS)
    assert len(detail) == 1
    (scored,) = detail.values()
    expansions = scored.logprobs
    attention = statistics.cached(ATTENTION_PASS, 0, head_counts(statistics.config))
    assert attention.token_ids == france_run.prompt_token_ids + france_run.samples[0].token_ids
    assert len(answer["customdata"]) >= 1
    metrics = {metric.label: metric.value for metric in at.metric}
    assert float(metrics["UQAC confidence P̃"]) > 0
    assert float(metrics["plain answer probability"]) > 0
    texts = [element.proto.body for element in at.get("html") if "uqviz-token" in element.proto.body]
    assert len(texts) == 1 and texts[0].count("uqviz-token") == len(france_run.samples[0].token_ids)
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert table["expansion"].iloc[0] == "original" and len(table) == len(expansions)
    assert any("Attention pass:" in caption.value for caption in at.caption)


def test_page_shows_rauqs_heads_and_confidence_from_the_same_pass(france_run):
    at = open_page(france_run)
    statistics = session_statistics(at, language_model=True)
    assert len(statistics.computed(ATTENTION_PASS)) == 1  # RAUQ reads UQAC's one pass
    attention = statistics.cached(ATTENTION_PASS, 0, head_counts(statistics.config))
    expected = rauq_of_pass(attention, france_run.chat)
    heads = graph(at, "rauq_heads")["data"]
    assert heads[0]["type"] == "heatmap"
    np.testing.assert_allclose(array(heads[0]["z"]), expected.mean_previous, rtol=1e-6)
    marked = next(trace for trace in heads if trace.get("name") == "RAUQ's head")
    assert marked["x"] == expected.heads and marked["y"] == expected.layers
    bars = graph(at, "rauq_confidence")["data"][0]
    assert len(array(bars["y"])) == len(france_run.samples[0].token_ids)
    np.testing.assert_allclose(array(bars["y"]), expected.confidences[expected.selected], rtol=1e-6)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert float(metrics["RAUQ U"]) == pytest.approx(expected.value, rel=1e-3) and float(metrics["Attention Score U"]) > 0
    at.toggle(key="uqac_live").set_value(False).run()
    calls = count_forwards(at)
    at.slider(key="uqac_tau").set_value(0.9).run()
    assert not at.exception and calls == []
    assert graph(at, "rauq_heads")["data"] == heads  # RAUQ does not depend on the chain's settings


def test_sliders_re_derive_the_chain_without_a_model_call(france_run):
    at = open_page(france_run)
    at.multiselect(key="uqac_span_0").set_value([len(france_run.samples[0].token_ids) - 1]).run()
    calls = count_forwards(at)
    before = graph(at)["data"]
    at.toggle(key="uqac_live").set_value(False).run()
    at.slider(key="uqac_tau").set_value(0.95).run()
    at.select_slider(key="uqac_heads").set_value(2).run()
    at.slider(key="uqac_top_k").set_value(2).run()
    at.slider(key="uqac_buffer").set_value(1).run()
    assert not at.exception
    assert calls == []
    assert graph(at)["data"] != before
    assert [metric.value for metric in at.metric if metric.label == "UQAC confidence P̃"] == ["not computed"]

    statistics = session_statistics(at, language_model=True)
    seen = len(statistics.computed(EXPANSION_LOGPROBS))
    at.toggle(key="uqac_live").set_value(True).run()
    # The new chain's expansions: their shared prefix once, then the differing suffixes in one batched forward.
    assert len(statistics.computed(EXPANSION_LOGPROBS)) - seen == 1 and 1 <= len(calls) <= 2
    for key, value in (("uqac_tau", 0.5), ("uqac_top_k", 10), ("uqac_buffer", 3)):
        at.slider(key=key).set_value(value).run()
    at.select_slider(key="uqac_heads").set_value(16).run()
    new = len(statistics.computed(EXPANSION_LOGPROBS)) - seen
    assert new <= len(calls) <= 2 * new  # model calls only for chains not scored before
    settled = len(calls)
    for _ in range(2):
        at.slider(key="uqac_top_k").set_value(2).run()
        at.slider(key="uqac_top_k").set_value(10).run()
    new = len(statistics.computed(EXPANSION_LOGPROBS)) - seen
    assert new <= len(calls) <= 2 * new and len(calls) <= settled + 2
    assert not at.exception


def test_greedy_answer_and_span_override(france_run):
    at = open_page(france_run)
    at.selectbox(key="uqac_choice").set_value(GREEDY).run()
    assert not at.exception
    prompt_ids, greedy = session_statistics(at, language_model=True).cached(GREEDY_ANSWER)
    assert prompt_ids == france_run.prompt_token_ids and greedy.token_ids
    at.multiselect(key=f"uqac_span_{GREEDY}").set_value([0]).run()
    assert not at.exception
    answer = next(trace for trace in graph(at)["data"] if trace.get("name") == "answer token")
    assert [point[0] for point in answer["customdata"]] == [len(prompt_ids)]


def test_run_without_a_loadable_model_gets_one_message(france_run, tmp_path):
    from dataclasses import replace

    run = replace(france_run, model=replace(france_run.model, source=f"local:{tmp_path / 'gone'}"))
    at = open_page(run)
    assert not at.get("plotly_chart")
    assert str(tmp_path / "gone") in shown(at.warning[0].value)
    at.button(key="confirm_run_model").click().run()
    assert any("does not exist" in shown(error.value) for error in at.error)


def test_a_run_naming_a_folder_with_remote_code_loads_it_only_when_confirmed_and_never_runs_its_code(france_run, tmp_path):
    folder = tmp_path / "hostile-model"
    run, marker = naming_hostile_model(france_run, folder)
    at = open_app_page(PAGE, run=run, trust_remote_code=True)
    assert not at.get("plotly_chart") and not at.error
    assert str(folder) in shown(at.warning[0].value)
    held = at.session_state["statistics"] if "statistics" in at.session_state else {}
    assert not any(statistics.has_language_model for statistics in held.values())
    at.button(key="confirm_run_model").click().run()
    assert not at.exception
    assert at.error and not at.get("plotly_chart")
    assert not marker.exists()
