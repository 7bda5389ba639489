"""The run store: round trip, durability when the writer is killed, recovery from a corrupt file, comparison deltas."""

import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from tests.conftest import REPO, make_run
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import score_run
from uqviz.workflows.store import (
    STORE_ENV, RunStore, StoreError, compare_scores, default_store_path, headline_scores, measure_values,
)
from uqviz.viz.history import comparison_figure, comparison_frame

# PE = mean of -Σ log p, LN-PE = mean of -(Σ log p)/n, worked by hand:
# A: samples [-1, -1] and [-2]  -> PE (2 + 2)/2 = 2.0,  LN-PE (1 + 2)/2 = 1.5
# B: samples [-0.5] and [-0.5]  -> PE 0.5,              LN-PE 0.5
RUN_A = make_run(["a b", "c"], [[-1.0, -1.0], [-2.0]], prompt="Which letter?")
RUN_B = make_run(["a", "a"], [[-0.5], [-0.5]], prompt="Which letter?")


def integrity(path) -> str:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def test_round_trip_list_rename_delete_and_reopen(tmp_path):
    path = tmp_path / "runs.sqlite3"
    store = RunStore(path)
    scores = score_run(RUN_A)
    first = store.save(RUN_A, scores)
    second = store.save(RUN_B, None, name="second")
    assert store.recovery_message is None

    listed = store.list_runs()
    assert [stored.id for stored in listed] == [second, first]
    assert listed[1].prompt == "Which letter?" and listed[1].model == "hand-made" and listed[1].samples == 2
    assert listed[1].name.startswith("Which letter?")
    assert listed[1].headline["ln_predictive_entropy"] == pytest.approx(1.5, abs=1e-12)
    assert listed[0].headline == {}
    assert store.load(first) == RUN_A
    assert store.load_scores(first) == scores.to_dict()
    assert store.load_scores(second) is None

    store.rename(first, "  renamed  ")
    store.delete(second)
    reopened = RunStore(path)
    assert [(stored.id, stored.name) for stored in reopened.list_runs()] == [(first, "renamed")]
    assert reopened.load(first) == RUN_A
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_ids_and_empty_names_are_refused(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3")
    run_id = store.save(RUN_A)
    for call in (lambda: store.load(run_id + 1), lambda: store.delete(run_id + 1), lambda: store.rename(run_id + 1, "x")):
        with pytest.raises(StoreError, match="no stored run"):
            call()
    with pytest.raises(StoreError, match="empty"):
        store.rename(run_id, "   ")
    assert store.list_runs()[0].id == run_id


def test_store_path_comes_from_the_environment_or_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "elsewhere" / "mine.sqlite3"))
    assert default_store_path() == tmp_path / "elsewhere" / "mine.sqlite3"
    store = RunStore()
    assert store.path == tmp_path / "elsewhere" / "mine.sqlite3" and store.path.is_file()
    monkeypatch.delenv(STORE_ENV)
    monkeypatch.setenv("UQVIZ_HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / "runs.sqlite3"


def test_threads_sharing_one_store_lose_no_run(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3")
    errors = []

    def write(worker: int) -> None:
        try:
            for index in range(5):
                store.save(RUN_B, None, name=f"{worker}-{index}")
        except Exception as error:  # collected so the main thread fails the test with it
            errors.append(error)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(stored.name for stored in store.list_runs()) == sorted(f"{w}-{i}" for w in range(4) for i in range(5))


WRITER = """
import sys
from tests.conftest import make_run
from uqviz.workflows.store import RunStore

store = RunStore(sys.argv[1])
run = make_run(["word " * 400] * 8, prompt="killed writer")
index = 0
while True:
    store.save(run, None, name=f"run {index}")
    print(index, flush=True)
    index += 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("committed_before_kill", [3, 40])
def test_writer_killed_mid_write_leaves_a_readable_store(tmp_path, committed_before_kill):
    path = tmp_path / "runs.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    last = -1
    while last < committed_before_kill:
        line = writer.stdout.readline()
        assert line, "the writer stopped before it was killed"
        last = int(line)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    assert integrity(path) == "ok"
    store = RunStore(path)
    assert store.recovery_message is None
    names = [stored.name for stored in reversed(store.list_runs())]
    # Every run reported as saved is there, in order; at most the one being written when killed is extra.
    assert names[: last + 1] == [f"run {index}" for index in range(last + 1)]
    assert len(names) in (last + 1, last + 2)
    expected = make_run(["word " * 400] * 8, prompt="killed writer")
    assert all(store.load(stored.id) == expected for stored in store.list_runs())
    store.save(RUN_A)
    assert integrity(path) == "ok"


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"\x00garbage that is not a database" * 200, "not a database"),
        (b"SQLite format 3\x00" + bytes(range(256)) * 20, ""),
    ],
)
def test_corrupt_file_is_kept_aside_and_a_fresh_store_starts(tmp_path, content, problem):
    path = tmp_path / "runs.sqlite3"
    path.write_bytes(content)
    store = RunStore(path)
    assert store.recovery_message is not None
    assert problem in store.recovery_message and "moved to" in store.recovery_message
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("runs.sqlite3.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert str(aside[0]) in store.recovery_message
    assert store.list_runs() == []
    run_id = store.save(RUN_A)
    assert store.load(run_id) == RUN_A
    assert RunStore(path).recovery_message is None


def test_sqlite_file_of_another_program_is_kept_aside(tmp_path):
    path = tmp_path / "runs.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE runs (something TEXT)")
        connection.execute("INSERT INTO runs VALUES ('keep me')")
    connection.close()
    store = RunStore(path)
    assert "another kind" in store.recovery_message
    assert store.save(RUN_A) == 1
    aside = next(p for p in tmp_path.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm")))
    with sqlite3.connect(aside) as connection:
        assert connection.execute("SELECT something FROM runs").fetchall() == [("keep me",)]
    connection.close()


def test_comparison_deltas_of_hand_made_runs(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3")
    a_id = store.save(RUN_A, score_run(RUN_A))
    b_id = store.save(RUN_B, score_run(RUN_B))
    deltas = {delta.name: delta for delta in store.compare(a_id, b_id)}
    assert set(deltas) == set(score_run(RUN_A).measures)
    pe, ln_pe = deltas["predictive_entropy"], deltas["ln_predictive_entropy"]
    assert (pe.a, pe.b, pe.delta) == pytest.approx((2.0, 0.5, -1.5), abs=1e-12)
    assert (ln_pe.a, ln_pe.b, ln_pe.delta) == pytest.approx((1.5, 0.5, -1.0), abs=1e-12)
    for delta in deltas.values():
        if delta.a is None or delta.b is None:  # measures that need an embedder, which score_run was not given
            assert delta.delta is None and delta.reason
        else:
            assert delta.delta == pytest.approx(delta.b - delta.a, abs=1e-12) and delta.reason is None
    backwards = {delta.name: delta.delta for delta in store.compare(b_id, a_id)}
    assert all(backwards[name] == (None if d.delta is None else pytest.approx(-d.delta)) for name, d in deltas.items())


def test_compare_scores_keeps_missing_values_with_their_reason():
    a = {"measures": {"ln_predictive_entropy": {"value": 1.0}, "zz_unknown": {"value": 3.0},
                      "semantic_volume": {"value": None, "reason": "no embedder was given"}}}
    b = {"measures": {"ln_predictive_entropy": {"value": 0.25}, "semantic_volume": {"value": 2.0},
                      "aa_unknown": {"value": 1.0}}}
    deltas = {delta.name: delta for delta in compare_scores(a, b)}
    assert deltas["ln_predictive_entropy"].delta == pytest.approx(-0.75)
    assert deltas["semantic_volume"].delta is None and deltas["semantic_volume"].reason == "no embedder was given"
    assert deltas["zz_unknown"].b is None and deltas["zz_unknown"].reason == "not scored in both runs"
    names = [delta.name for delta in compare_scores(a, b)]
    assert names[0] == "ln_predictive_entropy" and names.index("aa_unknown") < names.index("zz_unknown")
    assert measure_values(b) == {"ln_predictive_entropy": 0.25, "semantic_volume": 2.0, "aa_unknown": 1.0}
    assert headline_scores(b) == {"ln_predictive_entropy": 0.25, "semantic_volume": 2.0}


def test_comparison_table_and_figure_show_both_values_and_the_delta():
    deltas = compare_scores(
        {"measures": {"predictive_entropy": {"value": 2.0}, "semantic_volume": {"value": None, "reason": "no embedder"}}},
        {"measures": {"predictive_entropy": {"value": 0.5}, "semantic_volume": {"value": 1.0}}},
    )
    frame = comparison_frame(deltas, "A: #1", "B: #2")
    assert list(frame.columns) == ["measure", "A: #1", "B: #2", "Δ (B − A)", "note"]
    assert frame.iloc[0].tolist()[:4] == [REGISTRY["predictive_entropy"].title, 2.0, 0.5, -1.5]
    assert frame.iloc[1]["note"] == "no embedder"
    figure = comparison_figure(deltas, "<b>first</b>", "second")
    assert len(figure.data) == 1  # the measure without both values gets no panel
    assert list(figure.data[0].y) == [2.0, 0.5] and list(figure.data[0].customdata) == ["&lt;b&gt;first&lt;/b&gt;", "second"]
    assert "Δ = −1.5" in figure.layout.annotations[0].text and "<b>first" not in figure.layout.title.text
