"""Streamlit glue shared by every page: cached models with their locks, the run store, the sidebar settings."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from uqviz.engine.projection import MapWorker
from uqviz.engine.sampling import MAX_NEW_TOKENS, MAX_SAMPLES
from uqviz.engine.server import ServerError, ServerModel, is_server_spec, key_allowed, load_model
from uqviz.format.run import SamplingSettings
from uqviz.format.spreadsheet import spreadsheet_cell
from uqviz.measures.bayesian_entropy import DEFAULT_MAX_VARIANCE
from uqviz.models.loading import (
    DEFAULT_MODEL,
    Embedder,
    LanguageModel,
    ModelLoadError,
    load_embedder,
)
from uqviz.models.catalog import RECOMMENDED, SERVERS_VARIABLE, ModelChoice, configured_servers, download, model_choices
from uqviz.models.nli import NliModel, load_nli_outcome, loaded_nli
from uqviz.viz.tokens import plain_markdown
from uqviz.workflows.adaptive import DEFAULT_FIRST, DEFAULT_STEP, AdaptiveRule
from uqviz.workflows.calibration import DEFAULT_PROFILE, ProfileError, profile_from_bytes
from uqviz.workflows.store import RunStore, default_store_path


@st.cache_resource(max_entries=1, show_spinner=False)
def cached_language_model(spec: str, device: str, trust_remote_code: bool, api_key_env: str = "",
                          key_servers: tuple[str, ...] = ()) -> LanguageModel | ServerModel:
    """A local model, or a checked connection to an OpenAI-compatible server (`openai:URL#MODEL`) that is sent the key
    in `api_key_env` only when it is one of `key_servers`."""
    return load_model(spec, device=device, trust_remote_code=trust_remote_code, api_key_env=api_key_env.strip() or None,
                      key_servers=key_servers)


@st.cache_resource(max_entries=1, show_spinner=False)
def cached_embedder(spec: str = "default") -> Embedder:
    return load_embedder(spec)


@st.cache_resource(max_entries=2, show_spinner=False)  # the packaged judge and the one the clusters page names
def cached_nli_outcome(path: str) -> NliModel | ModelLoadError:
    return load_nli_outcome(path)


def cached_nli(path: str) -> NliModel:
    """The NLI model, loaded (or failed) once per process and path; its pair scores are cached inside it."""
    return loaded_nli(cached_nli_outcome(path))


def show_table(data: pd.DataFrame | dict, **options: Any) -> DeltaGenerator:
    """st.dataframe with every text cell, column name and index label neutralised as the CSVs uqviz writes: the table's
    own "Download as CSV" then exports no cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first)."""
    frame = pd.DataFrame(data).map(spreadsheet_cell)
    frame.columns = frame.columns.map(spreadsheet_cell)
    frame.index = frame.index.map(spreadsheet_cell)
    return st.dataframe(frame, **options)


@st.cache_resource(show_spinner=False)
def map_worker() -> MapWorker:
    """The process, one per server, that compiles UMAP when the app opens and draws the meaning maps: numba's compiler
    never holds the GIL of the server process, so the first sample never waits for it."""
    return MapWorker()


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_run_store(path: str) -> RunStore:
    return RunStore(path)


def run_store() -> RunStore:
    """The run store at $UQVIZ_STORE or in the uqviz data folder, opened once per process and path."""
    return cached_run_store(str(default_store_path()))


KEY_VARIABLES = "UQVIZ_API_KEY_VARS"


def api_key_variable() -> str:
    """The sidebar's API key variable, refused unless it is named …_API_KEY or listed in $UQVIZ_API_KEY_VARS: whoever
    uses the page must not be able to send another secret of the server's environment to a URL they name."""
    name = st.session_state.get("api_key_env", "").strip()
    listed = os.environ.get(KEY_VARIABLES, "").replace(",", " ").split()
    if name and not name.endswith("_API_KEY") and name not in listed:
        raise ServerError(f"The app reads API keys only from variables named …_API_KEY or listed in ${KEY_VARIABLES}, not {name}.")
    return name


def key_servers() -> tuple[str, ...]:
    """The servers the app sends an API key to: those the operator listed in $UQVIZ_SERVERS, never a URL typed in a page."""
    return tuple(configured_servers())


def key_withheld(spec: str) -> bool:
    """Whether the sidebar names an API key variable that `spec` will not be sent: a server not in $UQVIZ_SERVERS."""
    if not st.session_state.get("api_key_env", "").strip() or not is_server_spec(spec):
        return False
    try:
        return not key_allowed(spec, key_servers())
    except ServerError:  # a malformed spec: loading it says so
        return False


KEY_WITHHELD = (f"No API key is sent to this server: keys go only to the servers the operator listed in ${SERVERS_VARIABLE} "
                "(pick one above), never to a URL typed here.")


def language_model() -> LanguageModel | ServerModel | None:
    """The model the sidebar names, loaded once per process; a load error is shown as one sentence."""
    try:
        return cached_language_model(
            st.session_state.get("model_spec", DEFAULT_MODEL).strip() or DEFAULT_MODEL,
            st.session_state.get("device", "auto"),
            bool(st.session_state.get("trust_remote_code", False)),
            api_key_variable(),
            key_servers(),
        )
    except (ModelLoadError, ServerError) as error:
        st.error(plain_markdown(str(error)))
        return None


def pick_model(choices: list[ModelChoice]) -> None:
    """Put the picked model's spec in the Model field (a widget's value may only change in a callback)."""
    label = st.session_state.get("model_pick")
    spec = next((choice.spec for choice in choices if choice.label == label), None)
    if spec is not None:
        st.session_state["model_spec"] = spec


def model_picker() -> None:
    """The packaged model, the cached ones, $UQVIZ_SERVERS and recommended models; a recommended one downloads here."""
    choices = model_choices()
    st.selectbox("Pick a model", [choice.label for choice in choices], index=None, key="model_pick",
                 placeholder="packaged, cached, servers, recommended…", on_change=pick_model, args=(choices,),
                 help=f"Servers come from ${SERVERS_VARIABLE} (comma-separated openai:URL#MODEL specs).")
    picked = next((choice for choice in choices if choice.label == st.session_state.get("model_pick")), None)
    if picked is not None and picked.kind == RECOMMENDED and st.button(f"Download {picked.spec}", key="model_download"):
        bar = st.progress(0.0, text="starting the download")
        try:
            download(picked.spec, lambda done, total: bar.progress(min(done / total, 1.0), text=f"{done} of {total} files"))
        except ModelLoadError as error:
            st.error(plain_markdown(str(error)))
        else:
            bar.progress(1.0, text="downloaded")


def session_has_browser() -> bool:
    """Whether the browser session running this script is still connected (always true outside a Streamlit server)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx(suppress_warning=True)
    return context is None or not Runtime.exists() or Runtime.instance().is_active_session(context.session_id)


def stop_if_session_ended() -> None:
    """Long work (sampling, a batch, a comparison) calls this between steps: once the browser session that asked for it
    has gone, the script stops there instead of keeping the model and a core busy for nobody."""
    if not session_has_browser():
        st.stop()


def sidebar_settings() -> None:
    """Model and sampling settings; widget keys keep them in session state across pages."""
    with st.sidebar:
        st.header("Model")
        model_picker()
        st.text_input(
            "Model", value=DEFAULT_MODEL, key="model_spec",
            help="'default' (SmolLM2-135M-Instruct, packaged), a model directory, a .gguf file, a hub id, or an "
                 "OpenAI-compatible server as openai:http://127.0.0.1:8080/v1#MODEL (llama.cpp, vLLM)",
        )
        st.text_input("API key variable (servers)", value="", key="api_key_env",
                      help="The name of the environment variable that holds the server's API key; the key is never stored. "
                           f"It is sent only to the servers listed in ${SERVERS_VARIABLE}, never to a URL typed above.")
        if key_withheld(st.session_state.get("model_spec", "")):
            st.caption(KEY_WITHHELD)
        st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="device")
        st.checkbox("Trust remote code", value=False, key="trust_remote_code",
                    help="Runs code shipped with the model; only for models you trust.")
        st.header("Sampling")
        st.number_input("Samples (N)", min_value=1, max_value=MAX_SAMPLES, value=10, key="n")
        st.slider("Temperature", 0.0, 2.0, 1.0, 0.05, key="temperature", help="0 = greedy")
        st.slider("Top-p", 0.05, 1.0, 1.0, 0.05, key="top_p")
        st.number_input("Top-k (0 = off)", min_value=0, max_value=1000, value=0, key="top_k")
        st.number_input("Max new tokens", min_value=1, max_value=MAX_NEW_TOKENS, value=64, key="max_new_tokens")
        st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="seed")
        st.toggle("Stop once semantic entropy settles", value=False, key="until_settled",
                  help=f"Draw {DEFAULT_FIRST} answers, then {DEFAULT_STEP} at a time (at most N), until the posterior "
                       "variance of Bayesian semantic entropy is at most the tolerance below (docs/methods.md §12.14).")
        st.number_input("Tolerance (posterior variance)", min_value=0.0, max_value=1.0, value=DEFAULT_MAX_VARIANCE,
                        step=0.005, format="%.3f", key="settled_variance", disabled=not st.session_state.get("until_settled"))
        st.toggle("Chat template", value=True, key="chat")
        st.text_area("System prompt (optional)", value="", key="system_prompt", height=68)
        profile_picker()


PROFILE_KEY = "calibration_profile"  # (name, profile, whether it came from the sidebar's upload)


PROFILE_UPLOAD_SEEN = "profile_upload_seen"


def profile_picker() -> None:
    """A calibration profile from an upload (`uqviz calibrate` writes them): checked before it is kept; one sentence if not."""
    st.header("Calibration")
    upload = st.file_uploader("Calibration profile (.json)", type=["json"], key="profile_upload",
                              help="A profile from `uqviz calibrate results.csv` turns scores into the chance that the answer is wrong.")
    held = st.session_state.get(PROFILE_KEY)
    if upload is None:
        st.session_state.pop(PROFILE_UPLOAD_SEEN, None)
    if upload is not None and upload.file_id != st.session_state.get(PROFILE_UPLOAD_SEEN):
        st.session_state[PROFILE_UPLOAD_SEEN] = upload.file_id  # a new upload; a profile set since (Calibration page) stays
        try:
            st.session_state[PROFILE_KEY] = (upload.name, profile_from_bytes(upload.getvalue(), upload.name), True)
        except ProfileError as error:
            st.session_state.pop(PROFILE_KEY, None)
            st.warning(f"The profile was not loaded: {plain_markdown(str(error))}")
    elif upload is None and held is not None and held[2]:
        st.session_state.pop(PROFILE_KEY)  # the upload was removed
    if PROFILE_KEY not in st.session_state and DEFAULT_PROFILE.is_file():
        try:
            st.session_state[PROFILE_KEY] = ("the shipped profile", profile_from_bytes(DEFAULT_PROFILE.read_bytes(), "the shipped profile"), False)
        except ProfileError as error:
            st.warning(f"The shipped profile was not loaded: {plain_markdown(str(error))}")
    held = st.session_state.get(PROFILE_KEY)
    if held is not None:
        rows = (held[1]["valid_for"].get("data") or {}).get("rows")
        st.caption(f"Profile {plain_markdown(held[0])}: {len(held[1]['measures'])} measures"
                   + (f", fitted on {rows} questions" if rows else ""))


def loaded_profile() -> dict | None:
    held = st.session_state.get(PROFILE_KEY)
    return None if held is None else held[1]


def adaptive_rule() -> AdaptiveRule | None:
    """The sidebar's rule for drawing answers until semantic entropy settles, or None when answers are drawn at once."""
    state = st.session_state
    return AdaptiveRule(max_variance=float(state.get("settled_variance", DEFAULT_MAX_VARIANCE))) if state.get("until_settled") else None


def sampling_settings() -> SamplingSettings:
    state = st.session_state
    return SamplingSettings(
        n=int(state.get("n", 10)),
        temperature=float(state.get("temperature", 1.0)),
        top_p=float(state.get("top_p", 1.0)),
        top_k=int(state.get("top_k", 0)),
        max_new_tokens=int(state.get("max_new_tokens", 64)),
        seed=int(state.get("seed", 0)),
    )
