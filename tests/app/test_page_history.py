"""AppTest of the History and What-if pages; every test points the store at tmp_path through UQVIZ_STORE."""

import json
import pickle
import sqlite3

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import cached_run_store
from pages.history import TABLE_CHARS
from tests.app import open_page as open_app_page, shown
from tests.conftest import REPO, make_run
from tests.test_store import hold_lock, read_only_mount, release, set_long_prompt
from uqviz.measures.registry import REGISTRY
from uqviz.format.run import run_to_json
from uqviz.scoring.scores import score_run
from uqviz.workflows.store import LISTED_CHARS, STORE_ENV, RunStore

pytestmark = pytest.mark.slow
APP = str(REPO / "app.py")
RUN_A = make_run(["a b", "c"], [[-1.0, -1.0], [-2.0]], prompt="First <b>question</b>")
RUN_B = make_run(["a", "a"], [[-0.5], [-0.5]], prompt="Second question")


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite3"
    monkeypatch.setenv(STORE_ENV, str(path))
    return path


def open_page(page: str, **state) -> AppTest:
    return open_app_page(page, **state)


def frame_with(at: AppTest, column: str):
    """The first dataframe with this column (AppTest does not expose a dataframe's key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def history_table(at: AppTest):
    return frame_with(at, "prompt")


def button(at: AppTest, label: str):
    return next(widget for widget in at.button if widget.label == label)


def test_a_run_sampled_in_the_app_is_listed_after_a_restart(store_path):
    at = AppTest.from_file(APP, default_timeout=300)
    for key, value in {"n": 2, "max_new_tokens": 8, "seed": 1}.items():
        at.session_state[key] = value
    at.run()
    at.text_area(key="prompt").input("What is the capital of Italy?")
    at.button[0].click()
    at.run()
    assert not at.exception and not at.warning
    sampled = at.session_state["run"]

    cached_run_store.clear()  # a new server process opens the file afresh
    restarted = open_page("pages/history.py")
    table = history_table(restarted)
    assert list(table["prompt"]) == ["What is the capital of Italy?"]
    assert RunStore(store_path).load(int(table["id"][0])) == sampled


def test_list_rename_compare_open_export_and_delete(store_path):
    store = RunStore(store_path)
    a_id = store.save(RUN_A, score_run(RUN_A))
    b_id = store.save(RUN_B, score_run(RUN_B))
    at = open_page("pages/history.py")
    table = history_table(at)
    assert list(table["id"]) == [b_id, a_id] and list(table["prompt"]) == ["Second question", "First <b>question</b>"]
    assert table[REGISTRY["ln_predictive_entropy"].title].tolist() == pytest.approx([0.5, 1.5])

    comparison = frame_with(at, "Δ (B − A)")
    row = comparison[comparison["measure"] == REGISTRY["predictive_entropy"].title].iloc[0]
    assert (row[f"A: #{a_id}"], row[f"B: #{b_id}"], row["Δ (B − A)"]) == pytest.approx((2.0, 0.5, -1.5))
    assert at.get("plotly_chart")

    at.selectbox(key="history_run").set_value(a_id)
    at.run()
    at.text_input(key=f"history_new_name_{a_id}").input("my first run")
    at.button(key="history_rename").click()
    at.run()
    assert not at.exception
    assert history_table(at)["name"].tolist() == [store.list_runs()[0].name, "my first run"]

    labels = [widget.label for widget in at.get("download_button")]
    assert labels == ["Run JSON", "Scores CSV"]
    at.button(key="history_build_report").click()
    at.run()
    assert not at.exception
    assert "Download the HTML report" in [widget.label for widget in at.get("download_button")]

    at.button(key="history_open").click()
    at.run()
    assert at.session_state["run"] == RUN_A and not at.exception

    at.button(key="history_delete").click()
    at.run()
    assert not at.exception
    assert history_table(at)["id"].tolist() == [b_id]
    assert [stored.id for stored in store.list_runs()] == [b_id]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b'{"schema": "uqviz.run/1", "prompt": "cut', "not valid JSON"),
        (json.dumps({**json.loads(run_to_json(RUN_A)), "samples": [{"text": 1}]}).encode(), "samples[0]"),
        (pickle.dumps({"schema": "uqviz.run/1"}), "bad.json: not"),
    ],
)
def test_a_malformed_upload_gets_a_message_and_nothing_is_written(store_path, content, fragment):
    at = open_page("pages/history.py")
    at.file_uploader(key="history_upload").set_value(("bad.json", content, "application/json"))
    button(at, "Import the run").click()
    at.run()
    assert not at.exception
    assert any(fragment in shown(error.value) and "not imported" in shown(error.value) for error in at.error)
    assert RunStore(store_path).list_runs() == []
    assert "run" not in at.session_state


def test_a_valid_upload_is_stored_and_opened(store_path):
    at = open_page("pages/history.py")
    at.file_uploader(key="history_upload").set_value(("good.json", run_to_json(RUN_B).encode(), "application/json"))
    button(at, "Import the run").click()
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["run"] == RUN_B
    assert [stored.name for stored in RunStore(store_path).list_runs()] == ["imported: good.json"]


def test_pasted_samples_get_black_box_scores_and_white_box_needs(store_path):
    at = open_page("pages/history.py")
    at.text_input(key="history_paste_prompt").input("What sat?")
    at.text_area(key="history_paste_samples").input('the cat sat\n{"text": "broken')
    button(at, "Score the pasted samples").click()
    at.run()
    assert any("Line 2" in shown(error.value) for error in at.error)
    assert RunStore(store_path).list_runs() == []

    at.text_area(key="history_paste_samples").input("the cat sat\nthe cat\n<script>alert(1)</script>")
    button(at, "Score the pasted samples").click()
    at.run()
    assert not at.exception and not at.error
    table = frame_with(at, "kind").set_index("measure")
    lexical, pe = REGISTRY["lexical_similarity"].title, REGISTRY["predictive_entropy"].title
    assert table.loc[lexical, "kind"] == "black-box"
    assert table.loc[lexical, "U"] == pytest.approx(-0.8 / 3, abs=1e-6)
    assert table.loc[pe, "kind"] == "white-box" and table.loc[pe, "needs"].startswith("per-token log-probabilities")
    assert table[table["kind"] == "black-box"]["U"].notna().sum() >= 5
    stored = RunStore(store_path).list_runs()
    assert [run.prompt for run in stored] == ["What sat?"] and stored[0].model == "pasted samples"


def test_a_corrupt_store_is_reported_and_replaced(store_path):
    store_path.write_bytes(b"this is not an SQLite file" * 100)
    cached_run_store.clear()
    at = open_page("pages/history.py")
    assert any("could not be read" in shown(warning.value) and "moved to" in shown(warning.value) for warning in at.warning)
    assert any("No saved runs yet" in shown(info.value) for info in at.info)
    assert any(path.name.startswith("runs.sqlite3.corrupt-") for path in store_path.parent.iterdir())


def test_a_store_that_breaks_while_the_app_runs_is_replaced(store_path):
    RunStore(store_path).save(RUN_A)
    cached_run_store.clear()
    at = open_page("pages/history.py")
    assert len(history_table(at)) == 1
    for companion in store_path.parent.glob("runs.sqlite3-*"):
        companion.unlink()
    store_path.write_bytes(b"overwritten by something else" * 100)
    at.run()
    assert not at.exception
    assert any("could not be read" in shown(warning.value) for warning in at.warning)
    assert any("No saved runs yet" in shown(info.value) for info in at.info)


def test_the_table_and_the_run_pickers_send_a_bounded_prompt_and_name(store_path):
    store = RunStore(store_path)
    run_id = store.save(RUN_A, score_run(RUN_A))
    store.save(RUN_B, score_run(RUN_B))
    set_long_prompt(store_path, run_id, "why " * 250_000, "n" * 1_000_000)
    at = open_page("pages/history.py")
    table = history_table(at).set_index("id")
    assert len(table.loc[run_id, "prompt"]) == TABLE_CHARS and table.loc[run_id, "prompt"].endswith("why…")
    assert table.loc[run_id, "name"] == "n" * (TABLE_CHARS - 1) + "…"
    labels = at.selectbox(key="history_run").options + at.selectbox(key="history_compare_a").options
    assert max(len(label) for label in labels) < TABLE_CHARS + 60
    at.selectbox(key="history_run").set_value(run_id)
    at.run()
    assert not at.exception and len(at.text_input(key=f"history_new_name_{run_id}").value) == LISTED_CHARS


def test_a_stored_run_that_no_longer_loads_is_reported_and_can_be_deleted(store_path):
    store = RunStore(store_path)
    kept, broken = store.save(RUN_B), store.save(RUN_A)
    with sqlite3.connect(store_path) as connection:
        connection.execute("UPDATE runs SET run_json = ? WHERE id = ?", ('{"schema": "uqviz.run/1"}', broken))
    connection.close()
    at = open_page("pages/history.py")
    assert any(f"Run #{broken} cannot be opened or exported" in shown(warning.value) for warning in at.warning)
    assert at.button(key="history_open").disabled and "Run JSON" not in [b.label for b in at.get("download_button")]
    at.button(key="history_delete").click()
    at.run()
    assert not at.exception
    assert [stored.id for stored in store.list_runs()] == [kept]


def test_a_read_only_store_is_listed_and_nothing_is_written(store_path, monkeypatch):
    store = RunStore(store_path)
    a_id, b_id = store.save(RUN_A, score_run(RUN_A)), store.save(RUN_B, score_run(RUN_B))
    before = store_path.read_bytes()
    read_only_mount(monkeypatch, store_path, store_path.parent)
    cached_run_store.clear()
    at = open_page("pages/history.py")
    assert any("is read-only" in shown(info.value) and str(store_path) in shown(info.value) for info in at.info)
    assert history_table(at)["id"].tolist() == [b_id, a_id]
    assert all(at.button(key=key).disabled for key in ("history_rename", "history_delete", "history_rescore"))
    assert not at.button(key="history_open").disabled
    at.text_input(key="history_paste_prompt").input("What sat?")
    at.text_area(key="history_paste_samples").input("the cat sat\nthe cat")
    button(at, "Score the pasted samples").click()
    at.run()
    assert not at.exception
    assert any("not saved to the history" in shown(w.value) and "is read-only" in shown(w.value) for w in at.warning)
    assert any("Not saved to the history." in caption.value for caption in at.caption)
    assert store_path.read_bytes() == before and [stored.id for stored in store.list_runs()] == [b_id, a_id]


def test_a_busy_store_is_reported_and_kept(store_path):
    run_id = RunStore(store_path).save(RUN_A)
    cached_run_store.clear()
    holder = hold_lock(store_path, readers_too=True)
    try:
        at = open_page("pages/history.py")
        assert any("busy (locked by another process)" in shown(error.value) for error in at.error)
    finally:
        release(holder)
    assert not any(".corrupt-" in path.name for path in store_path.parent.iterdir())
    at.run()
    assert not at.exception and history_table(at)["id"].tolist() == [run_id]


def test_what_if_temperature_sweep_draws_every_measure_and_saves_the_runs(store_path):
    at = open_page("pages/what_if.py", n=2, max_new_tokens=8, seed=2)
    at.text_area(key="whatif_prompt").input("Name a colour.")
    at.text_input(key="whatif_temperatures").input("0, 1.2")
    button(at, "Compare").click()
    at.run()
    assert not at.exception and not at.warning
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(figure["data"]) >= 10 and figure["data"][0]["x"] == [0, 1.2]
    table = frame_with(at, "1.2")
    assert list(table.columns) == ["0.0", "1.2"]
    assert sorted(stored.name.split(" · ")[0] for stored in RunStore(store_path).list_runs()) == ["T=0", "T=1.2"]


def test_what_if_refuses_bad_temperatures_and_a_missing_second_model(store_path):
    at = open_page("pages/what_if.py")
    at.text_area(key="whatif_prompt").input("Name a colour.")
    at.text_input(key="whatif_temperatures").input("0.5, hot")
    button(at, "Compare").click()
    at.run()
    assert not at.exception and any("'hot' is not a number" in shown(warning.value) for warning in at.warning)
    at.segmented_control(key="whatif_mode").set_value("Two models")
    at.run()
    button(at, "Compare").click()
    at.run()
    assert not at.exception and any("Name the second model" in shown(warning.value) for warning in at.warning)
    assert RunStore(store_path).list_runs() == []


def test_what_if_framings_include_the_users_own(store_path):
    at = open_page("pages/what_if.py", n=1, max_new_tokens=4, seed=2)
    at.segmented_control(key="whatif_mode").set_value("Framing")
    at.run()
    at.text_area(key="whatif_prompt").input("Is the sky <b>green</b>?")
    at.text_area(key="whatif_own_framing").input("Answer yes or no. {question}")
    button(at, "Compare").click()
    at.run()
    assert not at.exception and not at.warning
    table = frame_with(at, "your framing")
    assert list(table.columns) == ["as asked", "I think the answer is…", "I'm sure the answer is…", "your framing"]
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["data"][0]["x"][3] == "your framing" and figure["data"][0]["mode"] == "markers"
    prompts = {RunStore(store_path).load(stored.id).prompt for stored in RunStore(store_path).list_runs()}
    assert "Answer yes or no. Is the sky <b>green</b>?" in prompts and len(prompts) == 4
