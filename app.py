"""uqviz entry page: model and sampling settings, the prompt form, and the samples with their token statistics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import (
    adaptive_rule, language_model, map_worker, sampling_settings, show_table, sidebar_settings, stop_if_session_ended,
)
from pages.session import calibration, current_run, current_scores, start_run, statistics_for
from pages.views import VIEWS
from uqviz.engine.sampling import SamplingError, clean_prompt, validate
from uqviz.format.run import Run
from uqviz.measures.bayesian_entropy import settled
from uqviz.measures.registry import REGISTRY
from uqviz.workflows.adaptive import sample_answers
from uqviz.workflows.calibration import best_calibrated
from uqviz.models.loading import LanguageModel
from uqviz.viz.tokens import PROBABILITY, TOKEN_ROWS, error_line, legend_html, plain_markdown, recorded_rows, row_range, token_row_html


def sample_page() -> None:
    st.title("uqviz: how sure is the model?")
    st.caption(
        "Type a prompt; uqviz samples several answers and keeps, for every token, the model's raw probability, "
        "entropy and top alternatives. Every page shows the same samples from another angle."
    )
    with st.form("prompt_form"):
        prompt = st.text_area("Prompt", key="prompt", height=100, placeholder="What is the capital of France?")
        submitted = st.form_submit_button("Sample", type="primary")
    if submitted:
        run_sampling(prompt)
    run = current_run()
    if run is not None:
        show_run(run)


def run_sampling(prompt: str) -> None:
    """Validate, load the model, sample with progress; errors are messages, never tracebacks."""
    settings = sampling_settings()
    cleaned = clean_prompt(prompt)
    try:
        validate(cleaned, settings)
    except SamplingError as error:
        st.warning(plain_markdown(str(error)))
        return
    if cleaned != prompt:
        st.info("Control characters were removed from the prompt.")
    with st.status("Loading the model…", expanded=True) as status:
        lm = language_model()
        if lm is None:
            status.update(label="The model could not be loaded", state="error")
            return
        status.update(label=f"Sampling {settings.n} answers from {lm.info.name}…")
        bar = st.progress(0.0, text="token 0")

        def progress(step: int, total: int) -> None:
            stop_if_session_ended()
            unit = "token" if isinstance(lm, LanguageModel) else "answer"
            bar.progress(min(step / total, 1.0), text=f"{unit} {step} of {'at most ' if unit == 'token' else ''}{total}")

        try:
            run = draw(lm, cleaned, settings, progress, status)
        except SamplingError as error:
            status.update(label="Sampling was refused", state="error")
            st.warning(plain_markdown(str(error)))
            return
        except RuntimeError as error:
            status.update(label="Sampling failed", state="error")
            st.error(f"The model failed while sampling: {error_line(error)}")
            return
        status.update(label=f"Sampled {len(run.samples)} answers in {run.sampling_seconds:.2f} s", state="complete", expanded=False)
    local = isinstance(lm, LanguageModel)  # a server has no insides to read, but it can reply (judge, atomic claims)
    start_run(run, language_model=(lambda: lm) if local else None, reply_model=None if local else (lambda: lm))


def draw(lm, prompt: str, settings, progress, status) -> Run:
    """The N answers at once, or in rounds until semantic entropy settles (the sidebar's toggle), each round told."""
    options = {"chat": bool(st.session_state.get("chat", True)),
               "system_prompt": st.session_state.get("system_prompt") or None, "progress": progress}
    rule = adaptive_rule()

    def told(drawn: int, deviation: float) -> None:
        status.update(label=f"{drawn} answers drawn: posterior sd of semantic entropy {deviation:.3f} "
                            f"(stops at ≤ {rule.max_variance ** 0.5:.3f}, or at {settings.n} answers)…")

    return sample_answers(lm, prompt, settings, statistics_for, rule, on_round=told, **options)


def adaptive_caption(run: Run) -> str:
    """How a run drawn until semantic entropy settled was drawn, in one sentence; empty for a run drawn at once."""
    record = run.adaptive
    if record is None:
        return ""
    verdict = "settled" if record.posterior_sd and settled(record.posterior_sd[-1], record.max_variance) else "did not settle"
    rounds = ", ".join(f"{deviation:.3f}" for deviation in record.posterior_sd)
    return (f" Drawn in rounds until semantic entropy settled: {len(run.samples)} of at most {record.max_n} answers; "
            f"posterior sd after each round {rounds} (stop at ≤ {record.max_variance ** 0.5:.3f}): {verdict}.")


def show_run(run: Run) -> None:
    scores = current_scores()
    st.subheader("Samples")
    st.caption(
        f"{len(run.samples)} answers from {plain_markdown(run.model.name)} on {plain_markdown(run.model.device)} ({plain_markdown(run.model.dtype)}), "
        f"{'' if run.sampling_seconds is None else f'sampled in {run.sampling_seconds:.2f} s · '}temperature {run.settings.temperature}, top-p {run.settings.top_p}, "
        f"top-k {run.settings.top_k or 'off'}, seed {run.settings.seed}, chat template {'on' if run.chat else 'off'}."
        + adaptive_caption(run)
    )
    columns = st.columns(3)
    for column, name, label in zip(
        columns,
        ("ln_predictive_entropy", "predictive_entropy", "self_certainty"),
        ("LN-PE (nats/token)", "PE (nats)", "U = −self-certainty"),
    ):
        result = scores.measures[name].result
        column.metric(label, "—" if result.value is None else f"{result.value:.3f}", help=result.reason)
    chance_of_error(run, scores)
    missing = [None] * len(run.samples)
    certainty = scores.measures["self_certainty"].result.per_sample
    table = pd.DataFrame(
        {
            "answer": [s.text for s in run.samples],
            "tokens": [len(s) for s in run.samples],
            "finish": [s.finish_reason for s in run.samples],
            "LN-PE": scores.measures["ln_predictive_entropy"].result.per_sample or missing,
            "self-certainty": missing if certainty is None else [-value for value in certainty],
        }
    )
    show_table(table, key="samples_table")
    show_tokens(run)


def show_tokens(run: Run) -> None:
    """Every answer's tokens coloured by the per-token statistic chosen (those the run recorded), red = unsure."""
    st.subheader("Tokens")
    rows = recorded_rows(run.samples)
    chosen = st.segmented_control("Colour tokens by", rows, format_func=lambda name: TOKEN_ROWS[name].label,
                                  default=PROBABILITY if PROBABILITY in rows else None, key="token_row") if rows else None
    row = TOKEN_ROWS[chosen or PROBABILITY]
    low, high = row_range(run.samples, row)
    ends = (f"{low:.3g} (unsure)", f"{high:.3g} (sure)") if row.sure_when_high else (f"{low:.3g} (sure)", f"{high:.3g} (unsure)")
    if chosen is not None:
        st.html(legend_html(f"{row.label} {ends[0]}", ends[1], row.scale))
    for index, sample_ in enumerate(run.samples):
        st.markdown(f"**Sample {index + 1}** · {len(sample_)} tokens · finish: {plain_markdown(sample_.finish_reason)}")
        if chosen is not None and len(sample_):
            st.html(token_row_html(sample_, row, (low, high)))
        else:
            st.text(sample_.text)


def chance_of_error(run: Run, scores) -> None:
    """With a calibration profile loaded: the chance that the model's greedy answer to this prompt is wrong, from the
    profile's best measure this run has, with its interval, the batch it came from and what differs from it."""
    held = calibration(run, scores)
    if held is None:
        return
    profile, calibrated, differs = held
    best = best_calibrated(profile, calibrated)
    if best is None:
        st.info("The calibration profile covers none of the measures this run has.")
        return
    chance = calibrated[best]
    source = "the ensemble of the profile's measures" if best == "ensemble" else REGISTRY[best].title
    rows = (profile["valid_for"].get("data") or {}).get("rows")
    st.container(key="calibrated_chance").metric(
        "Chance the greedy answer is wrong", f"{chance.p_wrong:.2f}",
        help="From a calibration profile: the share of wrong answers among a batch's questions with a similar score.")
    st.caption(f"{chance.low:.2f}–{chance.high:.2f} (95 % bootstrap interval), from {plain_markdown(source)} through a profile "
               f"fitted on {rows or 'an unknown number of'} graded questions of {plain_markdown(str(profile['valid_for'].get('model')))}.")
    for difference in differs:
        st.warning(f"The profile was fitted under other conditions, so this chance may not hold: {plain_markdown(difference)}.")


# an emoji favicon is drawn in the browser; a :material: one would be fetched from fonts.gstatic.com
st.set_page_config(page_title="uqviz", page_icon="📊", layout="wide")
map_worker()  # UMAP compiles in a process of its own from the start
sidebar_settings()
navigation = st.navigation(
    [
        st.Page(sample_page, title="Sample", icon=":material/edit:", default=True),
        *(st.Page(view.path, title=view.title, icon=view.icon) for view in VIEWS),
    ],
    expanded=True,  # every view listed: beyond 10 pages Streamlit would hide the last ones behind "View more"
)
navigation.run()
