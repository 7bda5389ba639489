"""Ask the model: P(True), the probability the run's model gives "True" when asked whether each of its answers is
right, the confidence it states in words, in one or two stages, and its verdict as a judge of each answer with UQLM's
prompts (docs/methods.md §12.6, §12.7, §12.15)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from pages.common import show_table
from pages.session import ask_to_load_run_model, compute_on_demand, require_run, run_model_spec, statistics
from uqviz.format.run import Run
from uqviz.measures.base import MeasureResult
from uqviz.measures.judge import CATEGORICAL, CONTINUOUS, judge_uncertainty
from uqviz.measures.registry import REGISTRY
from uqviz.measures.self_report import p_true, verbalized_confidence
from uqviz.models.loading import ModelLoadError
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig, Statistic
from uqviz.statistics.probing import JUDGE_REPLIES, ONE_STAGE, P_TRUE, TWO_STAGE, VERBALIZED_REPLIES, answer_sequences
from uqviz.viz.self_report import answer_label, judge_rows, p_true_figure, verbalized_rows
from uqviz.viz.tokens import error_line, plain_markdown

DEFAULTS = ScoreConfig()
TEMPLATE_CHARS = 4_000
P_TRUE_TEMPLATE_KEY = "p_true_template"
ONE_STAGE_KEY = "verbalized_one_stage_template"
TWO_STAGE_KEY = "verbalized_two_stage_template"
MAX_TOKENS_KEY = "verbalized_max_new_tokens"
VERBALIZED = {ONE_STAGE: "verbalized_one_stage", TWO_STAGE: "verbalized_two_stage"}
JUDGE_TEMPLATE_KEYS = {CATEGORICAL: "judge_categorical_template", CONTINUOUS: "judge_continuous_template"}
JUDGE_MEASURES = {CATEGORICAL: "judge_categorical", CONTINUOUS: "judge_continuous"}
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
        judge_categorical_prompt=state.get(JUDGE_TEMPLATE_KEYS[CATEGORICAL], DEFAULTS.judge_categorical_prompt),
        judge_continuous_prompt=state.get(JUDGE_TEMPLATE_KEYS[CONTINUOUS], DEFAULTS.judge_continuous_prompt),
    )


def loadable_spec(run: Run) -> str | None:
    """The model spec the run's source names when it names a loadable one, else None (pasted samples name none)."""
    try:
        return run_model_spec(run)
    except ModelLoadError:
        return None


def replay_problem(stats: RunStatistics) -> str | None:
    """Why the answers cannot be replayed through the model (P(True) and verbalized confidence need that), or None."""
    try:
        answer_sequences(stats)
    except MissingInputError as error:
        return str(error)
    return None


def model_statistics(run: Run, config: ScoreConfig) -> tuple[RunStatistics, bool]:
    """The statistics to ask the model with, and whether they load the model the run names. The model that sampled the
    run in this session (a local one or a server) is attached by itself; otherwise one sentence, and the session's
    explicit offer to load the model the run file names (only that exact source, only when the user confirms it), else
    a stop."""
    stats = statistics(config)
    if stats.has_reply_model:
        return stats, False
    spec = loadable_spec(run)
    if spec is None:
        replay = replay_problem(stats)
        st.info(f"The model cannot be asked about these answers: {plain_markdown(replay)}." if replay else
                f"No language model is at hand for this run, and its source ({plain_markdown(run.model.source)}) names "
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


def asked(stats: RunStatistics, run_model: bool, statistic: Statistic, *key: Hashable) -> Any:
    """What the model was already asked, or None: from the page's set, else the run's default set (the All scores
    button fills that)."""
    base = statistics(run_model=run_model)
    return next((held for held in (holder.cached(statistic, *key) for holder in dict.fromkeys((stats, base)))
                 if held is not None), None)


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
    probe = asked(stats, run_model, P_TRUE, template)
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
        replies = asked(stats, run_model, VERBALIZED_REPLIES, stage, template, int(tokens))
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


def judge_section(run: Run, stats: RunStatistics, config: ScoreConfig, run_model: bool) -> None:
    st.subheader("The model as judge")
    st.caption(
        "UQLM's LLM-as-a-judge (Bouchard & Chauhan 2025; docs/methods.md §12.15): the model reads the question and one "
        "answer with UQLM's prompt and calls it Correct, Incorrect or \"I am not sure\" (J = 1, 0, 0.5), or scores it "
        "from 0 to 100 (J = score / 100). One greedy reply per distinct answer, read as UQLM reads it. "
        "U = 1 − the mean J of the replies that could be read."
    )
    distinct = len({sample.text for sample in run.samples})
    with st.form("judge_form"):
        templates = {
            kind: st.text_area(f"{kind.capitalize()} prompt: {{question}} and {{answer}} are filled in",
                               value=default, key=JUDGE_TEMPLATE_KEYS[kind], height=200, max_chars=TEMPLATE_CHARS)
            for kind, default in ((CATEGORICAL, DEFAULTS.judge_categorical_prompt), (CONTINUOUS, DEFAULTS.judge_continuous_prompt))
        }
        submitted = st.form_submit_button(f"Ask it to judge its answers ({2 * distinct} greedy replies)", key="judge_submit",
                                          type="primary")
    default = templates == {CATEGORICAL: DEFAULTS.judge_categorical_prompt, CONTINUOUS: DEFAULTS.judge_continuous_prompt}
    if submitted:
        with st.spinner(f"Greedy replies of at most {config.judge_max_new_tokens} tokens…", show_time=True):
            warn_unscored(ask(run, list(JUDGE_MEASURES.values()), config, run_model, default))
    shown = False
    for kind, template in templates.items():
        replies = asked(stats, run_model, JUDGE_REPLIES, template, config.judge_max_new_tokens)
        if replies is not None:
            shown = True
            show_judgement(run, judge_uncertainty(replies, kind), kind)
    if not shown:
        st.caption("Press the button to have the model judge every answer with these prompts.")
    elif not default:
        st.caption("Edited prompts: these values stay on this page; the run's scores and History keep the default prompts'.")


def show_judgement(run: Run, result: MeasureResult, kind: str) -> None:
    """The judge's U, then every answer with the raw reply and what was read from it."""
    name = JUDGE_MEASURES[kind]
    with st.container(key=f"{name}_metric"):
        st.metric(f"U ({kind} judge)", "—" if result.value is None else f"{result.value:.3f}",
                  help=f"1 − the mean score J read from the replies of {result.detail.judge}")
    if result.value is None:
        st.caption(plain_markdown(result.reason or ""))
    show_table(pd.DataFrame(judge_rows(result.detail, [sample.text for sample in run.samples])), key=f"{name}_table",
               hide_index=True, column_config={"J": st.column_config.NumberColumn(format="%.2f"),
                                               "U": st.column_config.NumberColumn(format="%.2f")})


def render() -> None:
    """Ask the model (P(True))."""
    st.title("Ask the model (P(True))")
    st.caption(
        "The model that wrote the answers is asked about them: how likely it finds each one true, how sure it says "
        "it is, and whether it judges each one correct. These are extra model calls, made when you press a button; "
        "the prompts are yours to edit."
    )
    run = require_run()
    config = page_config()
    stats, run_model = model_statistics(run, config)
    replay = replay_problem(stats)
    if replay is None:
        p_true_section(run, stats, config, run_model)
        verbalized_section(run, stats, config, run_model)
    else:
        st.info(f"P(True) and verbalized confidence replay the answers through the model, which cannot be done here: "
                f"{plain_markdown(replay)}. The model can still judge them.")
    judge_section(run, stats, config, run_model)


if __name__ == "__main__":
    render()
