"""SAR figure builders: values per colour mode, escaping, shift figure ids, click handler, g_jk heatmap, tables."""

import json
from dataclasses import replace

import numpy as np
import pytest
from plotly.colors import sample_colorscale

from tests.conftest import make_run
from uqviz.measures.sar import sar, sent_sar, token_sar
from uqviz.viz.sar import (
    COLOUR_SCALES,
    CONTRIBUTION,
    CSL_WEIGHTS,
    MARS_WEIGHTS,
    RELEVANCE,
    SAR_WEIGHTS,
    SURPRISAL,
    mover_rows,
    per_sample_rows,
    sar_legend_html,
    sar_tokens_html,
    selected_sample,
    shift_figure,
    similarity_heatmap,
    token_colour_values,
    token_weights_figure,
    top_movers,
)

HOSTILE = "<img src=x onerror=alert(1)>"


def example():
    run = make_run(["Paris is nice", "Lyon"], [[-0.1, -2.0, -0.5], [-1.0]])
    run = replace(run, samples=[replace(run.samples[0], tokens=["Paris", " is", " nice"]), run.samples[1]])
    return run, token_sar(run_logprobs(run), [[0.1, 0.8, 0.4], [0.0]])


def run_logprobs(run):
    return [sample.logprobs for sample in run.samples]


def test_colour_values_follow_the_mode():
    run, result = example()
    assert token_colour_values(run, result.detail, RELEVANCE)[0] == pytest.approx([0.076923, 0.615385, 0.307692], abs=1e-6)
    assert token_colour_values(run, result.detail, SURPRISAL) == [[0.1, 2.0, 0.5], [1.0]]
    assert token_colour_values(run, result.detail, CONTRIBUTION)[0] == pytest.approx([0.1 / 13, 16 / 13, 2 / 13])
    with pytest.raises(ValueError, match="colour mode"):
        token_colour_values(run, result.detail, "rainbow")


def test_token_html_has_one_span_per_token_and_relevance_in_the_hover():
    run, result = example()
    blocks = sar_tokens_html(run, result.detail, RELEVANCE)
    assert [block.count('class="uqviz-token"') for block in blocks] == [3, 1]
    assert "relevance R = 0.800, weight R̃ = 0.615 (uniform 1/n = 0.333)" in blocks[0]
    assert "contribution R̃·(−log p) = 1.231 nats" in blocks[0]
    assert "uniform weights" in blocks[1]  # the one-token answer with R = 0 falls back
    # R̃ is normalised per answer, so each answer's most relevant token gets the top colour of the scale;
    # −log p shares one scale over the run, so only the run's least likely token gets it.
    top = sample_colorscale(COLOUR_SCALES[RELEVANCE], [1.0])[0]
    assert [block.count(f"background:{top}") for block in blocks] == [1, 1]
    top = sample_colorscale(COLOUR_SCALES[SURPRISAL], [1.0])[0]
    assert [block.count(f"background:{top}") for block in sar_tokens_html(run, result.detail, SURPRISAL)] == [1, 0]
    assert "2.000 (−log p)" in sar_legend_html(run, result.detail, SURPRISAL)


def test_hostile_tokens_are_escaped_in_html_and_hover_labels():
    run = make_run([f"{HOSTILE} ok"], [[-1.0, -0.5]])
    run = replace(run, samples=[replace(run.samples[0], tokens=[HOSTILE, " ok"])])
    result = token_sar(run_logprobs(run), [[0.5, 0.1]])
    html = sar_tokens_html(run, result.detail, CONTRIBUTION)[0]
    assert "<img" not in html and "&lt;img" in html
    figures = [shift_figure(run, result.detail), similarity_heatmap(np.eye(1), [s.text for s in run.samples])]
    for figure in figures:
        text = json.dumps(figure.to_plotly_json(), default=str)
        assert "<img" not in text and "&lt;img" in text


def test_shift_figure_pairs_ln_pe_with_token_sar_and_carries_sample_ids():
    run, result = example()
    figure = shift_figure(run, result.detail)
    lines, ln_pe, token_level = figure.data
    assert list(ln_pe.x) == pytest.approx([0.866667, 1.0], abs=1e-6)
    assert list(token_level.x) == pytest.approx([1.392308, 1.0], abs=1e-6)
    assert [row[0] for row in token_level.customdata] == [0, 1]
    assert list(lines.x[:2]) == pytest.approx([0.866667, 1.392308], abs=1e-6) and lines.x[2] is None
    assert "moved most by: &#x27; is&#x27; +0.564" in token_level.hovertext[0]


def test_selected_sample_reads_the_id_from_customdata():
    assert selected_sample({"points": [{"customdata": [3], "point_index": 0}]}) == 3
    assert selected_sample({"points": [{"customdata": 2}]}) == 2
    assert selected_sample({"points": [{"point_index": 1}]}) is None
    assert selected_sample({"points": []}) is None
    assert selected_sample(None) is None


def test_movers_are_sorted_by_absolute_shift():
    run, result = example()
    movers = top_movers(run.samples[0], result.detail.shifts[0])
    assert [token for _, token, _ in movers] == [" is", "Paris", " nice"]
    rows = mover_rows(run.samples[0], result.detail, 0)
    assert rows[0]["position"] == 1 and rows[0]["shift"] == pytest.approx((0.615385 - 1 / 3) * 2.0, abs=1e-6)
    assert sum(row["shift"] for row in rows) == pytest.approx(1.392308 - 0.866667, abs=1e-6)


def test_similarity_heatmap_leaves_the_diagonal_blank():
    matrix = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    figure = similarity_heatmap(matrix, ["a", "b", "c"])
    heatmap = figure.data[0]
    assert heatmap.type == "heatmap" and (heatmap.zmin, heatmap.zmax) == (0.0, 1.0)
    assert [list(row) for row in heatmap.z] == [[None, 0.9, 0.1], [0.9, None, 0.2], [0.1, 0.2, None]]
    assert list(heatmap.x) == ["S1", "S2", "S3"]


def test_per_sample_rows_hold_e_s_and_e():
    run, result = example()
    matrix = np.array([[1.0, 0.5], [0.5, 1.0]])
    sentence = sent_sar(run_logprobs(run), matrix, 1.0)
    both = sar(run_logprobs(run), [[0.1, 0.8, 0.4], [0.0]], matrix, 1.0)
    rows = per_sample_rows(run, result.detail, sentence.detail, both.detail)
    assert [row["E_S (SentSAR)"] for row in rows] == pytest.approx(sentence.per_sample)
    assert [row["E (SAR)"] for row in rows] == pytest.approx(both.per_sample)
    assert [row["TokenSAR"] for row in rows] == pytest.approx(result.per_sample)
    assert rows[0]["log p"] == pytest.approx(-2.6)


def weights_example():
    run, _ = example()
    return run.samples[0], {SAR_WEIGHTS: [0.1, 0.8, 0.4], CSL_WEIGHTS: [0.35, 0.425, 0.225], MARS_WEIGHTS: [0.205128, 0.474359, 0.320513]}


def test_token_weights_figure_has_one_bar_per_weighting_each_summing_to_one():
    sample, weights = weights_example()
    figure = token_weights_figure(sample, weights)
    assert [trace.name for trace in figure.data] == [SAR_WEIGHTS, CSL_WEIGHTS, MARS_WEIGHTS]
    assert figure.data[0].y == pytest.approx([1 / 13, 8 / 13, 4 / 13])  # raw relevance R is normalised to R̃
    assert [sum(trace.y) for trace in figure.data] == pytest.approx([1.0, 1.0, 1.0])
    assert list(figure.layout.xaxis.ticktext) == ["&#x27;Paris&#x27;", "&#x27; is&#x27;", "&#x27; nice&#x27;"]
    assert figure.layout.shapes[0].y0 == pytest.approx(1 / 3)  # the uniform 1/n line
    assert "CSL attention weight: 0.425 (uniform 1/n = 0.333)" in figure.data[1].hovertext[1]


def test_token_weights_figure_leaves_out_a_missing_weighting_and_falls_back_to_uniform():
    sample, weights = weights_example()
    figure = token_weights_figure(sample, {**weights, CSL_WEIGHTS: None, SAR_WEIGHTS: [0.0, 0.0, 0.0]})
    assert [trace.name for trace in figure.data] == [SAR_WEIGHTS, MARS_WEIGHTS]
    assert figure.data[0].y == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="2 weights for 3 tokens"):
        token_weights_figure(sample, {CSL_WEIGHTS: [0.5, 0.5]})


def test_token_weights_figure_escapes_tokens_and_shows_an_empty_answer():
    sample, _ = weights_example()
    hostile = replace(sample, tokens=[HOSTILE, " is", " nice"])
    text = json.dumps(token_weights_figure(hostile, {MARS_WEIGHTS: [0.2, 0.5, 0.3]}).to_plotly_json())
    assert "<img" not in text and "&lt;img" in text
    empty = replace(sample, tokens=[], logprobs=[], token_ids=[])
    figure = token_weights_figure(empty, {SAR_WEIGHTS: [], CSL_WEIGHTS: None})
    assert [len(trace.y) for trace in figure.data] == [0]
    assert "empty answer" in figure.layout.annotations[0].text
