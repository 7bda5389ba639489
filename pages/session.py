"""The one owner of the pages' session state: the current run, its id in the history, its statistics and its scores.

Pages never build RunStatistics: they ask for `statistics(...)`, naming only the optional models a view adds (an NLI
model, a cross-encoder, the run's language model). Every new run goes through `start_run`, which scores every measure
the loaded models allow and saves the run with those scores, so the History holds what the views show.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import streamlit as st

from pages.common import cached_embedder, cached_language_model, cached_nli, loaded_profile, run_store, stop_if_session_ended
from uqviz.format.run import Run, RunFormatError
from uqviz.measures.registry import REGISTRY
from uqviz.models.loading import DEFAULT_MODEL, LanguageModel, ModelLoadError, is_packaged_source, spec_from_source
from uqviz.models.nli import DEFAULT_NLI, NliModel
from uqviz.models.similarity import CrossEncoderModel, CrossEncoderSimilarity
from uqviz.scoring.scores import Scores, score_run
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.viz.tokens import error_line, plain_markdown
from uqviz.workflows.calibration import Calibrated, calibrate, differences, run_conditions
from uqviz.workflows.importing import score_available
from uqviz.workflows.store import MissingRunError, StoreError

RUN_KEY = "run"
RUN_ID_KEY = "run_id"
SCORES_KEY = "scores"
STATISTICS_KEY = "statistics"
RUN_MODEL_KEY = "run_language_model"
REPLY_MODEL_KEY = "run_reply_model"  # the server that sampled the run: it can reply, but has no insides to read
CONFIRMED_MODELS_KEY = "confirmed_run_models"


def current_run() -> Run | None:
    return st.session_state.get(RUN_KEY)


def current_run_id() -> int | None:
    return st.session_state.get(RUN_ID_KEY)


def require_run() -> Run:
    """The current run, or a pointer to the Sample page and a stop; a run without samples is a message too."""
    run = current_run()
    if run is None:
        st.info("No run yet: type a prompt on the **Sample** page (first in the navigation) or open one from **History**.")
        st.stop()
    if not run.samples:
        st.info("The current run has no samples, so there is nothing to show here. Sample again or open another run.")
        st.stop()
    return run


def open_run(run: Run, run_id: int | None = None, language_model: Callable[[], Any] | None = None,
             reply_model: Callable[[], Any] | None = None) -> None:
    """Make `run` the current run of every view; `language_model` is the loaded model that sampled it, if any, and
    `reply_model` the server that did (asked for replies only: a judge's verdict, atomic claims)."""
    st.session_state[RUN_KEY] = run
    st.session_state[RUN_ID_KEY] = run_id
    st.session_state[RUN_MODEL_KEY] = language_model
    st.session_state[REPLY_MODEL_KEY] = reply_model
    st.session_state[STATISTICS_KEY] = {}
    st.session_state.pop(SCORES_KEY, None)


def packaged_nli() -> NliModel:
    """The packaged NLI judge, loaded once per process."""
    return cached_nli(DEFAULT_NLI)


def statistics_for(run: Run, config: ScoreConfig | None = None, language_model: Callable[[], Any] | None = None) -> RunStatistics:
    """Statistics of any run with the session's embedder and NLI judge (and the given language model), for runs that are
    not the current one."""
    return RunStatistics(run, config, embedder=cached_embedder, nli=packaged_nli, language_model=language_model)


def start_run(run: Run, name: str | None = None, language_model: Callable[[], Any] | None = None,
              reply_model: Callable[[], Any] | None = None) -> int | None:
    """A new run (sampled, imported, pasted): score every measure the loaded models allow, save it, make it current."""
    open_run(run, None, language_model, reply_model)
    scores = current_scores()
    st.session_state[RUN_ID_KEY] = save_to_history(run, scores, name)
    return st.session_state[RUN_ID_KEY]


def replace_run(run: Run) -> None:
    """The current run gained data (perturbations): it is scored again and its history entry updated. Measures this
    session cannot compute now (UQAC without the run's model) keep the values they had."""
    run_id, language_model, reply_model = current_run_id(), st.session_state.get(RUN_MODEL_KEY), st.session_state.get(REPLY_MODEL_KEY)
    before = st.session_state.get(SCORES_KEY)
    open_run(run, run_id, language_model, reply_model)
    scores = current_scores()
    if before is not None:
        kept = {name: scored for name, scored in before[1].measures.items()
                if scored.result.value is not None and scores.measures[name].result.value is None}
        scores = replace(scores, measures={**scores.measures, **kept})
        st.session_state[SCORES_KEY] = (run, scores)
    try:
        if run_id is None:
            raise MissingRunError("the run has no history entry yet")
        run_store().update_run(run_id, run, scores)
    except MissingRunError:
        st.session_state[RUN_ID_KEY] = save_to_history(run, scores, None)
    except (OSError, sqlite3.Error, RunFormatError, StoreError) as error:
        st.warning(f"The history entry was not updated: {plain_markdown(str(error))}")


def forget_run_id(run_id: int) -> None:
    """A deleted history entry is no longer the current run's."""
    if current_run_id() == run_id:
        st.session_state[RUN_ID_KEY] = None


def statistics(
    config: ScoreConfig | None = None,
    *,
    nli: NliModel | Callable[[], NliModel] | None = None,
    cross_encoder: CrossEncoderModel | None = None,
    run_model: bool = False,
) -> RunStatistics:
    """The current run's statistics under `config`, one set per combination of extra models, so views share caches.

    The model that sampled the run in this session is always attached; `run_model` also loads the model a run from
    the History names (the Attention chain view reads that model's attention).
    """
    run = require_run()
    config = config or ScoreConfig()
    nli = nli or packaged_nli
    loads_own_model = run_model and run_model_allowed(run)
    language_model = st.session_state.get(RUN_MODEL_KEY) or (partial(model_of_run, run) if loads_own_model else None)
    held: dict[tuple, RunStatistics] = st.session_state.setdefault(STATISTICS_KEY, {})
    # keyed by what the models are, not by object identity: a model evicted from the cache and loaded again is the same
    models = (getattr(nli, "name", DEFAULT_NLI), getattr(cross_encoder, "name", None), language_model is not None)
    base = held.get(models)
    if base is None or base.run is not run:
        similarity = None if cross_encoder is None else CrossEncoderSimilarity(cross_encoder, cached_embedder())
        base = RunStatistics(run, embedder=cached_embedder, similarity=similarity, nli=nli, language_model=language_model,
                             reply_model=st.session_state.get(REPLY_MODEL_KEY))
        held[models] = base
    if base.config == config:
        return base
    derived = held.get((*models, config))
    if derived is None or derived.run is not run:
        with contextlib.suppress(MissingInputError, ModelLoadError):
            base.similarity  # built once on the base, so every derived set shares its embeddings
        derived = base.with_config(config)
        for stale in [key for key in held if len(key) > len(models) and key[: len(models)] == models]:
            del held[stale]  # one derived set per combination of models: the settings the page shows now
        held[(*models, config)] = derived
    return derived


def calibration(run: Run, scores: Scores) -> tuple[dict, dict[str, Calibrated], list[str]] | None:
    """With a profile loaded: the profile, every covered measure's chance of being wrong for this run, and what differs
    between the run's conditions and the profile's (model, sampling settings, meaning judge)."""
    profile = loaded_profile()
    if profile is None:
        return None
    calibrated = calibrate(profile, {name: scored.result.value for name, scored in scores.measures.items()})
    try:
        model = run_model_spec(run)
    except ModelLoadError:
        model = run.model.source
    judge = scores.judge.description if scores.judge is not None else None
    return profile, calibrated, differences(profile, run_conditions(model, run.settings, judge))


def run_model_spec(run: Run) -> str:
    return spec_from_source(run.model.source)


def run_model_allowed(run: Run) -> bool:
    """Whether the model a run names may load: it sampled the run in this session, it is the packaged default or the
    sidebar's model, or the user confirmed that exact source (a run file chooses the path or hub id, so viewing it
    never loads it alone)."""
    if st.session_state.get(RUN_MODEL_KEY) is not None or is_packaged_source(run.model.source):
        return True
    try:
        spec = run_model_spec(run)
    except ModelLoadError:
        return True  # nothing loadable is named: loading fails with its own sentence
    return spec == sidebar_model_spec() or spec in st.session_state.get(CONFIRMED_MODELS_KEY, ())


def ask_to_load_run_model(run: Run) -> bool:
    """True when the run's model may load; otherwise one sentence naming the exact source and a button to confirm it."""
    if run_model_allowed(run):
        return True
    spec = run_model_spec(run)
    st.warning(
        f"This view needs the model that sampled the run, and the run file names it as **{plain_markdown(spec)}**. "
        "A file chooses that path or hub id, so it loads only if you confirm it here (never with remote code)."
    )
    if st.button(f"Load {plain_markdown(spec[:80])}", key="confirm_run_model"):
        st.session_state[CONFIRMED_MODELS_KEY] = (*st.session_state.get(CONFIRMED_MODELS_KEY, ()), spec)
        st.rerun()
    return False


def sidebar_model_spec() -> str:
    return st.session_state.get("model_spec", DEFAULT_MODEL).strip() or DEFAULT_MODEL


def model_of_run(run: Run) -> LanguageModel:
    """The model that sampled the run (UQAC must read the same model's attention), loaded once per process. A run file
    names its own model, so "Trust remote code" applies only when that is the model the sidebar names."""
    spec = run_model_spec(run)
    trust = bool(st.session_state.get("trust_remote_code", False)) and spec == sidebar_model_spec()
    return cached_language_model(spec, st.session_state.get("device", "auto"), trust)


def current_scores() -> Scores:
    """Every measure the run's data and the session's models allow, computed once per current run. A model that fails
    while scoring is one message; the measures that need no model are still computed."""
    run = current_run()
    held = st.session_state.get(SCORES_KEY)
    if held is not None and held[0] is run:
        return held[1]
    with st.spinner(f"Scoring {len(run.samples)} answers on every measure…", show_time=True):
        bar = st.progress(0.0)

        def before_each(done: int, total: int, name: str) -> None:
            stop_if_session_ended()  # an import or a long run stops between measures once its browser has gone
            bar.progress(done / total, text=f"{REGISTRY[name].title} ({done + 1} of {total})")

        try:
            scores = score_available(run, statistics() if run.samples else RunStatistics(run), before_each=before_each)
        except (ModelLoadError, RuntimeError, OSError) as error:
            st.error(f"A model failed while scoring, so only the measures that need no model were computed: "
                     f"{error_line(error)}")
            scores = score_available(run, RunStatistics(run))
        bar.empty()
    st.session_state[SCORES_KEY] = (run, scores)
    return scores


def compute_on_demand(names: list[str], config: ScoreConfig | None = None, run_model: bool = False) -> Scores:
    """Compute costly measures for the current run (with the view's settings), add them to its scores and its history
    entry; a measure that cannot be computed gets its reason, as in every other table."""
    run = require_run()
    scores = current_scores()
    computed = score_run(run, statistics(config, run_model=run_model), names)
    scores = replace(scores, measures={**scores.measures, **computed.measures})
    st.session_state[SCORES_KEY] = (run, scores)
    run_id = current_run_id()
    if run_id is not None:
        try:
            run_store().update_scores(run_id, scores)
        except (OSError, sqlite3.Error, StoreError) as error:
            st.warning(f"The history entry was not updated: {plain_markdown(str(error))}")
    return scores


def save_to_history(run: Run, scores: Scores | None, name: str | None = None) -> int | None:
    """Save a run and its scores to the store; a failure is a warning and never stops the page."""
    try:
        return run_store().save(run, scores, name)
    except (OSError, sqlite3.Error, StoreError, RunFormatError) as error:
        st.warning(f"The run was not saved to the history: {plain_markdown(str(error))}")
        return None
