"""History: every saved run; open, rename, delete, compare two with the delta of every measure; export and import."""

from __future__ import annotations

import sqlite3

import pandas as pd
import streamlit as st

from pages import session
from pages.common import cached_run_store, run_store, show_table
from uqviz.format.run import Run, RunFormatError, run_from_json, run_to_json
from uqviz.viz.history import comparison_figure, comparison_frame, measure_title
from uqviz.viz.report import report_html, scores_csv
from uqviz.viz.tokens import plain_markdown
from uqviz.workflows.importing import (
    PastedSamplesError,
    describe_need,
    measure_availability,
    parse_samples,
    run_from_samples,
    score_available,
)
from uqviz.workflows.store import HEADLINE_MEASURES, STORE_ENV, RunStore, StoredRun, StoreError, short_text

REPORT_KEY = "history_report"
PASTED_KEY = "history_pasted"
TABLE_CHARS = 80  # of a name or prompt in the table and the run pickers: Streamlit caps a message's size
SAMPLES_HELP = (
    'One answer per line. To add token log-probs, write a line as JSON: '
    '{"text": "Paris", "tokens": ["Paris"], "logprobs": [-0.1]} (natural log; all samples or none).'
)


def run_label(stored: StoredRun) -> str:
    return f"#{stored.id} · {short_text(stored.name, TABLE_CHARS)} · {stored.model} · {stored.created}"


def history_table(runs: list[StoredRun]) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "id": [stored.id for stored in runs],
            "name": [short_text(stored.name, TABLE_CHARS) for stored in runs],
            "prompt": [short_text(stored.prompt, TABLE_CHARS) for stored in runs],
            "model": [stored.model for stored in runs],
            "created": [stored.created for stored in runs],
            "samples": [stored.samples for stored in runs],
        }
    )
    for name in HEADLINE_MEASURES:
        if any(name in stored.headline for stored in runs):
            table[measure_title(name)] = [stored.headline.get(name) for stored in runs]
    return table


def manage(store: RunStore, runs: list[StoredRun]) -> None:
    by_id = {stored.id: stored for stored in runs}
    chosen = st.selectbox("Run", list(by_id), format_func=lambda run_id: run_label(by_id[run_id]), key="history_run")
    try:
        run = store.load(chosen)
    except RunFormatError as error:  # stored by a version with other limits, say
        run = None
        st.warning(f"Run #{chosen} cannot be opened or exported: {plain_markdown(str(error))}")
    opened, renamed, deleted = st.columns(3)
    if opened.button("Open in every view", key="history_open", type="primary", disabled=run is None):
        session.open_run(run, chosen)
        st.success(f"Run #{chosen} is now the current run; every view shows it.")
    with renamed:
        new_name = st.text_input(
            "New name", value=by_id[chosen].name, key=f"history_new_name_{chosen}", disabled=store.read_only,
        )
        if st.button("Rename", key="history_rename", disabled=store.read_only):
            store.rename(chosen, new_name)
            st.rerun()
    if deleted.button("Delete this run", key="history_delete", disabled=store.read_only):
        store.delete(chosen)
        session.forget_run_id(chosen)
        st.session_state.pop(REPORT_KEY, None)
        st.rerun()
    if run is not None:
        export(store, chosen, run)


def export(store: RunStore, run_id: int, run: Run) -> None:
    st.markdown("**Export**")
    json_column, csv_column, report_column = st.columns(3)
    json_column.download_button(
        "Run JSON", run_to_json(run), file_name=f"uqviz-run-{run_id}.json", mime="application/json",
        key="history_export_json",
    )
    scores = store.load_scores(run_id)
    csv_column.download_button(
        "Scores CSV", scores_csv(scores or {}), file_name=f"uqviz-scores-{run_id}.csv", mime="text/csv",
        key="history_export_csv", disabled=scores is None,
    )
    report = st.session_state.get(REPORT_KEY)
    if report is not None and report[0] == run_id:
        report_column.download_button(
            "Download the HTML report", report[1], file_name=f"uqviz-report-{run_id}.html", mime="text/html",
            key="history_export_report",
        )
    elif report_column.button("Build the HTML report", key="history_build_report"):
        with st.spinner("Scoring every measure and drawing the figures…", show_time=True):
            statistics = session.statistics_for(run)
            html = report_html(statistics, score_available(run, statistics))
        st.session_state[REPORT_KEY] = (run_id, html)
        st.rerun()


def compare(store: RunStore, runs: list[StoredRun]) -> None:
    st.subheader("Compare two runs")
    if len(runs) < 2:
        st.info("Save at least two runs to compare them.")
        return
    by_id = {stored.id: stored for stored in runs}
    ids = list(by_id)
    left, right = st.columns(2)
    a_id = left.selectbox("Run A", ids, index=1, format_func=lambda run_id: run_label(by_id[run_id]), key="history_compare_a")
    b_id = right.selectbox("Run B", ids, index=0, format_func=lambda run_id: run_label(by_id[run_id]), key="history_compare_b")
    if st.button("Score every measure of A and B", key="history_rescore", disabled=store.read_only,
                 help="Runs saved before the embedder was loaded miss the embedding measures; this fills them in."):
        with st.spinner("Scoring…", show_time=True):
            for run_id in {a_id, b_id}:
                run = store.load(run_id)
                store.update_scores(run_id, score_available(run, session.statistics_for(run)))
    deltas = store.compare(a_id, b_id)
    label_a, label_b = f"A: #{a_id}", f"B: #{b_id}"
    show_table(comparison_frame(deltas, label_a, label_b), key="history_comparison_table", hide_index=True)
    if any(delta.delta is not None for delta in deltas):
        st.plotly_chart(comparison_figure(deltas, by_id[a_id].name, by_id[b_id].name), key="history_comparison_chart", width="stretch")


def import_run() -> None:
    with st.form("history_upload_form"):
        uploaded = st.file_uploader("Upload a run JSON (uqviz.run/1)", type=["json"], key="history_upload")
        submitted = st.form_submit_button("Import the run")
    if not submitted:
        return
    if uploaded is None:
        st.warning("Choose a run JSON file first.")
        return
    try:
        run = run_from_json(uploaded.getvalue(), origin=uploaded.name)
    except RunFormatError as error:
        st.error(f"The file was not imported: {plain_markdown(str(error))}")
        return
    with st.spinner("Scoring the measures the run allows…", show_time=True):
        run_id = session.start_run(run, name=f"imported: {uploaded.name}")
    st.success(f"Imported {plain_markdown(uploaded.name)} as run #{run_id}; it is now the current run.")


def paste_samples() -> None:
    with st.form("history_paste_form"):
        prompt = st.text_input("The question the samples answer", key="history_paste_prompt")
        model = st.text_input("Which model wrote them (optional)", key="history_paste_model")
        text = st.text_area("Samples", key="history_paste_samples", height=160, help=SAMPLES_HELP)
        submitted = st.form_submit_button("Score the pasted samples")
    if submitted:
        try:
            run = run_from_samples(prompt.strip(), parse_samples(text), model.strip() or None)
        except PastedSamplesError as error:
            st.error(plain_markdown(str(error)))
            return
        with st.spinner("Scoring the measures the samples allow…", show_time=True):
            scores = score_available(run, session.statistics_for(run))
        run_id = session.save_to_history(run, scores, name=f"pasted: {prompt.strip() or 'no question'}")
        st.session_state[PASTED_KEY] = (run_id, run, scores)
    pasted = st.session_state.get(PASTED_KEY)
    if pasted is None:
        return
    run_id, run, scores = pasted
    saved = "Not saved to the history." if run_id is None else f"Saved as run #{run_id}."
    st.caption(f"{saved} Black-box measures need only the texts; white-box ones need what is listed.")
    rows = [
        {
            "measure": entry.title,
            "kind": "black-box" if entry.black_box else "white-box",
            "U": scores.measures[entry.name].result.value,
            "needs": "; ".join(describe_need(need) for need in entry.missing),
        }
        for entry in measure_availability(run)
    ]
    show_table(pd.DataFrame(rows), key="history_pasted_table", hide_index=True)


def open_store() -> tuple[RunStore, list[StoredRun]]:
    """The store and its runs; a file that became unreadable while the app ran is reopened, which moves it aside."""
    store = run_store()
    try:
        return store, store.list_runs()
    except sqlite3.DatabaseError:
        cached_run_store.clear()
        store = run_store()
        return store, store.list_runs()


def render() -> None:
    """History: the saved runs, their comparison, import and pasted samples."""
    st.title("History")
    try:
        store, stored_runs = open_store()
    except StoreError as error:
        st.error(plain_markdown(str(error)))
        st.stop()
    except (OSError, sqlite3.Error) as error:
        st.error(f"The run store could not be opened: {plain_markdown(str(error))}")
        st.stop()
    if store.recovery_message:
        st.warning(store.recovery_message)
    if store.read_only:
        st.info(f"The run store {store.path} is read-only: its runs can be opened, compared and exported, but nothing "
                f"new is saved (set {STORE_ENV} to a writable file).")
    else:
        st.caption(f"Every sampled run is saved automatically to {store.path} (set {STORE_ENV} to use another file).")
    if stored_runs:
        show_table(history_table(stored_runs), key="history_table", hide_index=True)
        try:
            manage(store, stored_runs)
            compare(store, stored_runs)
        except (StoreError, RunFormatError) as error:
            st.warning(plain_markdown(str(error)))
    else:
        st.info("No saved runs yet: sample on the Sample page, upload a run JSON or paste samples below.")
    st.subheader("Import")
    import_run()
    st.markdown("**Bring your own samples**")
    paste_samples()


if __name__ == "__main__":
    render()
