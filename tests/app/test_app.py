"""AppTest of the entry page: submit a prompt, see the samples; bad input gets a message, not an exception."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import shown
from tests.conftest import REPO
from tests.test_server import server  # noqa: F401 (the scripted OpenAI-compatible server fixture)

pytestmark = pytest.mark.slow
APP = str(REPO / "app.py")


def fresh_app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def submit(at: AppTest, prompt: str) -> AppTest:
    at.text_area(key="prompt").input(prompt)
    at.button[0].click()
    at.run()
    return at


def test_submit_prompt_shows_samples_with_coloured_tokens():
    at = submit(fresh_app(n=3, max_new_tokens=10, seed=1), "What is the capital of France?")
    assert not at.exception
    run = at.session_state["run"]
    assert len(run.samples) == 3
    table = at.dataframe[0].value
    assert list(table["answer"]) == [s.text for s in run.samples]
    htmls = [element.proto.body for element in at.get("html")]
    token_blocks = [body for body in htmls if "uqviz-token" in body]
    assert len(token_blocks) == 3
    assert any("Sampled 3 answers" in status.label for status in at.status) or run.sampling_seconds > 0
    assert not at.error
    # the tokens coloured by another recorded statistic, its value per token in the hover (docs/methods.md §12.13)
    at.segmented_control(key="token_row").set_value("fisher_rao").run()
    assert not at.exception
    blocks = [element.proto.body for element in at.get("html") if "uqviz-token" in element.proto.body]
    expected = [f"Fisher-Rao distance from uniform (§12.13) = {value:.3f}" for value in run.samples[0].fisher_rao_from_uniform]
    assert len(blocks) == 3 and all(line in blocks[0] for line in expected)


def test_a_run_sampled_on_the_entry_page_is_saved_with_every_measure_the_loaded_models_allow(tmp_path, monkeypatch):
    """The History bug: runs saved from the Sample page had 16 of 23 measures null (no embedder when scoring)."""
    from uqviz.measures.registry import ON_DEMAND
    from uqviz.scoring.scores import on_demand_reason
    from uqviz.workflows.store import HEADLINE_MEASURES, RunStore

    monkeypatch.setenv("UQVIZ_STORE", str(tmp_path / "runs.sqlite3"))
    at = submit(fresh_app(n=3, max_new_tokens=8, seed=2), "What is the capital of France?")
    assert not at.exception
    store = RunStore(tmp_path / "runs.sqlite3")
    (stored,) = store.list_runs()
    assert at.session_state["run_id"] == stored.id
    measures = store.load_scores(stored.id)["measures"]
    for name in HEADLINE_MEASURES:
        assert measures[name]["value"] is not None, (name, measures[name]["reason"])
    missing = {name: entry["reason"] for name, entry in measures.items() if entry["value"] is None}
    on_demand = {name: on_demand_reason(name) for name in ON_DEMAND}
    assert missing == {"semantic_volume_external": missing.get("semantic_volume_external"), **on_demand}
    assert "perturbations" in missing["semantic_volume_external"]
    for name in ("uqac", "eigenscore"):  # the sampling model is loaded, so the measures reading its insides run too
        assert measures[name]["value"] is not None


@pytest.mark.parametrize(
    "prompt, state, message",
    [
        ("", {}, "empty"),
        ("   ", {}, "empty"),
        ("\x00\x07\x1b", {}, "empty"),
    ],
)
def test_bad_input_gets_a_message(prompt, state, message):
    at = submit(fresh_app(**state), prompt)
    assert not at.exception
    assert any(message in shown(warning.value) for warning in at.warning)
    assert "run" not in at.session_state


def test_opening_the_app_starts_one_umap_worker_process(monkeypatch):
    """UMAP compiles in a process of its own, started once per server process, not once per session or rerun."""
    from pages import common

    started = []
    common.map_worker.clear()
    monkeypatch.setattr(common, "MapWorker", lambda: started.append(object()) or started[-1])
    fresh_app()
    fresh_app()
    assert len(started) == 1 and common.map_worker() is started[0]
    common.map_worker.clear()


def test_bad_model_path_gets_one_sentence(tmp_path):
    at = submit(fresh_app(model_spec=str(tmp_path / "missing-model"), n=1, max_new_tokens=2), "hi")
    assert not at.exception
    assert any("does not exist" in shown(error.value) for error in at.error)


def test_prompt_of_100000_characters_is_refused_before_the_model_loads():
    at = submit(fresh_app(n=1, max_new_tokens=4), "word " * 20_000)
    assert not at.exception
    assert any("100,000 characters, more than the 20,000" in shown(warning.value) for warning in at.warning)
    assert "run" not in at.session_state


def test_prompt_longer_than_the_context_window_is_refused_with_both_lengths():
    at = submit(fresh_app(n=1, max_new_tokens=4), "7 " * 9_999)
    assert not at.exception
    assert any("context window is 8192 tokens" in shown(warning.value) for warning in at.warning)
    assert "run" not in at.session_state


def test_control_characters_are_removed_and_sampling_goes_on():
    at = submit(fresh_app(n=1, max_new_tokens=4), "Say\x00 hi\x07")
    assert not at.exception
    assert any("Control characters were removed" in shown(info.value) for info in at.info)
    assert at.session_state["run"].prompt == "Say hi"


def test_a_server_samples_through_the_sidebar_and_only_api_key_variables_are_read(server, tmp_path, monkeypatch):
    """The sidebar's Model field takes openai:URL#MODEL; progress comes from the page's own thread; the key variable
    must look like one, so the page cannot be used to send another secret to a server it names; the key goes only to
    a server listed in $UQVIZ_SERVERS (tests/test_hardening_app.py checks that a typed URL gets none)."""
    from tests.test_server import spec_of

    monkeypatch.setenv("UQVIZ_STORE", str(tmp_path / "runs.sqlite3"))
    monkeypatch.setenv("UQVIZ_SERVERS", spec_of(server))
    monkeypatch.setenv("HF_TOKEN", "hf-secret")
    at = submit(fresh_app(n=3, max_new_tokens=6, model_spec=spec_of(server), api_key_env="HF_TOKEN"), "Capital of France?")
    assert not at.exception and "run" not in at.session_state
    assert any("only from variables named" in shown(error.value) for error in at.error)
    assert not any(headers.get("Authorization") for _, _, _, headers in server.requests)

    monkeypatch.setenv("SERVER_API_KEY", "sk-1")
    at.session_state["api_key_env"] = "SERVER_API_KEY"
    at = submit(at, "Capital of France?")
    assert not at.exception
    run = at.session_state["run"]
    assert run.distribution == "top-5" and [s.text for s in run.samples] == ["Paris#0", "Paris#1", "Paris#2"]
    assert any("sk-1" in (headers.get("Authorization") or "") for _, _, _, headers in server.requests)
    assert "sk-1" not in json.dumps(run.to_dict())


def test_the_sidebar_toggle_draws_until_semantic_entropy_settles_and_says_how(server, tmp_path, monkeypatch):
    """Rounds of 4, then 2 (docs/methods.md §12.14): with a tolerance of 0 the run never settles and draws all N, with
    a server's seeds (answer k: seed + k); the caption says how the run was drawn."""
    from tests.test_server import spec_of

    monkeypatch.setenv("UQVIZ_STORE", str(tmp_path / "runs.sqlite3"))
    at = submit(fresh_app(n=6, max_new_tokens=4, model_spec=spec_of(server), until_settled=True, settled_variance=0.0),
                "Capital of France?")
    assert not at.exception and not at.error
    run = at.session_state["run"]
    assert [s.text for s in run.samples] == [f"Paris#{seed}" for seed in range(6)]
    assert run.adaptive is not None and run.adaptive.max_n == 6 and len(run.adaptive.posterior_sd) == 2
    caption = next(shown(c.value) for c in at.caption if "Drawn in rounds" in shown(c.value))
    assert "6 of at most 6 answers" in caption and "did not settle" in caption
    assert f"{run.adaptive.posterior_sd[0]:.3f}, {run.adaptive.posterior_sd[1]:.3f}" in caption


def test_a_server_run_sampled_here_is_judged_by_that_server(server, tmp_path, monkeypatch):
    """docs/methods.md §12.15: the server has no insides to read (no P(True)), but it replies: one temperature-0 chat
    request per distinct answer with UQLM's prompt, its reply ("Paris#0") read as a continuous score of 0."""
    from tests.test_server import spec_of

    monkeypatch.setenv("UQVIZ_STORE", str(tmp_path / "runs.sqlite3"))
    at = submit(fresh_app(n=2, max_new_tokens=4, model_spec=spec_of(server)), "Capital of France?")
    assert not at.exception and at.session_state["run"].distribution == "top-5"
    at.switch_page("pages/self_report.py").run()
    assert not at.exception
    assert any("can still judge them" in shown(info.value) for info in at.info)
    before = len(server.requests)
    at.button(key="judge_submit").click().run()
    assert not at.exception and not at.error
    judged = [body for method, path, body, _ in server.requests[before:] if method == "POST" and path.endswith("/chat/completions")]
    assert len(judged) == 4 and all(body["temperature"] == 0 for body in judged)  # 2 answers × 2 templates
    assert at.session_state["scores"][1].measures["judge_continuous"].result.value == 1.0
    tables = [frame.value for frame in at.dataframe if "J" in frame.value.columns]
    assert list(tables[1]["reply"]) == ["Paris#0", "Paris#0"] and list(tables[1]["read"]) == ["0", "0"]
