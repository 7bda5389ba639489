"""Figure and table builders of the overview and batch pages: structure, ordering and escaping."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_run
from uqviz.workflows.batch import BatchSettings, build_report, ranked_measures
from uqviz.measures.cocoa import cocoa
from uqviz.measures.registry import REGISTRY
from uqviz.measures.self_certainty import borda_vote
from uqviz.scoring.scores import score_run
from uqviz.viz.overview import (
    borda_figure,
    calibration_figure,
    cocoa_figure,
    group_representatives,
    hover_text,
    measures_frame,
    ranked_measures_figure,
    ranked_measures_frame,
    risk_coverage_figure,
    roc_figure,
    short_label,
    token_logprob_figure,
    voting_labels,
)

NAMES = list(REGISTRY)


def test_texts_are_escaped_wrapped_and_shortened():
    assert hover_text("<script>x</script>") == "&lt;script&gt;x&lt;/script&gt;"
    assert hover_text("word " * 30, width=20).count("<br>") >= 5
    # 11 characters of "a <b> bold</b> …" and an ellipsis, then escaped.
    assert short_label("a <b>\nbold</b> answer that goes on and on and on", 12) == "a &lt;b&gt; bold&lt;…"


def test_voting_labels_by_text_or_cluster_and_representatives():
    answers = ["Paris.", "the paris", "Lyon", ""]
    assert voting_labels(answers) == ["paris", "paris", "lyon", None]
    assert voting_labels(answers, [0, 0, 1, 2]) == ["meaning 1", "meaning 1", "meaning 2", "meaning 3"]
    assert group_representatives(answers, voting_labels(answers)) == {"paris": "Paris.", "lyon": "Lyon"}


def test_borda_figure_highlights_the_chosen_group_and_escapes_answers():
    answers = ["<b>A</b>", "B", "<b>A</b>", "C"]
    result = borda_vote([0.9, 0.8, 0.3, 0.5], answers, 0.5)
    figure = borda_figure(result, group_representatives(answers, answers))
    bar = figure.data[0]
    assert list(bar.x) == ["&lt;b&gt;A&lt;/b&gt;", "B", "C"]
    assert list(bar.y) == pytest.approx([3.0, 1.732051, 1.414214], abs=1e-6)
    assert bar.marker.color[0] != bar.marker.color[1] == bar.marker.color[2]


def test_token_figure_escapes_tokens_and_marks_quantile_and_average():
    run = make_run(["<i> x"], logprobs=[[-0.5, -1.5]])
    figure = token_logprob_figure(run.samples[0], alpha=0.0)
    assert "&lt;i&gt;" in figure.data[0].customdata[0]
    assert sorted(shape.y0 for shape in figure.layout.shapes) == pytest.approx([-1.5, -1.0])


def test_measures_frame_rows_follow_the_scores_and_percentiles():
    run = make_run(["a", "b"], logprobs=[[-1.0], [-3.0]])
    scores = score_run(run, names=["predictive_entropy", "chow_sum"])
    frame = measures_frame(scores, [{"predictive_entropy": 1.0}, {"predictive_entropy": 3.0}, {"predictive_entropy": None}])
    assert list(frame["name"]) == ["predictive_entropy", "chow_sum"]
    # PE = (1 + 3) / 2 = 2: one of the two batch values is at or below it.
    assert frame.loc[0, "U"] == pytest.approx(2.0) and frame.loc[0, "percentile in batch"] == pytest.approx(50.0)
    assert pd.isna(frame.loc[1, "percentile in batch"])  # chow_sum has no batch values


@pytest.fixture
def report():
    rows = []
    for index, (correct, good, bad) in enumerate([(1, 0.1, 0.9), (0, 0.9, 0.1), (1, 0.2, 0.7), (0, 0.8, 0.3)]):
        row = {name: None for name in NAMES}
        row.update(question=f"q{index}", correct=correct, samples=[], reasons={}, **{NAMES[0]: good, NAMES[1]: bad})
        rows.append(row)
    return build_report(rows, BatchSettings(), "m")


def test_ranked_measures_best_first(report):
    ranked = ranked_measures(report)
    frame = ranked_measures_frame(ranked)
    assert list(frame["name"][:2]) == [NAMES[0], NAMES[1]] and list(frame["AUROC"][:2]) == [1.0, 0.0]
    figure = ranked_measures_figure(ranked)
    auroc_bars = figure.data[0]
    assert list(auroc_bars.customdata) == [NAMES[1], NAMES[0]]  # plotly draws the last bar on top
    assert len(auroc_bars.y) == 2


def test_curves_only_for_measures_that_have_them(report):
    measures = report["measures"]
    roc = roc_figure(measures, [NAMES[0], NAMES[2]])
    assert len(roc.data) == 2 and roc.data[1].name.endswith("(1.000)")
    risk = risk_coverage_figure(measures, [NAMES[0]], report["accuracy"])
    assert list(risk.data[0].y) == [0.0, 0.0, pytest.approx(1 / 3), 0.5]
    calibration = calibration_figure(NAMES[0], measures[NAMES[0]])
    assert sum(calibration.data[1].customdata[:, 0]) == 4


def test_cocoa_scatter_plots_own_uncertainty_against_dissimilarity_and_escapes_answers():
    answers = ["<script>alert(1)</script> Paris", "Paris", "Lyon " * 80]
    affinity = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.4], [0.2, 0.4, 1.0]])
    result = cocoa([1.0, 0.5, 2.0], affinity, "max(0, cosine) <b>x</b>")
    figure = cocoa_figure(answers, result.detail, result.per_sample, "−log p(answer) (nats)")
    points = figure.data[0]
    # d_j = mean over the others of 1 - W: (0.2 + 0.8) / 2, (0.2 + 0.6) / 2, (0.8 + 0.6) / 2
    assert list(points.x) == [1.0, 0.5, 2.0]
    assert list(points.y) == pytest.approx([0.5, 0.4, 0.7])
    assert list(points.marker.color) == pytest.approx([0.5, 0.2, 1.4])
    assert list(points.text) == ["S1", "S2", "S3"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Paris" in points.hovertext[0] and "<script" not in points.hovertext[0]
    assert "CoCoA 0.500" in points.hovertext[0] and "CoCoA 1.400" in points.hovertext[2]
    assert len(points.hovertext[2]) < 400 and "…" in points.hovertext[2]  # a 400-character answer is cut short
    assert figure.layout.title.text == "W: max(0, cosine) &lt;b&gt;x&lt;/b&gt;"
    curve = figure.data[1]  # u · d = the run's CoCoA, (0.5 + 0.2 + 1.4) / 3 = 0.7
    assert list(np.asarray(curve.x) * np.asarray(curve.y)) == pytest.approx([0.7] * len(curve.x))
    assert "0.700" in curve.name
