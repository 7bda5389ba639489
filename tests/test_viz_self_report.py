"""Figure and table builders of the Ask the model page: p(True) per answer and the verbalized replies."""

import pytest

from uqviz.measures.self_report import StatedConfidence, VerbalizedDetail, parse_confidence
from uqviz.viz.self_report import answer_label, p_true_figure, verbalized_rows

HOSTILE = "<script>alert('x')</script> & <img src=x onerror=alert(1)>"


def test_p_true_bars_are_the_probabilities_with_the_answer_escaped_in_hover():
    figure = p_true_figure([0.8, 0.05, 1.0], ["Paris", HOSTILE, "Lyon"], "True")
    trace = figure.data[0]
    assert list(trace.y) == [0.8, 0.05, 1.0]
    assert list(trace.x) == ["A1", "A2", "A3"] and list(trace.customdata) == [0, 1, 2]
    assert "p(True) = 0.050" in trace.hovertext[1]
    hover = " ".join(trace.hovertext)
    assert "&lt;script&gt;" in hover and "&lt;img" in hover
    assert "<script>" not in hover and "<img" not in hover
    colours = list(trace.marker.color)
    assert colours[0] != colours[1]  # a doubted answer is coloured apart from a trusted one
    assert tuple(figure.layout.yaxis.range) == (0, 1)


def test_verbalized_rows_keep_the_raw_reply_what_was_read_and_why_not():
    replies = ["Probability: 0.85", "<script>no idea</script>", "Probability: 250"]
    detail = VerbalizedDetail(["ask"] * 3, [parse_confidence(reply) for reply in replies])
    rows = verbalized_rows(detail, ["Paris", "Lyon", "Nice"])
    assert [row["reply"] for row in rows] == replies  # raw text: the table cell shows it as plain text
    assert rows[0]["confidence"] == pytest.approx(0.85) and rows[0]["why not read"] == ""
    assert rows[1]["confidence"] is None and "no number" in rows[1]["why not read"]
    assert rows[2]["confidence"] is None and "not a probability" in rows[2]["why not read"]
    assert [row["answer"] for row in rows] == ["A1", "A2", "A3"] and rows[2]["answer text"] == "Nice"
    one = verbalized_rows(VerbalizedDetail(["q"], [StatedConfidence("Guess: Paris\nProbability: 0.9", 0.9)]))
    assert one == [{"reply": "Guess: Paris\nProbability: 0.9", "confidence": 0.9, "why not read": ""}]


def test_answer_label_is_numbered_shortened_and_names_empty_answers():
    assert answer_label(0, "Paris\n is  nice") == "A1: Paris is nice"
    assert answer_label(2, "") == "A3: ∅ (empty answer)"
    label = answer_label(1, "word " * 40, width=20)
    assert label.startswith("A2: word") and label.endswith("…") and len(label) == len("A2: ") + 20
