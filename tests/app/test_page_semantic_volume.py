"""AppTest of the Semantic volume page: internal volume at once, external after pasting or generating perturbations."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import make_run
from uqviz.measures.eigenscore import eigenscore
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import RunStatistics
from uqviz.viz.volume import eigenscore_spectrum_figure

PAGE = "pages/semantic_volume.py"
ANSWERS = ["Paris is the capital.", "<b>Lyon</b> & Marseille", "The capital is Paris.", "I do not know."]


def volume_page(**state) -> AppTest:
    run = replace(make_run(ANSWERS, prompt="What is the capital of France?"), sampling_seconds=0.1)
    return open_app_page(PAGE, **{"run": run, **state})


def metric_values(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def charts_by_key(at: AppTest) -> dict[str, dict]:
    """Every plotly chart by its key (the element id ends with the user key)."""
    return {chart.proto.id.split("-", 2)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def test_eigenscore_spectrum_plots_both_spectra_largest_first_on_a_log_axis():
    result = eigenscore(np.array([[1.0, 2.0, 0.5, 0.0], [0.9, 2.1, 0.4, 0.1], [-1.0, 0.0, 3.0, 1.0]]), alpha=1e-3)
    volume = np.array([0.1, 2.5, 0.0])
    figure = eigenscore_spectrum_figure(result.detail.eigenvalues, 1e-3, volume, 1e-2)
    inside, outside = figure.data
    assert list(inside.y) == pytest.approx(sorted(result.detail.eigenvalues, reverse=True))
    assert list(outside.y) == pytest.approx([2.51, 0.11, 0.01])  # λ + ε, what log det sums
    assert list(inside.x) == [1, 2, 3] and figure.layout.yaxis.type == "log"
    assert "EigenScore" in inside.name and "volume" in outside.name
    alone = eigenscore_spectrum_figure([4.0, 0.0, 1.0], 0.0)
    assert len(alone.data) == 1 and list(alone.data[0].y) == [4.0, 1.0, None]  # a log axis has no place for 0


@pytest.mark.slow
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
    # a hand-made run has no model in this session: one sentence for EigenScore, no spectrum
    assert any(shown(info.value).startswith("EigenScore is not available for this run: needs the language model itself")
               for info in at.info)
    assert "eigenscore_spectrum" not in charts_by_key(at)

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


@pytest.mark.slow
def test_settings_change_the_volume_without_re_embedding():
    at = volume_page()
    before = float(metric_values(at)["Internal volume (answers)"].split()[0])
    at.select_slider(key="volume_epsilon").set_value(1e-1)
    at.run()
    assert not at.exception
    after = float(metric_values(at)["Internal volume (answers)"].split()[0])
    assert after > before
    assert any("embeddings cached" in caption.value for caption in at.caption)


@pytest.mark.slow
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


@pytest.mark.slow
def test_eigenscore_spectrum_from_the_runs_scores_beside_the_volume(france_run, language_model):
    at = open_app_page(PAGE, run=france_run, run_language_model=lambda: language_model)
    assert not at.exception and not at.error
    scored = at.session_state["scores"][1].measures["eigenscore"].result
    expected = REGISTRY["eigenscore"].compute(RunStatistics(france_run, language_model=language_model))
    assert scored.value == pytest.approx(expected.value, abs=1e-6)
    assert float(metric_values(at)["EigenScore"]) == pytest.approx(expected.value, abs=1e-3)
    figure = charts_by_key(at)["eigenscore_spectrum"]
    inside, outside = figure["data"]
    assert inside["y"] == pytest.approx(sorted(expected.detail.eigenvalues, reverse=True), rel=1e-6)
    assert figure["layout"]["yaxis"]["type"] == "log"
    volume = REGISTRY["semantic_volume"].compute(session_statistics(at, language_model=True)).detail
    assert outside["y"] == pytest.approx(sorted(np.asarray(volume.eigenvalues) + volume.epsilon, reverse=True))
    assert expected.detail.position == "producing_step"
    caption = next(caption.value for caption in at.caption if "produced each answer's last token" in caption.value)
    assert f"hidden_states[{expected.detail.layer}]" in caption and f"d = {expected.detail.dimensions}" in caption
