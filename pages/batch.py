"""Batch evaluation: which measures separate right answers from wrong ones on a question set, and which questions to annotate."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.common import adaptive_rule, cached_embedder, language_model, sampling_settings, show_table, stop_if_session_ended
from pages.session import packaged_nli
from uqviz.engine.sampling import MAX_SAMPLES, SamplingError
from uqviz.models.loading import cache_root
from uqviz.models.nli import DEFAULT_NLI
from uqviz.viz.overview import (
    calibration_figure,
    ranked_measures_figure,
    ranked_measures_frame,
    risk_coverage_figure,
    roc_figure,
)
from uqviz.viz.tokens import plain_markdown
from uqviz.workflows.active_prompt import EXTRACTORS, METRICS, question_uncertainty, rank_questions
from uqviz.workflows.batch import (
    DEFAULT_THRESHOLDS,
    EMBEDDING,
    JUDGE,
    ROUGE,
    ROUGE_RECALL,
    BatchInputError,
    BatchProgress,
    BatchResult,
    BatchSettings,
    CorrectnessRule,
    Question,
    batch_key,
    grader_agreement,
    build_report,
    demo_questions,
    parse_questions,
    ranked_measures,
    run_batch,
)

BATCH_KEY = "batch"
DEMO = "The demo set"
UPLOAD = "Upload a file"
METHOD_LABELS = {
    ROUGE: "ROUGE-L F with a gold answer",
    ROUGE_RECALL: "ROUGE-L recall of a gold answer",
    EMBEDDING: "embedding cosine with a gold answer",
    JUDGE: "meaning judge's P(entailment) of a gold answer",
}
CURVES_SHOWN = 5


def chosen_questions() -> list[Question] | None:
    source = st.radio("Questions", (DEMO, UPLOAD), key="batch_source", horizontal=True)
    if source == DEMO:
        return demo_questions()
    uploaded = st.file_uploader(
        "A .csv with a 'question' column (and optionally 'answer'), or .jsonl objects with the same fields. "
        "Separate several gold answers with '|'.", key="batch_file",
    )
    if uploaded is None:
        return None
    try:
        return parse_questions(uploaded.getvalue(), uploaded.name)
    except BatchInputError as error:
        st.error(plain_markdown(str(error)))
        return None


def batch_settings() -> tuple[BatchSettings, int]:
    """The page's N, grading and question limit; temperature, top-p, max tokens, seed and whether to stop once semantic
    entropy settles come from the sidebar."""
    first, second, third, fourth = st.columns(4)
    n = first.number_input("Samples per question (N)", 1, MAX_SAMPLES, 5, key="batch_n")
    method = second.radio("Correct when the", tuple(METHOD_LABELS), format_func=METHOD_LABELS.get, key="batch_method",
                          index=list(METHOD_LABELS).index(CorrectnessRule().method),
                          help="Default: the gold answer appears in the greedy answer (ROUGE-L recall 1.0), since chat models "
                          "answer in full sentences. Kuhn et al. 2023 grade with ROUGE-L F > 0.3, which a sentence scores low "
                          "against a one-word gold answer.")
    threshold = third.slider("reaches the threshold", 0.0, 1.0, DEFAULT_THRESHOLDS[method], 0.05, key=f"batch_threshold_{method}")
    limit = fourth.number_input("Questions to run (the first k)", 1, None, None, key="batch_limit", placeholder="all")
    sampling = replace(sampling_settings(), n=int(n))
    state = st.session_state
    settings = BatchSettings(sampling, CorrectnessRule(method, float(threshold)), bool(state.get("chat", True)),
                             state.get("system_prompt") or None, adaptive=adaptive_rule())
    if settings.adaptive is not None:
        st.caption(f"The sidebar's \"Stop once semantic entropy settles\" is on: each question draws at most {int(n)} "
                   f"answers, stopping once the posterior variance is at most {settings.adaptive.max_variance:g}.")
    return settings, limit


def run_and_store(questions: list[Question], settings: BatchSettings) -> None:
    lm = language_model()
    if lm is None:
        return
    folder = cache_root() / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    results_path = folder / f"{batch_key(questions, settings, lm.info.source, f'nli:{DEFAULT_NLI}')}.csv"
    with st.status(f"Answering {len(questions)} questions…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(state: BatchProgress) -> None:
            stop_if_session_ended()
            left = "" if state.seconds_left is None else f" · about {state.seconds_left:.0f} s left"
            resumed = f" · {state.resumed} resumed from an earlier run" if state.resumed else ""
            bar.progress(state.done / state.total, text=f"{state.done} of {state.total} questions{left}{resumed}")

        try:
            rows = run_batch(questions, lm, results_path, settings, embedder=cached_embedder, nli=packaged_nli, progress=progress)
        except (BatchInputError, SamplingError) as error:
            status.update(label="The batch stopped", state="error")
            st.error(plain_markdown(str(error)))
            return
        status.update(label=f"Answered {len(rows)} questions", state="complete", expanded=False)
    graders = grader_agreement(rows, questions, settings.correctness, cached_embedder, packaged_nli)
    report = build_report(rows, settings, lm.info.name, lm.has_chat_template, graders)
    st.session_state[BATCH_KEY] = BatchResult(rows, report, results_path)


def show_measures(result: BatchResult) -> None:
    report = result.report
    first, second, third = st.columns(3)
    first.metric("Questions", report["questions"])
    second.metric("With gold answers", report["labelled"])
    third.metric("Accuracy of the greedy answer", "—" if report["accuracy"] is None else f"{report['accuracy']:.0%}")
    if report["settings"].get("judges"):
        st.caption("Meaning judged by " + " and ".join(plain_markdown(judge) for judge in report["settings"]["judges"]) + ".")
    if report.get("graders"):
        st.caption("Graders: " + plain_markdown("; ".join(
            f"{METHOD_LABELS.get(method, method)} ≥ {counts['threshold']:g}: " + (
                f"skipped ({counts['skipped']})" if "skipped" in counts else
                f"{counts['correct']} of {counts['labelled']} correct, {counts['changed']} labels differ from the chosen grader's")
            for method, counts in report["graders"].items())) + ".")
    ranked = ranked_measures(report)
    st.subheader("Measures ranked by AUROC")
    st.caption("AUROC = roc_auc_score(answer is wrong, U): 0.5 is chance. PRR is lm-polygraph's normalised "
               "prediction-rejection ratio: 0 is random rejection, 1 the oracle. AURC: lower is better.")
    show_table(ranked_measures_frame(ranked), key="batch_ranked_table", hide_index=True)
    st.plotly_chart(ranked_measures_figure(ranked), key="batch_ranked_chart", width="stretch")
    with_curves = [name for name, evaluation in ranked if evaluation["roc"] is not None]
    if not with_curves:
        st.info("The curves need both right and wrong answers among the labelled questions.")
        return
    names = st.multiselect("Measures on the curves", with_curves, default=with_curves[:CURVES_SHOWN], key="batch_curve_measures",
                           format_func=lambda name: report["measures"][name]["title"])
    left, right = st.columns(2)
    left.plotly_chart(roc_figure(report["measures"], names), key="batch_roc_chart", width="stretch")
    right.plotly_chart(risk_coverage_figure(report["measures"], names, report["accuracy"]), key="batch_risk_chart", width="stretch")
    calibrated = st.selectbox("Calibration of", with_curves, key="batch_calibration_measure",
                              format_func=lambda name: report["measures"][name]["title"])
    st.plotly_chart(calibration_figure(calibrated, report["measures"][calibrated]), key="batch_calibration_chart", width="stretch")


def show_active_prompt(result: BatchResult) -> None:
    st.subheader("Which questions to annotate (Active-Prompt)")
    st.caption("Diao et al. 2023, docs/methods.md §9: the questions whose sampled answers disagree most are the most useful "
               "to annotate. An unextractable answer counts as one more answer but is left out of the variance.")
    first, second, third = st.columns(3)
    metric = first.selectbox("Rank by", METRICS, key="active_prompt_metric")
    extractor = second.selectbox("Answer extracted as", tuple(EXTRACTORS), key="active_prompt_extractor")
    top = third.number_input("Top n", 1, len(result.rows), min(10, len(result.rows)), key="active_prompt_top")
    pool = [question_uncertainty(row["question"], row["samples"], EXTRACTORS[extractor]) for row in result.rows]
    ranked = rank_questions(pool, metric, int(top))
    show_table(
        pd.DataFrame(
            {
                "question": [item.question for item in ranked],
                "disagreement": [item.disagreement for item in ranked],
                "entropy": [item.entropy for item in ranked],
                "variance": [item.variance for item in ranked],
                "extracted answers": [", ".join("∅" if answer is None else str(answer) for answer in item.answers) for item in ranked],
            }
        ),
        key="active_prompt_table", hide_index=True,
    )


def show_rows(result: BatchResult) -> None:
    st.subheader("Results")
    frame = pd.DataFrame.from_records(result.rows).drop(columns=["samples", "reasons"])
    show_table(frame, key="batch_results_table", hide_index=True)
    left, right = st.columns(2)
    if result.results_path.is_file():
        left.download_button("Download results.csv", result.results_path.read_bytes(), "results.csv", "text/csv",
                             key="batch_download_results")
    right.download_button("Download report.json", json.dumps(result.report, indent=1, allow_nan=False), "report.json",
                          "application/json", key="batch_download_report")


def render() -> None:
    """Batch evaluation: choose questions, run them, show the report."""
    st.title("Batch evaluation")
    st.caption("Each question gets N sampled answers scored by every measure, and a greedy answer (temperature 0) graded "
               "against the gold answers. Temperature, top-p, max new tokens, seed and the chat template come from the sidebar. "
               "Finished questions are saved at once: an interrupted batch resumes when you run it again with the same settings.")
    questions = chosen_questions()
    if questions is not None:
        settings, limit = batch_settings()
        selected = questions[: int(limit)] if limit else questions
        labelled = sum(bool(question.answers) for question in selected)
        st.caption(f"{len(selected)} questions, {labelled} with gold answers.")
        show_table(
            pd.DataFrame({"question": [q.text for q in selected], "gold answers": [" | ".join(q.answers) for q in selected]}),
            key="batch_questions", hide_index=True,
        )
        if st.button("Run the batch", type="primary", key="batch_run"):
            run_and_store(selected, settings)
    batch = st.session_state.get(BATCH_KEY)
    if batch is not None:
        st.page_link("pages/calibration.py", label="Turn these scores into chances of being wrong on the Calibration page",
                     icon=":material/tune:")
        show_measures(batch)
        show_active_prompt(batch)
        show_rows(batch)


if __name__ == "__main__":
    render()
