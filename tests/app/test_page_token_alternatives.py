"""AppTest of the Token alternatives (CCP) page: judging one answer on demand, the chart, U, the table, the run's CCP,
and the messages for runs that cannot be judged."""

import json
import math
from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import make_run
from uqviz.measures.ccp import answer_ccp
from uqviz.scoring.scores import on_demand_reason
from uqviz.statistics.alternatives import TOKEN_ALTERNATIVES

pytestmark = pytest.mark.slow
PAGE = "pages/token_alternatives.py"
CCP = "claim_conditioned_probability"
HOSTILE = "<script>alert(1)</script>"


def open_page(run) -> AppTest:
    return open_app_page(PAGE, run=run)


def keyed_chart(at: AppTest, key: str) -> dict | None:
    """The spec of the plotly chart with this key (a keyed element's id ends with its key), else None."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    return None


def table(at: AppTest, column: str):
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def test_judging_one_answer_draws_u_chart_and_table_and_a_rerun_reuses_the_cache(france_run):
    at = open_page(france_run)
    assert keyed_chart(at, "ccp_tokens") is None
    assert session_statistics(at).cached(TOKEN_ALTERNATIVES, 0) is None  # nothing judged before the button

    at.button(key="ccp_judge").click().run()
    assert not at.exception
    statistics = session_statistics(at)
    alternatives = statistics.cached(TOKEN_ALTERNATIVES, 0)
    assert alternatives is not None and statistics.cached(TOKEN_ALTERNATIVES, 1) is None  # only the answer in view
    u, tokens = answer_ccp(alternatives)
    assert {metric.label: metric.value for metric in at.metric}["U = 1 − Π CCP_i"] == f"{u:.4f}"
    assert any("section 12.5" in caption.value for caption in at.caption)

    spec = keyed_chart(at, "ccp_tokens")
    assert spec is not None
    change, surprisal = spec["data"]
    sample = france_run.samples[0]
    assert change["z"][0] == pytest.approx([1 - token.ccp for token in tokens])
    assert surprisal["z"][0] == pytest.approx([-logprob for logprob in sample.logprobs])
    rows = table(at, "alternative")
    assert len(rows) == sum(len(token.tokens) - 1 for token in tokens) > 0
    assert set(rows["label"]) <= {"entailment", "neutral", "contradiction"}
    assert list(rows["probability"]) == pytest.approx([math.exp(lp) for token in tokens for lp in token.logprobs[1:]])

    calls = statistics.costs[TOKEN_ALTERNATIVES.name].model_calls
    at.run()  # a rerun redraws from the statistics' cache, without judging again
    assert not at.exception and keyed_chart(at, "ccp_tokens") is not None
    assert session_statistics(at).costs[TOKEN_ALTERNATIVES.name].model_calls == calls


def test_compute_for_all_answers_fills_the_runs_ccp(france_run):
    at = open_page(france_run)
    assert at.session_state["scores"][1][CCP].result.reason == on_demand_reason(CCP)
    at.button(key="ccp_all").click().run()
    assert not at.exception
    scored = at.session_state["scores"][1][CCP]
    statistics = session_statistics(at)
    expected = [answer_ccp(statistics.cached(TOKEN_ALTERNATIVES, index))[0] for index in range(len(france_run.samples))]
    assert scored.result.per_sample == pytest.approx(expected)
    assert list(table(at, "U = 1 − Π CCP_i")["U = 1 − Π CCP_i"]) == pytest.approx(expected)
    assert list(table(at, "U = 1 − Π CCP_i")["tokens"]) == [len(sample) for sample in france_run.samples]
    saturated = any(u >= 0.95 for u in expected)
    assert any("no longer tells answers apart" in shown(warning.value) for warning in at.warning) == saturated
    assert {metric.label: metric.value for metric in at.metric}["CCP of the run (mean U over answers)"] == f"{scored.result.value:.4f}"

    at.selectbox(key="ccp_sample").set_value(2).run()  # every answer is judged now: no button needed
    assert not at.exception and not [button for button in at.button if button.key == "ccp_judge"]
    assert keyed_chart(at, "ccp_tokens")["data"][0]["z"][0] == pytest.approx(
        [1 - token.ccp for token in answer_ccp(statistics.cached(TOKEN_ALTERNATIVES, 2))[1]]
    )


def test_hostile_tokens_are_escaped_everywhere():
    run = make_run([f"{HOSTILE} Paris", "Lyon"], [[-1.0, -0.2], [-0.3]], prompt="Capital of France?")
    run = replace(run, samples=[replace(run.samples[0], tokens=[HOSTILE, " Paris"]), run.samples[1]])
    at = open_page(run)
    at.button(key="ccp_judge").click().run()
    assert not at.exception
    spans = [element.proto.body for element in at.get("html") if "uqviz-token" in element.proto.body]
    assert len(spans) == 1 and spans[0].count('class="uqviz-token"') == 2
    assert "&lt;script&gt;" in spans[0] and "<script" not in spans[0]
    spec = keyed_chart(at, "ccp_tokens")
    assert spec["layout"]["xaxis2"]["ticktext"][0].startswith("&lt;script&gt;")
    assert "<script" not in spec["data"][0]["text"][0][0]


def test_a_run_without_alternatives_says_why_without_a_button():
    run = make_run(["Paris is", "Lyon"])
    run = replace(run, samples=[replace(sample, top_tokens=[], top_logprobs=[], top_token_ids=[]) for sample in run.samples])
    at = open_page(run)
    assert not at.exception
    assert any("no top-k alternatives per token" in shown(info.value) for info in at.info)
    assert not [button for button in at.button if button.key == "ccp_judge"]
    at.button(key="ccp_all").click().run()  # the run's measure names the same reason
    assert not at.exception
    assert any(shown(info.value).startswith("CCP cannot be computed for this run: the run has no top-k alternatives")
               for info in at.info)
    assert at.session_state["scores"][1][CCP].result.reason != on_demand_reason(CCP)
