"""AppTest: a loaded calibration profile gives the Sample page the chance that the greedy answer is wrong, with its
interval and a warning naming what differs from the profile's conditions, and All scores a P(wrong) column."""

import numpy as np
import pytest

from streamlit.testing.v1 import AppTest

from tests.app import shown
from tests.conftest import REPO
from uqviz.workflows.calibration import best_calibrated, calibrate, fit_profile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def profile():
    rng = np.random.default_rng(1)
    u = rng.uniform(0, 3, 80)
    rows = [{"question": f"q{i}", "correct": float(rng.uniform(0, 3) > x), "ln_predictive_entropy": float(x),
             "predictive_entropy": float(2 * x + rng.normal(0, 0.3))} for i, x in enumerate(u)]
    return fit_profile(rows, ["ln_predictive_entropy", "predictive_entropy"],
                       {"model": "default", "n": 10, "max_new_tokens": 16, "rows": 80, "data": {"rows": 80}}, bootstraps=20)


def test_the_sample_page_reads_the_chance_of_being_wrong_from_the_profile(france_run, profile):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    at.session_state["run"] = france_run
    at.session_state["calibration_profile"] = ("profile.json", profile, False)
    at.run()
    assert not at.exception, at.exception
    scores = at.session_state["scores"][1]
    calibrated = calibrate(profile, {name: scored.result.value for name, scored in scores.measures.items()})
    best = best_calibrated(profile, calibrated)
    metric = next(metric for metric in at.metric if metric.label == "Chance the greedy answer is wrong")
    assert metric.value == f"{calibrated[best].p_wrong:.2f}"
    assert any("fitted on 80 graded questions" in shown(caption.value) for caption in at.caption)
    assert any("n: the profile was fitted with 10, this run has 4" in shown(warning.value) for warning in at.warning)

    at.switch_page("pages/overview.py").run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["ln_predictive_entropy", "P(wrong)"] == pytest.approx(calibrated["ln_predictive_entropy"].p_wrong)
    assert np.isnan(table.loc["semantic_entropy", "P(wrong)"])  # not in the profile
