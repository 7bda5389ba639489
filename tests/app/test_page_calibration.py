"""AppTest of the Calibration page: what to do without data, a profile fitted from the session's batch with numbers equal
to workflows.calibration's on the same rows, a reliability diagram whose points are the bins' error rates, the profile
made the session's, and bad results files refused with one message (docs/methods.md §14)."""

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app import open_page as open_app_page, shown
from uqviz.measures.registry import REGISTRY
from uqviz.workflows.batch import BatchResult, BatchSettings, build_report, read_results, result_columns
from uqviz.workflows.calibration import apply_map, fit_profile

pytestmark = pytest.mark.slow
PAGE = "pages/calibration.py"
BOOTSTRAPS = 20
MEASURES = ("ln_predictive_entropy", "predictive_entropy")


def results_csv(count: int = 60, seed: int = 0, correct=None, question=lambda i: f"q{i}", valued: int = 60) -> bytes:
    """A results CSV as `uqviz batch` writes it: LN-PE rises with the chance of being wrong, PE is noise; only the first
    `valued` rows hold their values."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, count)
    right = (rng.uniform(0, 1, count) > u).astype(int) if correct is None else [correct] * count
    text = io.StringIO()
    writer = csv.DictWriter(text, result_columns(list(REGISTRY)))
    writer.writeheader()
    for i, (x, c) in enumerate(zip(u, right)):
        writer.writerow({"question": question(i), "gold": "x", "greedy_answer": "y", "match_score": c, "correct": c,
                         **({MEASURES[0]: 3 * x, MEASURES[1]: rng.normal()} if i < valued else {}), "samples": "[]", "judge": "strict", "reasons": "{}",
                         "seconds": 1.0})
    return text.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> BatchResult:
    path = tmp_path_factory.mktemp("batch") / "results.csv"
    path.write_bytes(results_csv())
    rows = read_results(path)
    return BatchResult(rows, build_report(rows, BatchSettings(), "default"), path)


def read_rows(data: bytes) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.csv"
        path.write_bytes(data)
        return read_results(path)


def open_page(**state) -> AppTest:
    return open_app_page(PAGE, **state)


def errors(at: AppTest) -> list[str]:
    return [shown(error.value) for error in at.error]


def reliability(at: AppTest) -> dict | None:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith("-calibration_reliability"):
            return json.loads(element.proto.spec)
    return None


def fitted(at: AppTest) -> AppTest:
    at.number_input(key="calibration_bootstraps").set_value(BOOTSTRAPS).run()
    assert not at.exception and not at.error and reliability(at) is None  # nothing fitted before the button
    at.button(key="calibration_fit").click().run()
    assert not at.exception and not at.error, errors(at)
    return at


def test_without_a_batch_or_an_upload_the_page_says_what_to_do():
    at = open_page()
    assert any("Run a batch on the Batch evaluation page, or upload" in shown(info.value) for info in at.info)
    assert reliability(at) is None and not at.error


def test_the_session_batch_gives_a_profile_its_numbers_its_diagram_and_the_session_profile(batch):
    at = fitted(open_page(batch=batch))
    assert any("Calibrating the batch run on the Batch evaluation page" in shown(caption.value) for caption in at.caption)
    profile = at.session_state["calibration_fitted"][1]
    expected = fit_profile(batch.rows, list(MEASURES), {}, bootstraps=BOOTSTRAPS)
    assert set(profile["measures"]) == set(MEASURES) and profile["valid_for"]["model"] == "default"
    assert profile["valid_for"]["data"]["rows"] == 60
    ranking = at.dataframe[0].value
    briers = {name: expected["measures"][name]["held_out"][expected["measures"][name]["method"]]["brier"] for name in MEASURES}
    best = min(briers, key=briers.get)
    assert at.selectbox(key="calibration_measure").value == best
    assert list(ranking["name"][:3]) == sorted([*MEASURES, "ensemble"], key=lambda name: ranking.set_index("name")["held-out Brier"][name])
    assert ranking.set_index("name")["held-out Brier"][best] == pytest.approx(briers[best])

    for name in MEASURES:
        at.selectbox(key="calibration_measure").set_value(name).run()
        assert not at.exception
        chosen = expected["measures"][name]
        scores = chosen["held_out"][chosen["method"]]
        metrics = {metric.label: metric.value for metric in at.metric}
        assert metrics == {"Calibrator": chosen["method"], "Held-out ECE": f"{scores['ece']:.3f}",
                           "Held-out Brier": f"{scores['brier']:.3f}", "Held-out AUROC": f"{scores['auroc']:.3f}"}
        diagonal, points = reliability(at)["data"]
        assert diagonal["x"] == [0, 1] and diagonal["y"] == [0, 1]
        u = np.array([row[name] for row in batch.rows])
        wrong = np.array([1 - row["correct"] for row in batch.rows])
        edges = np.array(chosen["bins"]["edges"])
        index = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(edges) - 2)
        occupied = [b for b in range(len(edges) - 1) if np.any(index == b)]
        assert points["y"] == pytest.approx([wrong[index == b].mean() for b in occupied])
        assert points["x"] == pytest.approx([apply_map(chosen["method"], chosen["map"], u[index == b]).mean() for b in occupied])
        assert sum(int(text.split("<br>")[1].split()[0]) for text in points["hovertext"]) == 60

    assert "calibration_profile" not in at.session_state or at.session_state["calibration_profile"][1] is not profile
    at.button(key="calibration_use").click().run()
    assert not at.exception
    assert at.session_state["calibration_profile"] == ("fitted on the batch of this session", profile, False)
    assert any("This session uses this profile" in success.value for success in at.success)
    at.switch_page("app.py").run()  # the sidebar, drawn by app.py, keeps the profile and names it
    assert not at.exception and at.session_state["calibration_profile"][1] is profile
    assert any("Profile fitted on the batch of this session: 2 measures, fitted on 60 questions" in shown(caption.value)
               for caption in at.sidebar.caption)


def upload(at: AppTest, data: bytes, name: str = "results.csv") -> AppTest:
    at.file_uploader(key="calibration_results").upload(name, data).run()
    assert not at.exception
    return at


def test_an_uploaded_results_file_replaces_the_session_batch(batch):
    at = upload(open_page(batch=batch), results_csv(seed=5))
    assert not any("Calibrating the batch run" in caption.value for caption in at.caption)
    fitted(at)
    profile = at.session_state["calibration_fitted"][1]
    assert profile["valid_for"]["model"] is None  # no report.json uploaded
    ranking = at.dataframe[0].value.set_index("name")
    expected = fit_profile(read_rows(results_csv(seed=5)), list(MEASURES), {}, bootstraps=BOOTSTRAPS)["measures"]
    for name in MEASURES:
        assert ranking["held-out AUROC"][name] == pytest.approx(expected[name]["held_out"][expected[name]["method"]]["auroc"])


@pytest.mark.parametrize("data, message", [
    (b"prompt,answer\nx,y\n", "results.csv: not a uqviz results file (no 'question' and 'seconds' columns)"),
    (b"\xff\xfe\x00garbage", "results.csv line"),
    (results_csv(correct=1), "Every graded answer is right"),
    (results_csv(count=12), "12 graded answers (a 'correct' of 1 or 0): a calibration needs at least 20"),
    (results_csv(question=lambda i: f"q{i % 3}"), "3 distinct questions: the held-out check splits them into 5 folds"),
    (results_csv(correct="inf"), "cannot convert float infinity to integer"),
])
def test_a_bad_results_file_gets_one_message_and_no_fit_button(data, message):
    at = upload(open_page(), data)
    assert any(message in error for error in errors(at)), errors(at)
    assert "/tmp" not in " ".join(errors(at))
    assert not at.get("button") or all(button.key != "calibration_fit" for button in at.button)


@pytest.mark.parametrize("report", [b"{not json", b"[1, 2]"])
def test_a_bad_report_beside_a_good_results_file_gets_one_message(report):
    at = open_page()
    at.file_uploader(key="calibration_report").upload("report.json", report).run()
    at = upload(at, results_csv())
    assert errors(at) == ["Cannot calibrate from this file: report.json: expected the JSON object that `uqviz batch --report` writes"]
    assert all(button.key != "calibration_fit" for button in at.button)


def test_a_file_where_no_measure_has_enough_values_says_why_after_the_fit():
    data = results_csv(valued=10)
    wrong = sum(1 - row["correct"] for row in read_rows(data)[:10])
    at = upload(open_page(), data)
    at.number_input(key="calibration_bootstraps").set_value(BOOTSTRAPS).run()
    at.button(key="calibration_fit").click().run()
    assert not at.exception and reliability(at) is None and "calibration_fitted" not in at.session_state
    reason = f"10 labelled rows with a value, {wrong} wrong: at least 20 rows and 5 of each class are needed"
    assert errors(at) == [f"No measure could be calibrated: predictive_entropy: {reason}; ln_predictive_entropy: {reason}"]
