"""Claims view builders: tinted answers keep every character and escape it, the matrix has one square per claim and
answer, and a claim's kind follows the other answers' labels."""

import numpy as np

from uqviz.statistics.claims import Claim, ClaimSupport
from uqviz.viz.claims import CONSENSUS, LONELY, SOME, claim_kind, claim_matrix_figure, tinted_answer_html

TEXT = "Paris <b>is</b> big. It has 2.1 million people & more."
CLAIMS = [Claim(0, 0, "Paris <b>is</b> big.", 0, 20, None, None), Claim(0, 1, "It has 2.1 million people & more.", 21, 54, None, None)]


def test_claim_kind_counts_only_the_other_answers():
    assert claim_kind(["", "entailment", "entailment", "neutral"]) == CONSENSUS
    assert claim_kind(["", "entailment", "neutral", "contradiction"]) == SOME
    assert claim_kind(["", "neutral", "contradiction"]) == LONELY
    assert claim_kind([""]) == LONELY  # no other answer: nothing backs it


def test_tinted_answers_escape_and_keep_the_text_between_claims():
    body = tinted_answer_html(TEXT, CLAIMS, [0.9, None], ["consensus", "lonely"])
    assert "<b>" not in body and "&lt;b&gt;is&lt;/b&gt;" in body and "&amp; more." in body
    assert body.count('class="uqviz-claim"') == 2 and "#eeeeee" in body  # unknown support is grey
    assert 'title="S1·1: consensus, support 0.900"' in body


def test_the_matrix_has_one_square_per_claim_and_answer_and_clicks_give_the_claim_row():
    labels = np.array([["", "entailment", "contradiction"], ["", "neutral", "neutral"]], dtype=object)
    probabilities = np.full((2, 3, 3), np.nan)
    probabilities[:, 1:] = [0.1, 0.2, 0.7]
    figure = claim_matrix_figure(CLAIMS, ClaimSupport(probabilities, labels), [TEXT, "<i>x</i>", "y"])
    traces = {trace.name: trace for trace in figure.data}
    assert [len(trace.x) for trace in figure.data] == [1, 2, 1, 2]  # backs, says nothing, contradicts, own answer
    assert list(traces["contradicts it"].customdata[0]) == [0] and list(traces["backs it"].x) == ["S2"]
    assert all("<i>" not in text for trace in figure.data for text in trace.hovertext)
