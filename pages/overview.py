"""All scores: every registered measure for the current run (the costly ones on demand), CoCoA per answer, the Borda
best-of-N pick, and the Chow rules per token."""

from __future__ import annotations

import streamlit as st

from pages.common import show_table
from pages.session import calibration, compute_on_demand, current_scores, require_run, statistics
from uqviz.format.run import Run
from uqviz.measures.cocoa import CocoaDetail
from uqviz.measures.logprob import DEFAULT_CHOW_QUANTILE
from uqviz.measures.registry import ON_DEMAND, REGISTRY
from uqviz.measures.self_certainty import DEFAULT_BORDA_EXPONENT
from uqviz.models.loading import ModelLoadError
from uqviz.scoring.scores import Scores, on_demand_reason
from uqviz.statistics.base import MissingInputError, RunStatistics
from uqviz.statistics.clustering import answer_clustering
from uqviz.viz.overview import (
    COCOA_VARIANTS,
    best_of_n,
    borda_figure,
    borda_frame,
    chow_length_figure,
    cocoa_figure,
    group_representatives,
    measures_frame,
    token_logprob_figure,
)
from uqviz.viz.tokens import error_line, plain_markdown

BATCH_KEY = "batch"
TEXT_GROUPING = "same normalised text"
CLUSTER_GROUPING = "same meaning cluster"
ON_DEMAND_LABEL = f"Compute the {len(ON_DEMAND)} costly measures"


def pending_on_demand(scores: Scores) -> list[str]:
    """The on-demand measures this run's scores list as not computed yet."""
    return [name for name in ON_DEMAND if name in scores.measures and scores[name].result.value is None
            and scores[name].result.reason == on_demand_reason(name)]


def compute_one(name: str) -> Scores:
    """One on-demand measure into the session's scores (and the run's history entry); a model that fails is one message."""
    try:
        return compute_on_demand([name])
    except (ModelLoadError, RuntimeError, OSError) as error:
        st.error(f"{plain_markdown(REGISTRY[name].title)} failed: {error_line(error)}")
        return current_scores()


def on_demand_section(scores: Scores) -> Scores:
    """The button that computes, one by one with progress, the costly measures this session can compute (those that
    ask the language model need the model that sampled the run, so a run from the History says what it needs instead);
    the scores after it."""
    pending = pending_on_demand(scores)
    pressed = st.button(
        ON_DEMAND_LABEL, key="overview_on_demand", disabled=not pending,
        help="They ask a model once per token alternative or per answer, so they are not part of a run's default scores.",
    )
    if pending and not pressed:
        costs = "; ".join(f"{REGISTRY[name].title}: {REGISTRY[name].cost}" for name in pending)
        st.caption(f"Not computed yet, because each costs model calls: {plain_markdown(costs)}.")
    if not pressed:
        return scores
    plural = "s" if len(pending) > 1 else ""
    with st.status(f"Computing {len(pending)} costly measure{plural}…", expanded=True) as status:
        for done, name in enumerate(pending):
            title = REGISTRY[name].title
            status.update(label=f"Computing {title} ({done + 1} of {len(pending)})…")
            scores = compute_one(name)
            result, seconds = scores[name].result, scores[name].seconds
            outcome = f"U = {result.value:.4f}" if result.value is not None else f"not computed: {result.reason}"
            st.write(plain_markdown(f"{title}: {outcome} ({seconds:.2f} s)"))
        status.update(label=f"Computed {len(pending)} costly measure{plural}", state="complete", expanded=False)
    return scores


def measures_table(scores: Scores) -> None:
    batch = st.session_state.get(BATCH_KEY)
    held = calibration(require_run(), scores)
    frame = measures_frame(scores, batch.rows if batch else None, *(held[:2] if held else (None, None)))
    show_table(
        frame, key="overview_table", hide_index=True,
        column_config={
            "U": st.column_config.NumberColumn(format="%.4f"),
            "P(wrong)": st.column_config.NumberColumn(format="%.2f", help="the chance the greedy answer is wrong, from the loaded calibration profile"),
            "held-out AUROC": st.column_config.NumberColumn(format="%.3f", help="how well the measure ranked wrong answers on the profile's held-out folds"),
            "percentile in batch": st.column_config.NumberColumn(format="%.0f", help="percent of the last batch's questions with U at or below this run's"),
            "seconds": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    total_seconds = sum(scored.seconds for scored in scores.measures.values())
    precision = f", token relevance at {scores.token_relevance.precision}" if scores.token_relevance else ""
    if scores.judge is not None and scores.judge.note:
        st.info(plain_markdown(scores.judge.note))
    judge = f" Meaning judge: {plain_markdown(scores.judge.description)}." if scores.judge is not None else ""
    st.caption(
        f"Every value is U: higher means more uncertain. Similarity backend: {scores.similarity or 'none was needed'}"
        f"{precision}.{judge} All measures took {total_seconds:.2f} s; a statistic shared by several measures (embeddings, clusters) is "
        "paid for by the first measure that needs it."
        + ("" if batch else " Run a batch on the Batch evaluation page to see percentiles.")
    )


def cocoa_section(run: Run, scores: Scores) -> None:
    st.subheader("CoCoA: each answer's own uncertainty against its disagreement with the others")
    st.caption(
        "CoCoA multiplies an answer's own uncertainty u_j by its mean dissimilarity 1 − W to the other answers, then "
        "averages over answers: an answer counts as uncertain when it is both unlikely and alone in what it says "
        "(Vashurin et al. 2025; docs/methods.md §12.4). Top right: unlikely and isolated."
    )
    name = st.radio("Own uncertainty u_j", list(COCOA_VARIANTS), key="cocoa_variant", horizontal=True,
                    format_func=lambda variant: REGISTRY[variant].title)
    scored = scores.measures.get(name)
    if scored is None or not isinstance(scored.result.detail, CocoaDetail):
        reason = "it was not scored" if scored is None else scored.result.reason or "it has no per-answer detail"
        st.info(f"{plain_markdown(REGISTRY[name].title)} has no value for this run: {plain_markdown(reason)}.")
        return
    result = scored.result
    st.plotly_chart(cocoa_figure([sample.text for sample in run.samples], result.detail, result.per_sample, COCOA_VARIANTS[name]),
                    key="cocoa_chart", width="stretch")
    st.caption(f"{plain_markdown(REGISTRY[name].title)}: U = {result.value:.4f}, the mean of the answers' U_j = u_j · d_j.")


def borda_section(run: Run, statistics: RunStatistics) -> None:
    st.subheader("Best of N by self-certainty, with Borda voting")
    if not any(sample.kl_from_uniform for sample in run.samples):
        st.info("This run has no next-token distributions, so self-certainty and Borda voting cannot be shown.")
        return
    left, right = st.columns(2)
    exponent = left.slider(
        "Borda exponent p", 0.0, 2.0, DEFAULT_BORDA_EXPONENT, 0.1, key="borda_exponent",
        help="The answer ranked r by self-certainty casts (N − r + 1)^p votes; p = 0 is majority voting (docs/methods.md §7.2).",
    )
    grouping = right.radio("Answers vote together when they have", (TEXT_GROUPING, CLUSTER_GROUPING), key="borda_grouping")
    answers = [sample.text for sample in run.samples]
    cluster_ids = None
    if grouping == CLUSTER_GROUPING:
        try:
            cluster_ids = answer_clustering(statistics).ids
        except MissingInputError as error:
            st.info(f"Grouped by text instead: {plain_markdown(str(error))}.")
    pick = best_of_n(run.samples, cluster_ids, exponent)
    result, labels, certainties, best_single = pick.vote, pick.labels, pick.certainties, pick.most_certain
    if result.sample_index is None:
        st.info("No answer has any text to vote for.")
        return
    left, right = st.columns(2)
    left.markdown(f"**Borda pick** (sample {result.sample_index + 1})")
    left.text(answers[result.sample_index])
    right.markdown(f"**Highest self-certainty alone** (sample {best_single + 1})")
    right.text(answers[best_single])
    st.plotly_chart(borda_figure(result, group_representatives(answers, labels)), key="borda_chart", width="stretch")
    show_table(borda_frame(answers, certainties, labels, result), key="borda_table", hide_index=True)


def chow_section(run: Run) -> None:
    st.subheader("Token log-probabilities and the Chow rules")
    st.caption(
        "Chow-Sum adds the log-probabilities, so long answers look uncertain; Chow-Average divides by the length, so "
        "one unlikely token vanishes in a long answer; the α-quantile keeps the least likely tokens in view (Gupta et al. 2024, §8)."
    )
    left, right = st.columns(2)
    alpha = left.slider("Quantile α for the charts", 0.0, 1.0, DEFAULT_CHOW_QUANTILE, 0.05, key="overview_chow_alpha",
                        help="α = 0 is the least likely token. The table above uses the default α.")
    index = right.selectbox("Sample", range(len(run.samples)), key="overview_chow_sample",
                            format_func=lambda i: f"{i + 1}: {run.samples[i].text[:60]}")
    if len(run.samples[index]):
        st.plotly_chart(token_logprob_figure(run.samples[index], alpha), key="token_logprob_chart", width="stretch")
    else:
        st.info("This answer is empty: it has no tokens to draw.")
    st.plotly_chart(chow_length_figure([sample.logprobs for sample in run.samples], alpha), key="chow_length_chart", width="stretch")


def render() -> None:
    """All scores: every measure, the best-of-N pick and the Chow rules of the current run."""
    run = require_run()
    run_statistics = statistics()
    st.title("All scores")
    st.caption(f"{len(run.samples)} answers to: {plain_markdown(run.prompt[:200])}")
    scores = on_demand_section(current_scores())
    measures_table(scores)
    cocoa_section(run, scores)
    borda_section(run, run_statistics)
    chow_section(run)


if __name__ == "__main__":
    render()
