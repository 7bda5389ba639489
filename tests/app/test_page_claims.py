"""AppTest of the Claims page: claims judged on demand, answers tinted claim by claim, the claim × answer matrix,
one claim's evidence and tokens, and the messages for runs without claims."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import make_run
from uqviz.statistics.claims import CLAIM_SUPPORT, CLAIMS
from uqviz.viz.claims import claim_label

pytestmark = pytest.mark.slow
PAGE = "pages/claims.py"
HOSTILE = "<script>alert(1)</script>"


def open_page(run) -> AppTest:
    return open_app_page(PAGE, run=run)


def matrix(at: AppTest) -> dict | None:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith("-claims_matrix"):
            return json.loads(element.proto.spec)
    return None


def test_claims_are_judged_on_demand_and_drawn_as_answers_matrix_and_detail(france_run):
    at = open_page(france_run)
    assert matrix(at) is None and session_statistics(at).cached(CLAIM_SUPPORT) is None  # nothing judged yet
    at.button(key="claims_judge").click().run()
    assert not at.exception and not at.error
    statistics = session_statistics(at)
    claims, support = CLAIMS(statistics).flat, statistics.cached(CLAIM_SUPPORT)
    assert claims and support is not None
    spec = matrix(at)
    squares = sum(len(trace["x"]) for trace in spec["data"])
    assert squares == len(claims) * len(france_run.samples)  # every other answer once, and the claim's own square
    assert sorted(row[0] for trace in spec["data"] for row in trace["customdata"]) == sorted(
        row for row in range(len(claims)) for _ in france_run.samples)
    html_answers = [element.proto.body for element in at.get("html") if "uqviz-claim" in element.proto.body]
    assert sum(body.count("uqviz-claim") for body in html_answers) == len(claims)
    table = next(frame.value for frame in at.dataframe if "luq_uncertainty" in frame.value.columns)
    assert list(table["claim"]) == [claim.text for claim in claims]

    last = len(claims) - 1
    at.selectbox(key="claims_selected").set_value(last).run()  # what a click on the matrix sets
    assert not at.exception
    assert any(claim_label(claims[last], 80) in shown(header.value) for header in at.subheader)
    evidence = next(frame.value for frame in at.dataframe if "its closest sentence" in frame.value.columns)
    others = {claim.sample for claim in claims if claim.sample != claims[last].sample}
    assert {int(name[1:]) - 1 for name in evidence["answer"]} == others
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Support"] == f"{table['support'].iloc[last]:.3f}"


def test_hostile_answers_stay_text_and_a_run_without_sentences_says_so():
    at = open_page(make_run([f"Paris is big. {HOSTILE} is here.", "Lyon is big.", "Paris is big."]))
    at.button(key="claims_judge").click().run()
    assert not at.exception
    bodies = " ".join(element.proto.body for element in at.get("html"))
    assert HOSTILE not in bodies and "&lt;script&gt;" in bodies
    empty = open_page(make_run(["", " "]))
    empty.button(key="claims_judge").click().run()
    assert not empty.exception and any("No answer has a sentence" in shown(info.value) for info in empty.info)


def test_atomic_claims_on_the_toggle_show_the_decomposition_and_tint_each_sentence_once(france_run, language_model, monkeypatch):
    """docs/methods.md §13.6, with the model's replies scripted: two facts per sentence; the table lists the atomic
    claims, the expander every reply, and each sentence is tinted once (by its least supported fact)."""
    from uqviz.engine import probing
    from uqviz.statistics.base import RunStatistics

    def scripted(model, conversations, chat, system_prompt, max_new_tokens):
        return ["### A fact.\n### Another fact." for _ in conversations]

    monkeypatch.setattr(probing, "replies_to", scripted)
    at = open_app_page(PAGE, run=france_run, run_language_model=lambda: language_model)  # sampled here: its model is attached
    at.toggle(key="claims_atomic").set_value(True).run()
    at.button(key="claims_judge").click().run()
    assert not at.exception and not at.error
    sentences = CLAIMS(RunStatistics(france_run)).flat
    table = next(frame.value for frame in at.dataframe if "luq_uncertainty" in frame.value.columns)
    assert list(table["claim"]) == ["A fact.", "Another fact."] * len(sentences)
    assert list(table["sentence"]) == [claim.index for claim in sentences for _ in range(2)]
    decomposition = next(frame.value for frame in at.dataframe if "facts read" in frame.value.columns)
    assert list(decomposition["facts read"]) == [2] * len(sentences)
    tinted = [element.proto.body for element in at.get("html") if "uqviz-claim" in element.proto.body]
    assert sum(body.count("uqviz-claim") for body in tinted) == len(sentences)  # one span per sentence
