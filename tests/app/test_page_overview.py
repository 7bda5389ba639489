"""AppTest of the All scores page: every registered measure, batch percentiles, Borda voting and the Chow charts."""

import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, session_statistics, shown
from tests.conftest import make_run
from uqviz.workflows.batch import BatchResult
from uqviz.measures.registry import ON_DEMAND, REGISTRY
from uqviz.scoring.scores import on_demand_reason

pytestmark = pytest.mark.slow
PAGE = "pages/overview.py"
# Self-certainty per answer: make_run stores KL = log 4 + log-prob, so a log-prob of SC - log 4 gives SC.
CERTAINTIES = [0.9, 0.8, 0.3, 0.5]
ANSWERS = ["Paris", "Lyon", "Paris", "Rome"]


def borda_run():
    return make_run(ANSWERS, logprobs=[[certainty - math.log(4)] for certainty in CERTAINTIES], prompt="Capital of France?")


def overview(**state) -> AppTest:
    return open_app_page(PAGE, **state)


def chart(at: AppTest, fragment: str) -> dict:
    specs = [json.loads(element.proto.spec) for element in at.get("plotly_chart")]
    matches = [spec for spec in specs if fragment in json.dumps(spec)]
    assert matches, f"no chart mentions {fragment!r}"
    return matches[0]


def test_every_measure_in_one_table_with_borda_pick_as_in_the_worked_example():
    at = overview(run=borda_run())
    table = at.dataframe[0].value
    assert list(table["name"]) == list(REGISTRY)
    rows = table.set_index("name")
    # PE = mean of -log p = log 4 - mean(SC) = 1.386294 - 0.625.
    assert rows.loc["predictive_entropy", "U"] == pytest.approx(math.log(4) - 0.625, abs=1e-9)
    assert (rows["higher means"] == [REGISTRY[name].higher_means for name in rows.index]).all()
    assert (rows["formula"] == [REGISTRY[name].formula for name in rows.index]).all()
    assert rows["percentile in batch"].isna().all()
    precision = session_statistics(at).relevance_precision
    assert any(f", token relevance at {precision}. Meaning judge: " in caption.value and "All measures took" in caption.value
               for caption in at.caption)
    for name, row in rows.iterrows():
        assert row["U"] == row["U"] or row["note"], f"{name} has neither a value nor a reason"
    # docs/methods.md §7.4: votes 2.0, 1.732051, 1.0, 1.414214 by sample -> Paris 3.0, Lyon 1.732051, Rome 1.414214.
    votes = chart(at, "Borda votes")["data"][0]
    assert votes["x"] == ["Paris", "Lyon", "Rome"]
    assert votes["y"] == pytest.approx([3.0, 1.732051, 1.414214], abs=1e-6)
    assert any("Borda pick** (sample 1)" in markdown.value for markdown in at.markdown)
    borda_table = at.dataframe[1].value
    assert list(borda_table["votes cast"]) == pytest.approx([2.0, 1.732051, 1.414214, 1.0], abs=1e-6)

    at.slider(key="borda_exponent").set_value(0.0).run()
    assert not at.exception
    assert chart(at, "Borda votes")["data"][0]["y"] == [2.0, 1.0, 1.0]


def test_percentile_against_the_last_batch():
    rows = [{"question": f"q{i}", "predictive_entropy": value} for i, value in enumerate([0.5, 0.7, 0.8, 1.0])]
    at = overview(run=borda_run(), batch=BatchResult(rows, {}, Path("unused.csv")))
    table = at.dataframe[0].value.set_index("name")
    # This run's PE 0.761294 is above 0.5 and 0.7 only: 2 of 4 questions.
    assert table.loc["predictive_entropy", "percentile in batch"] == pytest.approx(50.0)
    assert table.drop(index="predictive_entropy")["percentile in batch"].isna().all()


def test_chow_charts_mark_the_quantile_and_group_by_meaning():
    logprobs = [[-0.01, -0.05, -2.3, -0.1], [-0.05] * 2]
    run = make_run(["a b c d", "e f"], logprobs=logprobs)
    at = overview(run=run)
    token_chart = chart(at, "Chow-Sum -2.46")
    assert token_chart["data"][0]["y"] == pytest.approx(logprobs[0])
    lines = sorted(shape["y0"] for shape in token_chart["layout"]["shapes"])
    assert lines == pytest.approx([-2.3, -0.615])  # §8: Quantile_0 = -2.3, Chow-Average = -0.615
    length_chart = chart(at, "answer length (tokens)")
    sums = next(trace for trace in length_chart["data"] if trace["name"] == "Chow-Sum")
    assert (sums["x"], sums["y"]) == ([4, 2], pytest.approx([-2.46, -0.1]))

    at.slider(key="overview_chow_alpha").set_value(0.5).run()
    assert any(abs(shape["y0"] + 0.075) < 1e-9 for shape in chart(at, "Chow-Sum -2.46")["layout"]["shapes"])  # Quantile_0.5
    at.radio(key="borda_grouping").set_value("same meaning cluster").run()
    assert not at.exception
    assert all(group.startswith("meaning ") for group in at.dataframe[1].value["group"])


def test_without_a_run_the_page_points_to_the_sample_page():
    at = overview()
    assert any("No run yet" in shown(info.value) for info in at.info)


def test_a_prompt_with_markdown_and_latex_is_shown_as_text():
    run = make_run(["Paris", "Lyon"], prompt="![beacon](http://tracker.example/p.png) $\\rule{774px}{9px}$ **bold**")
    at = overview(run=run)
    (caption,) = [caption.value for caption in at.caption if "answers to:" in caption.value]
    assert "\\!\\[beacon\\]\\(http\\:\\/\\/tracker" in caption and "\\$\\\\rule" in caption and "\\*\\*bold\\*\\*" in caption
    assert "![beacon]" not in caption and "**bold**" not in caption


def keyed_chart(at: AppTest, key: str) -> dict | None:
    """The spec of the plotly chart with this key (a keyed element's id ends with its key), else None."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    return None


def test_the_costly_measures_are_computed_on_demand_into_the_table(france_run, language_model):
    at = overview(run=france_run, run_language_model=language_model)
    rows = at.dataframe[0].value.set_index("name")
    for name in ON_DEMAND:
        assert rows.loc[name, "note"] == on_demand_reason(name) and rows.loc[name, "U"] != rows.loc[name, "U"]
    button = at.button(key="overview_on_demand")
    assert button.label == f"Compute the {len(ON_DEMAND)} costly measures" and not button.disabled

    button.click().run()
    assert not at.exception
    assert [status.label for status in at.status] == [f"Computed {len(ON_DEMAND)} costly measures"]
    scores = at.session_state["scores"][1]
    assert scores["claim_conditioned_probability"].result.value is not None
    rows = at.dataframe[0].value.set_index("name")
    for name in ON_DEMAND:
        result = scores[name].result
        assert result.value is not None or result.reason != on_demand_reason(name), name
        assert rows.loc[name, "note"] != on_demand_reason(name)
        assert rows.loc[name, "seconds"] == pytest.approx(scores[name].seconds) and scores[name].seconds > 0
    assert rows.loc["claim_conditioned_probability", "U"] == pytest.approx(scores["claim_conditioned_probability"].result.value)
    at.run()
    assert at.button(key="overview_on_demand").disabled  # nothing left to compute
    assert at.session_state["scores"][1] is scores  # a rerun keeps them


def test_on_demand_without_the_runs_model_computes_ccp_and_keeps_what_p_true_needs():
    at = overview(run=borda_run())  # opened, not sampled in this session: no language model
    before = at.session_state["scores"][1]
    p_true = before["p_true"].result.reason
    assert p_true != on_demand_reason("p_true")
    pending = [name for name in ON_DEMAND if before[name].result.reason == on_demand_reason(name)]
    assert {"claim_conditioned_probability", "luq", "max_claim_uncertainty"} <= set(pending) and "p_true" not in pending
    at.button(key="overview_on_demand").click().run()
    assert not at.exception and not at.error
    scores = at.session_state["scores"][1]
    assert scores["claim_conditioned_probability"].result.value is not None
    assert scores["p_true"].result.value is None and scores["p_true"].result.reason == p_true
    assert scores["luq"].result.value is not None and scores["max_claim_uncertainty"].result.value is not None  # NLI only
    assert [status.label for status in at.status] == [f"Computed {len(pending)} costly measures"]


def test_cocoa_scatter_draws_each_answers_detail_for_the_chosen_variant():
    at = overview(run=borda_run())
    scores = at.session_state["scores"][1]
    for variant in ("cocoa_msp", "cocoa_perplexity", "cocoa_mean_token_entropy"):
        at.radio(key="cocoa_variant").set_value(variant).run()
        assert not at.exception
        result = scores[variant].result
        points = keyed_chart(at, "cocoa_chart")["data"][0]
        assert points["x"] == pytest.approx(result.detail.information)
        assert points["y"] == pytest.approx(result.detail.dissimilarity)
        assert points["marker"]["color"] == pytest.approx(result.per_sample)
        assert f"CoCoA {result.per_sample[3]:.3f}" in points["hovertext"][3] and "Rome" in points["hovertext"][3]
    # MSP: -log p of the one-token answers; perplexity is the same here, entropy is make_run's -log p too
    assert scores["cocoa_msp"].result.detail.information == pytest.approx([math.log(4) - c for c in CERTAINTIES])


def test_scoring_stops_between_measures_once_the_browser_session_has_gone(monkeypatch):
    """A run opened (or imported) and then left: scoring checks before each measure that its browser session is still
    there, and stops at the first check that finds it gone, keeping no partial scores."""
    import pages.common
    from tests.conftest import REPO

    checks = []
    monkeypatch.setattr(pages.common, "session_has_browser", lambda: checks.append(1) or len(checks) < 3)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    at.session_state["run"] = make_run(["Paris is the capital", "Lyon"], logprobs=[[-0.2, -0.1, -0.3, -0.2], [-1.5]])
    at.run()
    assert not at.exception
    assert len(checks) == 3 and "scores" not in at.session_state  # two measures scored, then the stop
