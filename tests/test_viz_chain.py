"""The attention-chain figures: structure of the graph, escaping of model text, the click handler, the expansion table."""

from dataclasses import replace

import numpy as np
import pytest

from tests.test_measures_rauq import PREVIOUS, PROBABILITIES
from tests.test_measures_uqac import toy_pass
from uqviz.measures.uqac import UqacDetail, build_chain, expansions_from_logprobs
from uqviz.statistics.base import ScoreConfig
from uqviz.measures.rauq import rauq
from uqviz.viz.chain import (
    chain_figure,
    chain_text_html,
    expansion_rows,
    previous_token_figure,
    rauq_confidence_figure,
    selected_position,
    token_detail_html,
)

EVIL = "<img src=x onerror=alert(1)>"


def toy_chain(tokens=None):
    attention = toy_pass()
    if tokens is not None:
        attention = replace(attention, tokens=tokens)
    return build_chain(attention, ScoreConfig(uqac_min_extra=2))


def test_graph_places_nodes_by_position_and_step_with_bucketed_edges():
    chain = toy_chain()
    figure = chain_figure(chain)
    traces = {trace.name: trace for trace in figure.data}
    assert list(traces["answer token"].x) == [9] and list(traces["answer token"].y) == [0]
    assert list(traces["chain token"].x) == [3, 5] and list(traces["chain token"].y) == [-2, -1]
    assert [c[0] for c in traces["chain token"].customdata] == [3, 5]
    assert list(traces["chain token"].marker.color) == pytest.approx([0.8, 0.95])
    # edges 9 → 5 (0.6) and 5 → 3 (0.5) both fall in the ≥ 0.5 bucket: one trace, two segments
    edge_traces = [trace for trace in figure.data if trace.mode == "lines"]
    assert [trace.name for trace in edge_traces] == ["attention ≥ 0.5"]
    assert list(edge_traces[0].x) == [9, 5, None, 5, 3, None]
    assert list(edge_traces[0].y) == [0, -1, None, -1, -2, None]
    assert figure.layout.xaxis.range == (-0.5, 9.5)
    reweighted = replace(chain, backtrack=replace(chain.backtrack, edges=[(8, 5, 0.6), (4, 3, 0.05), (8, 3, 0.3)]))
    lines = [trace for trace in chain_figure(reweighted).data if trace.mode == "lines"]
    assert [trace.name for trace in lines] == ["attention 0–0.1", "attention 0.25–0.5", "attention ≥ 0.5"]
    assert [trace.line.width for trace in lines] == sorted(trace.line.width for trace in lines)
    assert list(lines[0].x) == [5, 3, None]


def test_every_model_text_is_escaped():
    tokens = ["<s>", "Q", ":", EVIL, " has", " 3", " apples", " so", " answer", " 3"]
    chain = toy_chain(tokens)
    figure = chain_figure(chain)
    rendered = figure.to_json()
    assert "<img" not in rendered and "&lt;img" in rendered
    body = chain_text_html(chain)
    assert "<img" not in body and "&lt;img src=x" in body
    assert body.count("uqviz-token") == 7
    detail = token_detail_html(chain, 3)
    assert "<img" not in detail and "&lt;img" in detail


def test_selected_position_reads_node_customdata_only():
    assert selected_position({"points": [{"customdata": [5], "curve_number": 2}]}, 10) == 5
    assert selected_position({"points": [{"point_index": 1}, {"customdata": 7}]}, 10) == 7
    assert selected_position({"points": [{"customdata": [12]}]}, 10) is None
    assert selected_position({"points": []}, 10) is None
    assert selected_position(None, 10) is None


def test_expansion_rows_name_each_swap():
    chain = toy_chain()
    logprobs = np.log([[0.8, 0.95, 0.9], [0.15, 0.9, 0.2], [0.8, 0.04, 0.5]])
    expansions = expansions_from_logprobs(logprobs, chain.rows, chain.answer_sources, chain.similarity_sources, chain.replacements)
    rows = expansion_rows(UqacDetail(chain, expansions, 0.0))
    assert [row["expansion"] for row in rows] == ["original", "'Alice' → '<30>' @ 3", "' 3' → '<31>' @ 5"]
    assert [row["P(answer)·P(chain)"] for row in rows] == pytest.approx([0.684, 0.027, 0.016])
    assert rows[0]["p(swap)"] is None and rows[1]["p(swap)"] == pytest.approx(0.15)


def worked_rauq(tokens=("The", " capital", " is", " Paris")):
    """docs/methods.md §12.10's worked example, with layer 1's head 1 dropped so that layer 1 gives U."""
    previous = PREVIOUS.copy()
    previous[1, 1, 0] = 0.05
    return rauq(PROBABILITIES, previous, 0.5, list(tokens))


def test_previous_token_heat_map_marks_rauqs_heads_and_the_layer_giving_u():
    detail = worked_rauq()
    figure = previous_token_figure(detail)
    heat, heads, chosen = figure.data
    assert heat.type == "heatmap"
    np.testing.assert_allclose(np.asarray(heat.z), [[0.8 / 1.5, 0.5], [0.2, 1.55 / 3]])
    assert list(heat.x) == [0, 1] and list(heat.y) == [0, 1]
    assert heads.name == "RAUQ's head" and list(heads.x) == [0, 1] and list(heads.y) == [0, 1]
    np.testing.assert_allclose(heads.customdata, detail.layer_uncertainty)
    assert list(chosen.x) == [1] and list(chosen.y) == [1]  # layer 1's head 1: its U_l = 1.701193 is the largest
    assert "1.701" in chosen.hovertemplate
    assert figure.layout.yaxis.autorange == "reversed"


def test_rauq_confidence_shows_the_chosen_layers_c_and_p_under_escaped_tokens():
    detail = worked_rauq(("<s>", EVIL, " is", " Paris"))
    figure = rauq_confidence_figure(detail)
    bars, probabilities = figure.data
    np.testing.assert_allclose(bars.y, [0.9, 0.2725, 0.495375, 0.49815])
    assert bars.name == "c_i (layer 1, head 1)"
    np.testing.assert_allclose(probabilities.y, PROBABILITIES)
    assert list(figure.layout.xaxis.tickvals) == [0, 1, 2, 3]
    rendered = figure.to_json()
    assert "<img" not in rendered and "<s>" not in rendered and "&lt;img" in rendered and "&lt;s&gt;" in rendered
