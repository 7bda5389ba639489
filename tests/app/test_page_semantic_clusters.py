"""The Semantic clusters page (AppTest) and its pure figure builders and click handler."""

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import make_run
from uqviz.statistics.clustering import answer_clustering
from uqviz.measures.kernel_entropy import kernel_language_entropy, nli_graph
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.affinity import ANSWER_NLI_PROBABILITIES
from uqviz.statistics.base import RunStatistics, ScoreConfig
from uqviz.viz.clusters import (
    cluster_colour,
    cluster_rows,
    hover_text,
    laplacian_spectrum_figure,
    meaning_map_figure,
    pairwise_heatmap_figure,
    selected_sample_id,
)

PAGE = "pages/semantic_clusters.py"
ANSWERS = [
    "Paris",
    "It is Paris.",
    "The capital of France is Paris.",
    "Lyon",
    "<script>alert('x')</script> Berlin & Bonn",
    "The mitochondria is the powerhouse of the cell.",
]


def test_selected_sample_id_reads_customdata_and_rejects_the_rest():
    assert selected_sample_id(None, 3) is None
    assert selected_sample_id({"points": []}, 3) is None
    assert selected_sample_id({"points": [{"customdata": 2, "point_index": 0}]}, 3) == 2
    assert selected_sample_id({"points": [{"customdata": [1]}]}, 3) == 1
    assert selected_sample_id({"points": [{"customdata": 2.0}]}, 3) == 2
    assert selected_sample_id({"points": [{"customdata": 3}]}, 3) is None  # stale id from a bigger run
    assert selected_sample_id({"points": [{"customdata": True}, {"customdata": 0}]}, 3) == 0
    assert selected_sample_id({"points": [{"point_index": 1}]}, 3) is None


def test_hover_text_is_escaped_wrapped_and_shortened():
    text = hover_text("<b>bold</b> " + "word " * 40)
    assert "<b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text
    assert text.count("<br>") >= 2
    assert len(hover_text("x" * 1000)) < 500
    assert hover_text("") == "∅ (empty answer)"


def test_meaning_map_has_one_trace_per_cluster_with_sample_ids():
    coordinates = np.arange(10.0).reshape(5, 2)
    figure = meaning_map_figure(coordinates, ["a", "b", "<i>c</i>", "d", "e"], [0, 1, 0, 2, 1], "umap")
    assert [list(trace.customdata) for trace in figure.data] == [[0, 2], [1, 4], [3]]
    assert list(figure.data[0].x) == [0.0, 4.0] and list(figure.data[0].y) == [1.0, 5.0]
    assert [trace.marker.color for trace in figure.data] == [cluster_colour(0), cluster_colour(1), cluster_colour(2)]
    assert "&lt;i&gt;c&lt;/i&gt;" in figure.data[0].hovertext[1]
    assert figure.data[0].type == "scatter"  # SVG points, clickable in the browser


def test_heatmap_is_ordered_by_cluster_with_one_outline_per_cluster():
    matrix = np.arange(16.0).reshape(4, 4)
    figure = pairwise_heatmap_figure(matrix, [1, 0, 1, 0], "cosine")
    order = [1, 3, 0, 2]
    assert np.asarray(figure.data[0].z) == pytest.approx(matrix[np.ix_(order, order)])
    assert list(figure.data[0].x) == ["S2 · c1", "S4 · c1", "S1 · c2", "S3 · c2"]
    assert [(shape.x0, shape.x1) for shape in figure.layout.shapes] == [(-0.5, 1.5), (1.5, 3.5)]


def test_spectrum_marks_the_kept_eigenvalues():
    figure = laplacian_spectrum_figure([0.0, 0.5, 1.2], threshold=0.9)
    assert list(figure.data[0].y) == [0.0, 0.5, 1.2]
    kept, dropped = figure.data[0].marker.color[0], figure.data[0].marker.color[2]
    assert figure.data[0].marker.color[1] == kept != dropped


def test_cluster_rows_list_members_frequency_and_mass():
    rows = cluster_rows([0, 1, 0], ["a", "b", "a2"], [2 / 3, 1 / 3], [0.9, 0.1])
    assert rows[0] == {"cluster": 1, "size": 2, "frequency |c|/K": 2 / 3, "probability mass p(c)": 0.9, "members": "1, 3", "first answer": "a"}
    assert rows[1]["members"] == "2"
    assert cluster_rows([0], ["a"], [1.0], None)[0]["probability mass p(c)"] is None


def open_page(run, **state) -> AppTest:
    return open_app_page(PAGE, run=run, **state)


def figures(at: AppTest) -> dict[str, dict]:
    """Every plotly chart by its key (the element id ends with the user key)."""
    return {chart.proto.id.split("-", 2)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def plotted(values) -> np.ndarray:
    """A figure's array as plotted: plotly sends numpy arrays as base64 typed arrays."""
    if isinstance(values, dict) and "bdata" in values:
        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return array.reshape([int(size) for size in str(values.get("shape", len(array))).split(",")])
    return np.asarray(values, dtype=np.float64)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.slow
def test_page_draws_map_table_matrix_and_graph_measures(embedder):
    run = make_run(ANSWERS, prompt="Name a city.")
    at = open_page(run, nli_path="")  # the embedding rule: no NLI judge
    expected = RunStatistics(run, embedder=embedder)
    clustering = answer_clustering(expected)
    assert metric(at, "Semantic sets") == str(clustering.count)
    assert float(metric(at, "Semantic entropy")) == pytest.approx(REGISTRY["semantic_entropy"].compute(expected).value, abs=1e-3)
    assert float(metric(at, "Eccentricity (Ecc)")) == pytest.approx(REGISTRY["eccentricity"].compute(expected).value, abs=1e-3)

    charts = figures(at)
    assert set(charts) == {"cluster_map", "cluster_matrix", "laplacian_spectrum"}  # no NLI: no KLE, no density
    assert any(shown(info.value).startswith("Kernel language entropy and semantic density are not computed: it needs NLI "
                                            "probabilities, and meaning is judged by embedding cosine") for info in at.info)
    traces = charts["cluster_map"]["data"]
    assert sorted(i for trace in traces for i in trace["customdata"]) == list(range(len(ANSWERS)))
    assert len(traces) == clustering.count
    hover = " ".join(text for trace in traces for text in trace["hovertext"])
    assert "<script>" not in hover and "&lt;script&gt;" in hover
    assert "UMAP" in charts["cluster_map"]["layout"]["xaxis"]["title"]["text"]
    assert len(charts["cluster_matrix"]["layout"]["shapes"]) == clustering.count
    assert len(charts["laplacian_spectrum"]["data"][0]["x"]) == len(ANSWERS)

    table = at.dataframe[0].value
    assert list(table["cluster"]) == list(range(1, clustering.count + 1))
    assert list(table["size"]) == [len(clustering.members(c)) for c in range(clustering.count)]
    assert table["probability mass p(c)"].sum() == pytest.approx(1.0)
    per_sample = at.dataframe[1].value
    assert list(per_sample["C_Deg"]) == pytest.approx(REGISTRY["degree"].compute(expected).detail.confidence)
    assert not at.error


@pytest.mark.slow
def test_threshold_slider_reclusters_without_embedding_again():
    at = open_page(make_run(ANSWERS[:4], prompt="Name a city."), nli_path="")
    before = int(metric(at, "Semantic sets"))
    calls = session_statistics(at).similarity.calls
    at.slider(key="cluster_threshold").set_value(0.99).run()
    assert not at.exception
    assert int(metric(at, "Semantic sets")) == 4 > before
    assert session_statistics(at).similarity.calls == calls


@pytest.mark.slow
def test_page_with_an_nli_model_offers_the_entailment_rules(tiny_nli):  # noqa: F811
    at = open_page(make_run(["Paris", "Lyon", "Paris", "Nice"], prompt="Capital?"), nli_path=str(tiny_nli("entailment")))
    rule = at.selectbox(key="cluster_rule")
    assert rule.value == "strict"
    assert set(rule.options) >= {"Embedding cosine ≥ threshold, representative assignment"} and len(rule.options) == 5
    assert metric(at, "Semantic sets") == "1"
    assert at.slider(key="cluster_threshold").disabled
    heatmap = figures(at)["cluster_matrix"]
    assert heatmap["data"][0]["colorbar"]["title"]["text"] == "P(row entails column)"
    rule.set_value("embedding").run()
    assert not at.exception
    assert metric(at, "Semantic sets") == "3"


@pytest.mark.slow
def test_bad_nli_path_is_one_sentence_and_is_not_loaded_again_on_a_rerun(tmp_path, monkeypatch):
    from uqviz.models import nli

    attempts = []
    load_nli = nli.load_nli
    monkeypatch.setattr(nli, "load_nli", lambda spec: attempts.append(spec) or load_nli(spec))
    at = open_page(make_run(["Paris", "Lyon"]), nli_path=str(tmp_path / "none"))
    assert any("config.json" in shown(warning.value) and "embedding cosine instead" in shown(warning.value) for warning in at.warning)
    assert at.selectbox(key="cluster_rule").value == "embedding"
    assert not at.error
    at.run()
    assert any("embedding cosine instead" in shown(warning.value) for warning in at.warning)
    assert attempts.count(str(tmp_path / "none")) == 1


@pytest.mark.slow
@pytest.mark.parametrize("answers, sets, lexical", [(["Paris"], "1", "—"), (["", "", "Paris"], "2", "-0.333")])
def test_page_handles_one_sample_and_empty_answers(answers, sets, lexical):
    at = open_page(make_run(answers))
    assert metric(at, "Semantic sets") == sets
    assert metric(at, "Discrete semantic entropy") == ("0.000" if sets == "1" else "0.637")
    assert metric(at, "U = −lexical similarity") == lexical
    assert {"cluster_map", "cluster_matrix", "laplacian_spectrum"} <= set(figures(at))


@pytest.mark.slow
def test_page_without_log_probabilities_still_clusters():
    at = open_page(make_run(["Paris", "Paris", "Lyon"], logprobs=[[], [], []]))  # imported answers: text only
    assert metric(at, "Semantic sets") == "2"
    assert metric(at, "Semantic entropy") == "—"
    assert metric(at, "Discrete semantic entropy") == "0.637"
    assert at.dataframe[0].value["probability mass p(c)"].isna().all()
    assert any("log-probabilities" in caption.value for caption in at.caption)


@pytest.mark.slow
def test_the_packaged_nli_judge_is_the_default_and_separates_facts():
    run = make_run(["The capital of Italy is Rome."] * 2 + ["The capital of Italy is Milan."] * 2, prompt="What is the capital of Italy?")
    at = open_page(run)
    assert not at.exception and not at.warning
    assert at.selectbox(key="cluster_rule").value == "strict"
    assert metric(at, "Semantic sets") == "2"
    assert any("Meaning judge: Strict bidirectional entailment" in caption.value and "packaged NLI judge" in caption.value
               for caption in at.caption)
    matrix = figures(at)["cluster_matrix"]["data"][0]
    assert "column→row: contradiction" in matrix["customdata"][0][-1]


@pytest.mark.slow
def test_kle_slider_recomputes_kle_and_the_page_draws_its_kernel_and_semantic_density(embedder, packaged_nli):
    run = make_run(ANSWERS[:5], prompt="Name a city.")
    at = open_page(run)
    assert not at.exception and not at.error
    expected = RunStatistics(run, ScoreConfig(cluster_rule="strict"), embedder=embedder, nli=packaged_nli)
    weights = nli_graph(ANSWER_NLI_PROBABILITIES(expected))
    before = kernel_language_entropy(weights, 0.3)
    assert at.slider(key="kle_time").value == pytest.approx(0.3)
    assert float(metric(at, "Kernel language entropy (KLE)")) == pytest.approx(before.value, abs=1e-3)
    charts = figures(at)
    kernel = charts["kle_kernel"]["data"][0]
    assert plotted(kernel["z"]) == pytest.approx(before.detail.kernel, abs=1e-9)
    hover = json.dumps(kernel["text"])
    assert "&lt;script&gt;" in hover and "<script>" not in hover
    assert "<b>A1</b>: Paris<br><b>A5</b>: &lt;script&gt;" in kernel["text"][0][4]
    assert plotted(charts["kle_spectrum"]["data"][0]["y"]) == pytest.approx(before.detail.eigenvalues, abs=1e-9)
    density = REGISTRY["semantic_density"].compute(expected)
    assert plotted(charts["semantic_density_chart"]["data"][0]["y"]) == pytest.approx(density.detail.density, abs=1e-6)
    assert float(metric(at, "U = 1 − mean semantic density")) == pytest.approx(density.value, abs=1e-3)

    at.slider(key="kle_time").set_value(1.5).run()
    assert not at.exception
    after = kernel_language_entropy(weights, 1.5)
    assert f"{after.value:.3f}" != f"{before.value:.3f}"
    assert float(metric(at, "Kernel language entropy (KLE)")) == pytest.approx(after.value, abs=1e-3)
    assert plotted(figures(at)["kle_kernel"]["data"][0]["z"]) == pytest.approx(after.detail.kernel, abs=1e-9)
