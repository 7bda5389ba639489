"""Figure, table and HTML builders of the Token alternatives (CCP) view: the values drawn, and escaping."""

import json
import math

import pytest

from uqviz.measures.ccp import TokenCcp
from uqviz.models.nli import CONTRADICTION as C, ENTAILMENT as E, NEUTRAL as N
from uqviz.viz.alternatives import CHANGE_ROW, SURPRISAL_ROW, alternatives_rows, ccp_figure, ccp_tokens_html

HOSTILE = "<script>alert(1)</script>"
PARIS_CCP = math.exp(-0.2) / (math.exp(-0.2) + math.exp(-1.8) + math.exp(-3.0))
# "The → A" is neutral and harmless though "The" is unlikely; "Paris → Lyon" contradicts; the hostile token keeps it.
TOKENS = [
    TokenCcp(0, 1.0, ["The", "A"], [-0.9, -1.1], [E, N]),
    TokenCcp(1, PARIS_CCP, [" Paris", " Lyon", HOSTILE], [-0.2, -1.8, -3.0], [E, C, C]),
    TokenCcp(2, 0.75, [HOSTILE, "."], [-2.5, -0.4], [E, E]),
]


def strings(value):
    """Every string inside a decoded figure spec."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_rows_plot_one_minus_ccp_and_surprisal_per_token():
    figure = ccp_figure(TOKENS)
    change, surprisal = figure.data
    assert list(change.y) == [CHANGE_ROW] and list(surprisal.y) == [SURPRISAL_ROW]
    assert list(change.z[0]) == pytest.approx([0.0, 1 - PARIS_CCP, 0.25])
    assert list(surprisal.z[0]) == pytest.approx([0.9, 0.2, 2.5])
    assert list(change.x) == list(surprisal.x) == [1, 2, 3]
    assert (change.zmin, change.zmax) == (0.0, 1.0)
    assert surprisal.zmax == pytest.approx(2.5)
    assert figure.layout.xaxis2.tickvals == (1, 2, 3)


def test_hover_lists_the_alternatives_with_probability_and_label():
    hover = ccp_figure(TOKENS).data[0].text[0][1]
    assert f"CCP = {PARIS_CCP:.3f}" in hover and "−log p = 0.200" in hover
    assert f"&#x27; Lyon&#x27;: p={math.exp(-1.8):.3f}, contradiction" in hover
    assert "no other likely token" not in hover
    assert ccp_figure([TokenCcp(0, 1.0, ["x"], [-0.1], [E])]).data[0].text[0][0].endswith("no other likely token")


def test_hostile_token_text_is_escaped_in_ticks_hover_and_spans():
    figure = ccp_figure(TOKENS)
    ticks = figure.layout.xaxis2.ticktext
    assert ticks[0] == "The" and ticks[2].startswith("&lt;script&gt;")
    texts = list(strings(json.loads(figure.to_json())))  # to_json writes < as \u003c: compare the decoded strings
    assert not any("<script" in text for text in texts)
    assert "&lt;script&gt;" in figure.data[0].text[0][1] and "&lt;script&gt;" in figure.data[1].text[0][2]
    html = ccp_tokens_html(TOKENS)
    assert html.count('class="uqviz-token"') == 3
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_table_has_one_row_per_alternative():
    rows = alternatives_rows(TOKENS)
    assert [(row["position"], row["alternative"], row["label"]) for row in rows] == [
        (1, "'A'", N), (2, "' Lyon'", C), (2, repr(HOSTILE), C), (3, "'.'", E),
    ]
    assert [row["probability"] for row in rows] == pytest.approx([math.exp(-1.1), math.exp(-1.8), math.exp(-3.0), math.exp(-0.4)])
    assert rows[1]["token p"] == pytest.approx(math.exp(-0.2)) and rows[1]["CCP of the token"] == pytest.approx(PARIS_CCP)
