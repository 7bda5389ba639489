"""Ask the model: P(True), the probability the run's model gives "True" when asked whether each of its answers is
right, and the confidence it states in words, in one or two stages (docs/methods.md §12.6, §12.7)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.common import show_table
from pages.session import ask_to_load_run_model, compute_on_demand, require_run, run_model_spec, statistics
from uqviz.format.run import Run
from uqviz.measures.base import MeasureResult
from uqviz.measures.registry import REGISTRY
from uqviz.measures.self_report import p_true, verbalized_confidence
from uqviz.models.loading import ModelLoadError
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.probing import ONE_STAGE, P_TRUE, TWO_STAGE, VERBALIZED_REPLIES, answer_sequences
from uqviz.viz.self_report import answer_label, p_true_figure, verbalized_rows
from uqviz.viz.tokens import error_line, plain_markdown

DEFAULTS = ScoreConfig()
TEMPLATE_CHARS = 4_000
P_TRUE_TEMPLATE_KEY = "p_true_template"
ONE_STAGE_KEY = "verbalized_one_stage_template"
TWO_STAGE_KEY = "verbalized_two_stage_template"
MAX_TOKENS_KEY = "verbalized_max_new_tokens"
VERBALIZED = {ONE_STAGE: "verbalized_one_stage", TWO_STAGE: "verbalized_two_stage"}
MAX_REPLY_TOKENS = 256


def page_config() -> ScoreConfig:
    """The settings of the last submitted forms (their widgets keep them in session state), defaults before that. One
    config for both measures, so their cached answers live in the same set of statistics."""
    state = st.session_state
    return replace(
        DEFAULTS,
        p_true_prompt=state.get(P_TRUE_TEMPLATE_KEY, DEFAULTS.p_true_prompt),
        verbalized_one_stage_prompt=state.get(ONE_STAGE_KEY, DEFAULTS.verbalized_one_stage_prompt),
        verbalized_two_stage_prompt=state.get(TWO_STAGE_KEY, DEFAULTS.verbalized_two_stage_prompt),
        verbalized_max_new_tokens=int(state.get(MAX_TOKENS_KEY, DEFAULTS.verbalized_max_new_tokens)),
    )


def loadable_spec(run: Run) -> str | None:
    """The model spec the run's source names when it names a loadable one, else None (pasted samples name none)."""
    try:
        return run_model_spec(run)
    except ModelLoadError:
        return None


def model_statistics(run: Run, config: ScoreConfig) -> tuple[RunStatistics, bool]:
    """The statistics to ask the model with, and whether they load the model the run names. The model that sampled the
    run in this session is attached by itself; otherwise one sentence, and the session's explicit offer to load the
    model the run file names (only that exact source, only when the user confirms it), else a stop."""
    stats = statistics(config)
    try:
        answer_sequences(stats)
    except MissingInputError as error:
        st.info(f"The model cannot be asked about these answers: {plain_markdown(str(error))}.")
        st.stop()
    if stats.has_language_model:
        return stats, False
    spec = loadable_spec(run)
    if spec is None:
        st.info(f"No language model is at hand for this run, and its source ({plain_markdown(run.model.source)}) names "
                "none that could be loaded, so the model cannot be asked about its answers.")
        st.stop()
    st.info(
        "No language model is attached to this run in this session (it was opened from History or imported; a run "
        "sampled here brings its model along), so asking it means loading the model the run names."
    )
    if not ask_to_load_run_model(run):
        st.stop()
    st.caption(f"The run's model, {plain_markdown(spec)}, loads when you press one of the buttons below.")
    return statistics(config, run_model=True), True


def ask(run: Run, names: list[str], config: ScoreConfig, run_model: bool, default: bool) -> dict[str, MeasureResult] | None:
    """Compute on-demand measures: with the default settings they join the run's scores and its History entry; with an
    edited template they stay on this page. A model that fails is one message and None."""
    try:
        if default:
            scores = compute_on_demand(names, run_model=run_model)
            return {name: scores.measures[name].result for name in names}
        computed = score_run(run, statistics(config, run_model=run_model), names)
        return {name: scored.result for name, scored in computed.measures.items()}
    except (ModelLoadError, RuntimeError, OSError) as error:
        st.error(f"The model could not be asked: {error_line(error)}")
        return None


def warn_unscored(results: dict[str, MeasureResult] | None) -> None:
    """One warning per measure that got nothing to show (no model, a bad template); read replies are shown below."""
    for name, result in (results or {}).items():
        if result.value is None and result.detail is None and result.reason:
            st.warning(f"{REGISTRY[name].title}: {plain_markdown(result.reason)}")


def holders(stats: RunStatistics, run_model: bool) -> list[RunStatistics]:
    """Where asked answers are cached: the page's set, then the run's default set (the All scores button fills that)."""
    base = statistics(run_model=run_model)
    return [stats] if base is stats else [stats, base]


def p_true_section(run: Run, stats: RunStatistics, config: ScoreConfig, run_model: bool) -> None:
    st.subheader("P(True)")
    st.caption(
        "Kadavath et al. 2022 (docs/methods.md §12.6): the model reads the question and one of its answers, is asked "
        "whether the answer is true, and the probability of the token \"True\" as its next token is read off. One "
        "forward pass per answer, no generation. U = −mean log p(True): higher = the model doubts its own answers."
    )
    with st.form("p_true_form"):
        template = st.text_area(
            "P(True) prompt: {question} and {answer} are filled in", value=DEFAULTS.p_true_prompt,
            key=P_TRUE_TEMPLATE_KEY, height=170, max_chars=TEMPLATE_CHARS,
        )
        submitted = st.form_submit_button(f"Ask about all {len(run.samples)} answers", key="p_true_submit", type="primary")
    if submitted:
        with st.spinner(f"One forward pass per answer through the P(True) prompt ({len(run.samples)} answers)…", show_time=True):
            warn_unscored(ask(run, ["p_true"], config, run_model, template == DEFAULTS.p_true_prompt))
    probe = next((held for held in (s.cached(P_TRUE, template) for s in holders(stats, run_model)) if held is not None), None)
    if probe is None:
        st.caption("Press the button to ask the model about every answer with this prompt.")
        return
    result = p_true(probe)
    detail = result.detail
    columns = st.columns(3)
    with columns[0].container(key="p_true_metric"):
        st.metric("U (P(True))", f"{result.value:.3f}", help="−(1/K) Σ log p(True | prompt with answer k)")
    columns[1].metric("mean p(True)", f"{sum(detail.probabilities) / len(detail.probabilities):.3f}")
    columns[2].metric("token read", repr(detail.token))
    if template != DEFAULTS.p_true_prompt:
        st.caption("An edited prompt: these values stay on this page; the run's scores and History keep the default prompt's.")
    answers = [sample.text for sample in run.samples]
    st.plotly_chart(p_true_figure(detail.probabilities, answers, detail.token), key="p_true_chart", width="stretch")
    chosen = st.selectbox(
        "The prompt the model read for", range(len(answers)), key="p_true_answer",
        format_func=lambda index: answer_label(index, answers[index]),
    )
    chosen = chosen if chosen is not None and chosen < len(detail.prompts) else 0
    st.caption(
        f"p(True) = {detail.probabilities[chosen]:.3f}. The text below is the filled-in prompt"
        + (", sent as the user's turn of the model's chat template." if run.chat else ", followed directly by the token read.")
    )
    st.code(detail.prompts[chosen], language=None, wrap_lines=True)


def verbalized_section(run: Run, stats: RunStatistics, config: ScoreConfig, run_model: bool) -> None:
    st.subheader("Verbalized confidence")
    st.caption(
        "Tian et al. 2023 (docs/methods.md §12.7): the model is asked to state a probability in words. 1-stage: it "
        "answers the question once more (greedy) and gives its confidence. 2-stage: after each of its sampled answers it "
        "is asked how likely that answer is correct. U = 1 − the mean confidence read from the replies."
    )
    with st.form("verbalized_form"):
        one = st.text_area("1-stage prompt: {question} is filled in", value=DEFAULTS.verbalized_one_stage_prompt,
                           key=ONE_STAGE_KEY, height=170, max_chars=TEMPLATE_CHARS)
        two = st.text_area("2-stage prompt: asked as the next turn after each answer", value=DEFAULTS.verbalized_two_stage_prompt,
                           key=TWO_STAGE_KEY, height=120, max_chars=TEMPLATE_CHARS)
        tokens = st.number_input("Max new tokens per reply", 1, MAX_REPLY_TOKENS, DEFAULTS.verbalized_max_new_tokens,
                                 key=MAX_TOKENS_KEY)
        submitted = st.form_submit_button(f"Ask for its confidence ({1 + len(run.samples)} greedy replies)",
                                          key="verbalized_submit", type="primary")
    default = (one, two, int(tokens)) == (DEFAULTS.verbalized_one_stage_prompt, DEFAULTS.verbalized_two_stage_prompt,
                                          DEFAULTS.verbalized_max_new_tokens)
    if submitted:
        with st.spinner(f"Greedy replies of at most {int(tokens)} tokens…", show_time=True):
            warn_unscored(ask(run, list(VERBALIZED.values()), config, run_model, default))
    answers = [sample.text for sample in run.samples]
    shown = False
    for stage, template, title in ((ONE_STAGE, one, "1-stage"), (TWO_STAGE, two, "2-stage")):
        replies = next((held for held in (s.cached(VERBALIZED_REPLIES, stage, template, int(tokens)) for s in holders(stats, run_model))
                        if held is not None), None)
        if replies is None:
            continue
        shown = True
        result = verbalized_confidence(replies)
        with st.container(key=f"{VERBALIZED[stage]}_metric"):
            st.metric(f"U ({title} verbalized)", "—" if result.value is None else f"{result.value:.3f}",
                      help="1 − the mean stated confidence over the replies that state one")
        if result.value is None:
            st.caption(plain_markdown(result.reason or ""))
        rows = verbalized_rows(result.detail, answers if stage == TWO_STAGE else None)
        show_table(pd.DataFrame(rows), key=f"{VERBALIZED[stage]}_table", hide_index=True,
                     column_config={"confidence": st.column_config.NumberColumn(format="%.3f")})
        if stage == ONE_STAGE:
            with st.expander("The 1-stage question as asked"):
                st.code(result.detail.prompts[0], language=None, wrap_lines=True)
    if not shown:
        st.caption("Press the button to ask the model for its stated confidence.")
    elif not default:
        st.caption("Edited settings: these values stay on this page; the run's scores and History keep the default prompts'.")


def render() -> None:
    """Ask the model (P(True))."""
    st.title("Ask the model (P(True))")
    st.caption(
        "The model that wrote the answers is asked about them: how likely it finds each one true, and how sure it says "
        "it is. These are extra model calls, made when you press a button; the prompts are yours to edit."
    )
    run = require_run()
    config = page_config()
    stats, run_model = model_statistics(run, config)
    p_true_section(run, stats, config, run_model)
    verbalized_section(run, stats, config, run_model)


if __name__ == "__main__":
    render()
