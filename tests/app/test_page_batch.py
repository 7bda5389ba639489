"""AppTest of the Batch evaluation page: file checks, a real two-question batch, its charts, resuming and Active-Prompt."""

import json

import pytest
from streamlit.testing.v1 import AppTest

import uqviz.workflows.batch
from tests.app import open_page as open_app_page, shown
from tests.conftest import make_run
from uqviz.measures.registry import REGISTRY
from uqviz.viz.tokens import plain_markdown

pytestmark = pytest.mark.slow
PAGE = "pages/batch.py"
QUESTIONS = b"question,answer\nWhat is the capital of France?,Paris\nWhat is the capital of Peru?,xyzzy\n"


@pytest.fixture
def batch_page(monkeypatch, tmp_path):
    monkeypatch.setattr("uqviz.models.loading.cache_root", lambda: tmp_path)

    def open_page(**state) -> AppTest:
        return open_app_page(PAGE, timeout=600, **state)

    return open_page


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="batch_source").set_value("Upload a file").run()
    at.file_uploader(key="batch_file").upload(name, data).run()
    assert not at.exception
    return at


def charts(at: AppTest) -> list[str]:
    return [json.dumps(json.loads(element.proto.spec)) for element in at.get("plotly_chart")]


def test_demo_set_is_offered_and_bad_files_get_a_message(batch_page):
    at = batch_page()
    assert any("52 questions, 52 with gold answers" in caption.value for caption in at.caption)
    assert len(at.dataframe[0].value) == 52
    upload(at, "questions.pdf", b"%PDF-1.4")
    assert any("unsupported file type '.pdf'" in shown(error.value) for error in at.error)
    upload(at, "questions.csv", b"prompt\nx\n")
    assert any("'question' column" in shown(error.value) for error in at.error)
    assert "batch" not in at.session_state


def test_real_batch_draws_curves_ranks_measures_and_resumes(batch_page, monkeypatch):
    at = upload(batch_page(max_new_tokens=8, seed=3), "questions.csv", QUESTIONS)
    at.number_input(key="batch_n").set_value(2)
    # Graded by default with the ROUGE-L recall of the gold: "Paris" appears in "The capital of France is Paris.";
    # nothing matches "xyzzy".
    assert at.radio(key="batch_method").value == "rouge-recall" and at.slider(key="batch_threshold_rouge-recall").value == 1.0
    at.button(key="batch_run").click().run()
    assert not at.exception
    result = at.session_state["batch"]
    assert [row["question"] for row in result.rows] == ["What is the capital of France?", "What is the capital of Peru?"]
    assert [row["correct"] for row in result.rows] == [1, 0]
    assert set(result.report["measures"]) == set(REGISTRY)
    [judge] = result.report["settings"]["judges"]
    assert any(caption.value == f"Meaning judged by {plain_markdown(judge)}." for caption in at.caption) and "NLI: packaged NLI judge" in judge
    questions, ranked, top, results = (element.value for element in at.dataframe)  # keys are not readable on dataframes
    assert list(questions["gold answers"]) == ["Paris", "xyzzy"]
    assert set(ranked["name"]) == set(REGISTRY)
    specs = charts(at)
    assert any("AUROC chance" in spec for spec in specs)
    assert any("true positive rate" in spec for spec in specs)
    assert any("risk (error rate" in spec for spec in specs)
    assert any("ECE" in spec for spec in specs)
    assert len(top) == 2 and {"disagreement", "entropy", "variance"} <= set(top.columns)
    assert {"question", "correct", "greedy_answer", *REGISTRY} <= set(results.columns)
    assert result.results_path.is_file()

    def no_recompute(*args, **kwargs):
        raise AssertionError("a finished question was scored again")

    monkeypatch.setattr(uqviz.workflows.batch, "score_question", no_recompute)
    at.button(key="batch_run").click().run()
    assert not at.exception
    assert at.session_state["batch"].rows == result.rows

    at.session_state["run"] = make_run(["Paris", "Lima"], logprobs=[[-0.2], [-1.5]])
    at.switch_page("pages/overview.py").run()
    assert not at.exception
    percentiles = at.dataframe[0].value.set_index("name")["percentile in batch"]
    assert percentiles.loc["predictive_entropy"] in {0.0, 50.0, 100.0}


def test_a_batch_stops_when_its_browser_session_has_gone(batch_page, monkeypatch):
    """Long work started by a page checks between questions that its session still has a browser."""
    import pages.common

    checks = []
    monkeypatch.setattr(pages.common, "session_has_browser", lambda: checks.append(1) or len(checks) == 1)
    scored = []
    real = uqviz.workflows.batch.score_question
    monkeypatch.setattr(uqviz.workflows.batch, "score_question", lambda *args, **kwargs: scored.append(1) or real(*args, **kwargs))
    at = upload(batch_page(max_new_tokens=4, seed=3), "questions.csv", QUESTIONS)
    at.number_input(key="batch_n").set_value(1)
    at.button(key="batch_run").click().run()
    assert not at.exception
    assert "batch" not in at.session_state and len(scored) == 1  # the browser left during question 1: question 2 never ran


def test_a_finished_batch_links_to_the_calibration_page(batch_page, tmp_path):
    from uqviz.workflows.batch import BatchResult, BatchSettings, build_report, read_results, result_columns

    results = tmp_path / "results.csv"
    header = ",".join(result_columns(list(REGISTRY)))
    row = {"question": "Q?", "correct": "1", "predictive_entropy": "0.5", "samples": "[]", "reasons": "{}", "seconds": "1.0"}
    results.write_text(header + "\n" + ",".join(row.get(column, "") for column in header.split(",")) + "\n", encoding="utf-8")
    rows = read_results(results)
    assert not batch_page().get("page_link")  # no batch yet: nothing to calibrate
    at = batch_page(batch=BatchResult(rows, build_report(rows, BatchSettings()), results))
    [link] = at.get("page_link")
    assert link.proto.page == "calibration" and "Calibration page" in link.proto.label
