"""AppTest of the Semantic volume page: internal volume at once, external after pasting or generating perturbations."""

import json
import math
from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, shown
from tests.conftest import make_run

pytestmark = pytest.mark.slow
PAGE = "pages/semantic_volume.py"
ANSWERS = ["Paris is the capital.", "<b>Lyon</b> & Marseille", "The capital is Paris.", "I do not know."]


def volume_page(**state) -> AppTest:
    run = replace(make_run(ANSWERS, prompt="What is the capital of France?"), sampling_seconds=0.1)
    return open_app_page(PAGE, **{"run": run, **state})


def metric_values(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_internal_volume_first_then_external_after_pasting():
    at = volume_page()
    values = metric_values(at)
    internal = values["Internal volume (answers)"]
    assert math.isfinite(float(internal.split()[0]))
    assert values["External volume (perturbations)"] == "—"
    assert any("no perturbations" in shown(info.value) for info in at.info)
    charts = figures(at)
    gram = next(chart for chart in charts if chart["data"][0]["type"] == "heatmap")
    hover = json.dumps(gram["data"][0]["text"])
    assert "&lt;b&gt;Lyon&lt;/b&gt; &amp; Marseille" in hover and "<b>Lyon" not in hover
    assert any("cosine" in markdown.value and "nats for 4 answers" in markdown.value for markdown in at.markdown)
    assert any("Link to semantic entropy" in markdown.value for markdown in at.markdown)

    pasted = "1. Which city is the capital of France?\n2. What is France's capital city?\n3. Name the French capital."
    at.text_area(key="volume_paste").input(pasted)
    at.button(key="volume_use_pasted").click()
    at.run()
    assert not at.exception
    assert at.session_state["run"].perturbations == [
        "Which city is the capital of France?", "What is France's capital city?", "Name the French capital.",
    ]
    values = metric_values(at)
    assert values["Internal volume (answers)"] == internal
    assert math.isfinite(float(values["External volume (perturbations)"].split()[0]))
    charts = figures(at)
    assert sum(chart["data"][0]["type"] == "heatmap" for chart in charts) == 2
    curve = next(chart for chart in charts if any(trace.get("name") == "perturbations" for trace in chart["data"]))
    assert {trace["name"] for trace in curve["data"]} >= {"answers", "perturbations", "all identical"}


def test_settings_change_the_volume_without_re_embedding():
    at = volume_page()
    before = float(metric_values(at)["Internal volume (answers)"].split()[0])
    at.select_slider(key="volume_epsilon").set_value(1e-1)
    at.run()
    assert not at.exception
    after = float(metric_values(at)["Internal volume (answers)"].split()[0])
    assert after > before
    assert any("embeddings cached" in caption.value for caption in at.caption)


def test_generate_perturbations_with_the_model():
    at = volume_page()
    at.number_input(key="volume_perturbation_count").set_value(2)
    at.number_input(key="volume_perturbation_tokens").set_value(12)
    at.button(key="volume_generate").click()
    at.run()
    assert not at.exception
    perturbations = at.session_state["run"].perturbations
    assert perturbations and len(perturbations) <= 2
    assert any("Generated" in status.label for status in at.status)
    assert metric_values(at)["External volume (perturbations)"] != "—"
