"""What if: the same question at several temperatures, under other framings, or on a second model; every measure compared."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import (
    KEY_WITHHELD, api_key_variable, key_servers, key_withheld, language_model, sampling_settings, show_table,
    stop_if_session_ended,
)
from pages.session import current_run, save_to_history, statistics_for
from uqviz.engine.server import ServerModel, load_model
from uqviz.models.loading import LanguageModel, ModelLoadError
from uqviz.viz.history import measure_title, measures_figure
from uqviz.viz.tokens import error_line, plain_markdown
from uqviz.workflows.store import short_text
from uqviz.workflows.whatif import (
    DEFAULT_FRAMINGS,
    Framing,
    RunProgress,
    WhatIfRun,
    framing_comparison,
    measure_series,
    model_comparison,
    parse_temperatures,
    temperature_sweep,
)

RESULTS_KEY = "whatif_results"
MODES = ("Temperature", "Framing", "Two models")


@st.cache_resource(max_entries=1, show_spinner=False)
def second_language_model(spec: str, device: str, trust_remote_code: bool, api_key_env: str = "",
                          key_servers: tuple[str, ...] = ()) -> LanguageModel | ServerModel:
    """A second local model or server (`openai:URL#MODEL`, its key in the sidebar's API key variable, sent only to
    `key_servers`)."""
    return load_model(spec, device=device, trust_remote_code=trust_remote_code, api_key_env=api_key_env.strip() or None,
                      key_servers=key_servers)


def framings() -> list[Framing]:
    """The default framings as edited in the form, plus the user's own when one was written."""
    state = st.session_state
    chosen = [Framing(framing.label, state.get(f"whatif_framing_{index}", framing.template))
              for index, framing in enumerate(DEFAULT_FRAMINGS)]
    own = state.get("whatif_own_framing", "")
    return chosen + [Framing("your framing", own)] if own.strip() else chosen


def sample_comparison(mode: str, prompt: str, lm: LanguageModel, progress: RunProgress) -> tuple[list[WhatIfRun], list, str]:
    """The runs of one comparison, the x values to plot them at, and the x axis name."""
    state = st.session_state
    settings = sampling_settings()
    common = {
        "chat": bool(state.get("chat", True)), "system_prompt": state.get("system_prompt") or None,
        "statistics_for": statistics_for, "progress": progress,
    }
    if mode == "Temperature":
        temperatures = parse_temperatures(state.get("whatif_temperatures", ""))
        return temperature_sweep(lm, prompt, temperatures, settings, **common), temperatures, "temperature"
    if mode == "Framing":
        results = framing_comparison(lm, prompt, framings(), settings, **common)
        return results, [result.label for result in results], "framing"
    second = second_language_model(
        state["whatif_second_model"].strip(), state.get("device", "auto"), bool(state.get("trust_remote_code", False)),
        api_key_variable(), key_servers(),
    )
    results = model_comparison([lm, second], prompt, settings, **common)
    return results, [result.label for result in results], "model"


def run_comparison(mode: str, prompt: str, lm: LanguageModel) -> tuple[list[WhatIfRun], list, str] | None:
    """Sample, score and save every run of the comparison with progress; None (after a message) when refused."""
    if mode == "Two models" and not st.session_state.get("whatif_second_model", "").strip():
        st.warning("Name the second model: a model directory, a .gguf file or a hub id.")
        return None
    with st.status("Sampling…", expanded=True) as status:
        line = st.empty()

        def progress(index: int, total: int, label: str) -> None:
            stop_if_session_ended()
            line.write(f"Run {index + 1} of {total}: {plain_markdown(label)}")

        try:
            results, labels, x_title = sample_comparison(mode, prompt, lm, progress)
        except (ValueError, ModelLoadError) as error:  # SamplingError is a ValueError
            status.update(label="Nothing was sampled", state="error")
            st.warning(plain_markdown(str(error)))
            return None
        except RuntimeError as error:
            status.update(label="Sampling failed", state="error")
            st.error(f"The model failed while sampling: {error_line(error)}")
            return None
        seconds = sum(result.run.sampling_seconds or 0.0 for result in results)
        status.update(label=f"Sampled and scored {len(results)} runs ({seconds:.1f} s of sampling)", state="complete", expanded=False)
    for result in results:
        save_to_history(result.run, result.scores, name=f"{result.label} · {short_text(result.run.prompt, 40)}")
    return results, labels, x_title


def show_results(results: list[WhatIfRun], labels: list, x_title: str) -> None:
    series = measure_series(results)
    st.plotly_chart(measures_figure(labels, series, x_title), key="whatif_chart", width="stretch")
    table = pd.DataFrame({measure_title(name): values for name, values in series.items()}, index=[str(label) for label in labels]).T
    show_table(table, key="whatif_table")
    for result in results:
        with st.expander(f"{result.label}: {len(result.run.samples)} answers"):
            st.caption(f"Prompt as sent: {plain_markdown(result.run.prompt)}")
            show_table(pd.DataFrame({"answer": [sample.text for sample in result.run.samples]}), hide_index=True)


def render() -> None:
    """What if: the same question with one thing changed."""
    st.title("What if…")
    st.caption(
        "Ask the same question again with one thing changed, and see how every measure moves. The sidebar's N, "
        "max new tokens and seed apply to every run; the same seed is used for all. Every run is saved to the History."
    )
    mode = st.segmented_control("Change", MODES, default=MODES[0], key="whatif_mode") or MODES[0]
    with st.form("whatif_form"):
        run = current_run()
        prompt = st.text_area("Question", value=run.prompt if run is not None else "", key="whatif_prompt", height=80)
        if mode == "Temperature":
            st.text_input("Temperatures", value="0.3, 0.7, 1.0, 1.5", key="whatif_temperatures", help="0 = greedy; at most 8")
        elif mode == "Framing":
            for index, framing in enumerate(DEFAULT_FRAMINGS):
                st.text_area(framing.label, value=framing.template, key=f"whatif_framing_{index}", height=68)
            st.text_area("Your framing (optional)", key="whatif_own_framing", height=68, placeholder="I'm not sure, but {question}",
                          help="{question} is replaced by the question; without it the text is put before the question.")
        else:
            st.text_input("Second model", key="whatif_second_model",
                          help="a model directory, a .gguf file or a hub id; the first model is the sidebar's")
            if key_withheld(st.session_state.get("whatif_second_model", "")):
                st.caption(KEY_WITHHELD)
        submitted = st.form_submit_button("Compare", type="primary")
    if submitted:
        lm = language_model()
        if lm is not None:
            outcome = run_comparison(mode, prompt, lm)
            if outcome is not None:
                st.session_state[RESULTS_KEY] = outcome
    if st.session_state.get(RESULTS_KEY):
        show_results(*st.session_state[RESULTS_KEY])


if __name__ == "__main__":
    render()
