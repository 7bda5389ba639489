"""Calibration: a batch's graded answers turn each measure's U into the chance that the answer is wrong. A reliability
diagram, held-out ECE, Brier and AUROC per measure, and a profile to download or use in this session (docs/methods.md §14)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import streamlit as st

from pages.batch import BATCH_KEY
from pages.common import PROFILE_KEY, show_table, stop_if_session_ended
from uqviz.format.run import check_limit
from uqviz.measures.registry import REGISTRY
from uqviz.viz.calibration import measure_title, ranked_names, ranking_frame, reliability_bins, reliability_figure
from uqviz.viz.tokens import error_line, plain_markdown
from uqviz.workflows.batch import MAX_QUESTIONS, BatchInputError, read_results
from uqviz.workflows.calibration import (
    BOOTSTRAPS, FOLDS, MIN_PER_CLASS, MIN_ROWS, FitProgress, labelled_values, profile_from_results,
)

FIT_KEY = "calibration_fitted"  # (the key of the data it was fitted on, the profile)
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
RESULTS_FILE, REPORT_FILE = "results.csv", "report.json"
BAD_FILE_ERRORS = (ValueError, RecursionError, OverflowError)  # what a hostile CSV or report can make the readers raise
EXPLANATION = """
A profile is fitted on a batch of the model's own graded answers. For each measure with at least 20 graded rows
(5 right and 5 wrong), an **isotonic** map and a **Platt** (logistic) map from U to P(wrong) are each scored on
5 held-out folds grouped by question; the one with the lower held-out **Brier** score is kept and refitted on all
rows. **ECE** (10 equal-width bins of P(wrong)) and **AUROC** are held-out too. The diagram shows the kept map on all
rows: U is cut at its deciles, each point is a bin's mean predicted P(wrong) against its share of wrong answers, and
the horizontal bar is the bin's 95 % bootstrap interval. Points on the dotted diagonal are perfectly calibrated.
"""


class Results(NamedTuple):
    """A results CSV to calibrate from: where it came from, its bytes, and its report.json's bytes when known."""

    name: str
    data: bytes
    report: bytes | None


def chosen_results() -> Results | None:
    """An uploaded results CSV, else the batch run on the Batch evaluation page in this session; else what to do."""
    upload = st.file_uploader("A results CSV from `uqviz batch` or the Batch evaluation page", type=["csv"], key="calibration_results")
    report = st.file_uploader("Its report.json (optional): the model and settings the profile holds for", type=["json"],
                              key="calibration_report")
    if upload is not None:
        return Results(upload.name, upload.getvalue(), None if report is None else report.getvalue())
    batch = st.session_state.get(BATCH_KEY)
    if batch is not None and batch.results_path.is_file():
        st.caption("Calibrating the batch run on the Batch evaluation page in this session; upload a file to use another.")
        return Results("the batch of this session", batch.results_path.read_bytes(), json.dumps(batch.report).encode("utf-8"))
    st.info("Run a batch on the Batch evaluation page, or upload the results.csv that `uqviz batch` writes (with its "
            f"report.json if you have it). A profile needs at least {MIN_ROWS} graded questions, {MIN_PER_CLASS} right and "
            f"{MIN_PER_CLASS} wrong.")
    return None


def without_folder(error: BaseException, folder: str) -> BatchInputError:
    """The error as a BatchInputError without the temporary folder in its message, so it names results.csv or report.json."""
    return BatchInputError(str(error).replace(folder + "/", "") or type(error).__name__)


@st.cache_data(max_entries=4, show_spinner=False)
def parsed_rows(data: bytes) -> list[dict[str, Any]]:
    """The finished rows of a results CSV's bytes, read as `uqviz calibrate` reads the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / RESULTS_FILE
        path.write_bytes(data)
        try:
            return read_results(path)
        except BAD_FILE_ERRORS as error:
            raise without_folder(error, folder) from None


def calibration_problem(rows: list[dict[str, Any]]) -> str | None:
    """Why these rows cannot give a profile, in one sentence; None when they can."""
    graded = [row for row in rows if row.get("correct") in (0, 1)]
    wrong = sum(1 - row["correct"] for row in graded)
    if len(graded) < MIN_ROWS:
        return f"{len(graded)} graded answers (a 'correct' of 1 or 0): a calibration needs at least {MIN_ROWS}."
    if wrong == 0:
        return "Every graded answer is right: a calibration needs wrong answers to learn from."
    if min(wrong, len(graded) - wrong) < MIN_PER_CLASS:
        return f"{wrong} of {len(graded)} graded answers are wrong: a calibration needs at least {MIN_PER_CLASS} right and {MIN_PER_CLASS} wrong."
    questions = len({row["question"] for row in graded})
    if questions < FOLDS:
        return f"{questions} distinct questions: the held-out check splits them into {FOLDS} folds, so it needs at least {FOLDS}."
    if not any(isinstance(row.get(name), float) for row in graded for name in REGISTRY):
        return "No column of a uqviz measure holds a value."
    return None


def check_report(data: bytes | None) -> None:
    """Refuse a report.json that is not a JSON object before anything is fitted."""
    if data is None:
        return
    try:
        report = json.loads(data)
    except (ValueError, RecursionError):
        report = None
    if not isinstance(report, dict):
        raise BatchInputError(f"{REPORT_FILE}: expected the JSON object that `uqviz batch --report` writes")


def checked_rows(results: Results) -> list[dict[str, Any]] | None:
    """The results' rows, bounded and checked; None after an error that says what is wrong."""
    try:
        check_limit(results.name, len(results.data), MAX_UPLOAD_BYTES, "bytes", BatchInputError)
        check_limit(REPORT_FILE, len(results.report or b""), MAX_UPLOAD_BYTES, "bytes", BatchInputError)
        rows = parsed_rows(results.data)
        check_limit(results.name, len(rows), MAX_QUESTIONS, "rows", BatchInputError)
        check_report(results.report)
    except BatchInputError as error:
        st.error(f"Cannot calibrate from this file: {error_line(error)}")
        return None
    problem = calibration_problem(rows)
    if problem is not None:
        st.error(plain_markdown(problem))
        return None
    return rows


def fit(results: Results, bootstraps: int, progress: FitProgress | None = None) -> dict[str, Any]:
    """The profile `uqviz calibrate results.csv --report report.json` writes, from the bytes of both files."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / RESULTS_FILE
        path.write_bytes(results.data)
        report = None if results.report is None else Path(folder) / REPORT_FILE
        if report is not None:
            report.write_bytes(results.report)
        try:
            return profile_from_results(path, report, bootstraps, progress)
        except BAD_FILE_ERRORS as error:
            raise without_folder(error, folder) from None


def fitted_profile(results: Results, bootstraps: int) -> dict[str, Any] | None:
    """The profile of these results, fitted when the user asks (it takes a while) and kept for the session."""
    key = (hashlib.sha256(results.data).hexdigest(), hashlib.sha256(results.report or b"").hexdigest(), bootstraps)
    held = st.session_state.get(FIT_KEY)
    if held is not None and held[0] == key:
        return held[1]
    if not st.button("Fit the calibration profile", type="primary", key="calibration_fit",
                     help="Each measure with values gets two maps checked on 5 held-out folds, then the kept one refitted "
                          "on every bootstrap resample: seconds per measure, minutes for a batch scored by every measure."):
        return None
    try:
        bar = st.progress(0.0, text="Fitting a map per measure: held-out folds and bootstrap resamples…")

        def progress(done: int, total: int, name: str) -> None:
            stop_if_session_ended()
            what = "the ensemble" if name == "ensemble" else measure_title(name)
            bar.progress(done / total, text=f"Fitting {what} ({done + 1} of {total})")

        try:
            profile = fit(results, bootstraps, progress)
        finally:
            bar.empty()
    except BatchInputError as error:
        st.error(f"The profile could not be fitted: {error_line(error)}")
        return None
    if not profile["measures"]:
        st.error("No measure could be calibrated: " + plain_markdown("; ".join(f"{name}: {reason}" for name, reason in profile["unfit"].items())))
        return None
    st.session_state[FIT_KEY] = (key, profile)
    return profile


def show_measure(rows: list[dict[str, Any]], profile: dict[str, Any]) -> None:
    """The chosen measure's calibrator, held-out numbers and reliability diagram."""
    name = st.selectbox("Measure", ranked_names(profile), key="calibration_measure", format_func=measure_title,
                        help="Best first: by the held-out Brier score of its calibrator.")
    fitted = profile["measures"][name]
    scores = fitted["held_out"][fitted["method"]]
    first, second, third, fourth = st.columns(4)
    first.metric("Calibrator", fitted["method"], help="The map with the lower held-out Brier score: "
                 + ", ".join(f"{method} {held['brier']:.4f}" for method, held in fitted["held_out"].items()))
    second.metric("Held-out ECE", f"{scores['ece']:.3f}", help="Expected calibration error, 10 equal-width bins of P(wrong)")
    third.metric("Held-out Brier", f"{scores['brier']:.3f}", help="mean (P(wrong) − wrong)²; lower is better")
    fourth.metric("Held-out AUROC", "—" if scores["auroc"] is None else f"{scores['auroc']:.3f}", help="0.5 is chance")
    u, wrong = labelled_values(rows, name)
    figure = reliability_figure(f"{measure_title(name)} · {fitted['method']} · {fitted['rows']} questions", reliability_bins(u, wrong, fitted))
    st.plotly_chart(figure, key="calibration_reliability", width="stretch")


def offer_profile(profile: dict[str, Any], source: str) -> None:
    """The profile as JSON to download, and a button that makes it the session's profile (the sidebar's, the Sample page's)."""
    st.subheader("The profile")
    left, right = st.columns(2)
    left.download_button("Download profile.json", json.dumps(profile, indent=1, allow_nan=False), "profile.json",
                         "application/json", key="calibration_download")
    right.button("Use this profile in this session", key="calibration_use", on_click=use_profile, args=(f"fitted on {source}", profile))
    held = st.session_state.get(PROFILE_KEY)
    if held is not None and held[1] is profile:
        st.success("This session uses this profile: the Sample and All scores pages show each measure's chance of being wrong.")


def use_profile(name: str, profile: dict[str, Any]) -> None:
    """Make the profile the session's calibration profile, before the sidebar is drawn."""
    st.session_state[PROFILE_KEY] = (name, profile, False)


def render() -> None:
    """Calibration: choose results, fit a profile, see each measure's reliability and the ranking, keep the profile."""
    st.title("Calibration")
    st.caption("From a batch of graded answers: how often an answer with this score is wrong, measure by measure.")
    with st.expander("How a profile is fitted", expanded=False):
        st.markdown(EXPLANATION)
    results = chosen_results()
    rows = None if results is None else checked_rows(results)
    if rows is None:
        return
    bootstraps = st.number_input("Bootstrap resamples per measure", 20, 1000, BOOTSTRAPS, 20, key="calibration_bootstraps",
                                 help="For each bin's 95 % interval; fewer fit faster.")
    profile = fitted_profile(results, int(bootstraps))
    if profile is None:
        return
    show_measure(rows, profile)
    st.subheader("All measures by held-out quality")
    show_table(ranking_frame(profile), key="calibration_ranking", hide_index=True)
    offer_profile(profile, results.name)


if __name__ == "__main__":
    render()
