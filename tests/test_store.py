"""The run store: round trip, a killed writer, busy, read-only and corrupt files, long prompts, comparison deltas."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, make_run
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import score_run
from uqviz.workflows.store import (
    LISTED_CHARS, STORE_ENV, RunStore, StoreError, compare_scores, default_store_path, headline_scores, measure_values,
)
from uqviz.viz.history import comparison_figure, comparison_frame

# PE = mean of -Σ log p, LN-PE = mean of -(Σ log p)/n, worked by hand:
# A: samples [-1, -1] and [-2]  -> PE (2 + 2)/2 = 2.0,  LN-PE (1 + 2)/2 = 1.5
# B: samples [-0.5] and [-0.5]  -> PE 0.5,              LN-PE 0.5
RUN_A = make_run(["a b", "c"], [[-1.0, -1.0], [-2.0]], prompt="Which letter?")
RUN_B = make_run(["a", "a"], [[-0.5], [-0.5]], prompt="Which letter?")


READ_ONLY = r"is read-only, so its runs can be listed and opened but nothing can be saved, renamed or deleted\.$"


def integrity(path) -> str:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def hold_lock(path, readers_too: bool) -> sqlite3.Connection:
    """Another connection holding the store's write lock; `readers_too` (exclusive locking mode) shuts readers out."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    if readers_too:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def release(holder: sqlite3.Connection) -> None:
    holder.execute("ROLLBACK")
    holder.close()


def read_only_mount(monkeypatch, *paths) -> None:
    """os.access answers as on a read-only mount, where even root may not write: no to writing any of `paths`."""
    access, denied = os.access, {str(path) for path in paths}

    def mounted_access(target, mode, **kwargs) -> bool:
        return not (mode & os.W_OK and str(target) in denied) and access(target, mode, **kwargs)

    monkeypatch.setattr(os, "access", mounted_access)


def set_long_prompt(path, run_id: int, prompt: str, name: str) -> None:
    """A row as a version without length limits stored it: a prompt and name far past what the list shows."""
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE runs SET prompt = ?, name = ? WHERE id = ?", (prompt, name, run_id))
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


def test_a_locked_store_is_retried_then_reported_busy_and_never_moved_aside(tmp_path):
    path = tmp_path / "runs.sqlite3"
    run_id = RunStore(path).save(RUN_A)
    holder = hold_lock(path, readers_too=True)
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"busy \(locked by another process\)") as raised:
        RunStore(path, busy_timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    assert str(raised.value).startswith(f"The run store {path} is busy") and str(raised.value).count(". ") == 0
    release(holder)
    assert sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name) == []
    store = RunStore(path, busy_timeout=0.5)
    assert store.recovery_message is None and [stored.id for stored in store.list_runs()] == [run_id]
    assert store.load(store.save(RUN_B)) == RUN_B


def test_under_a_write_lock_runs_list_and_a_save_waits_for_the_release(tmp_path):
    path = tmp_path / "runs.sqlite3"
    run_id = RunStore(path).save(RUN_A)
    holder = hold_lock(path, readers_too=False)
    hasty = RunStore(path, busy_timeout=0.3)
    assert [stored.id for stored in hasty.list_runs()] == [run_id]
    with pytest.raises(StoreError, match="busy"):
        hasty.save(RUN_B)
    patient = RunStore(path, busy_timeout=10)
    releaser = threading.Timer(0.5, release, args=(holder,))
    releaser.start()
    started = time.monotonic()
    saved = patient.save(RUN_B)
    assert time.monotonic() - started >= 0.4
    releaser.join()
    assert [stored.id for stored in hasty.list_runs()] == [saved, run_id]


@pytest.mark.parametrize("how", ["permission bits", "read-only mount", "parameter"])
def test_a_read_only_store_lists_its_runs_and_refuses_every_write(tmp_path, monkeypatch, request, how):
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "runs.sqlite3"
    scores = score_run(RUN_A)
    run_id = RunStore(path).save(RUN_A, scores, name="kept")
    before = path.read_bytes()
    if how == "permission bits":
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits; the read-only mount and parameter cases stand in")
        path.chmod(0o444)
        folder.chmod(0o555)
        request.addfinalizer(lambda: folder.chmod(0o755))
    elif how == "read-only mount":
        read_only_mount(monkeypatch, path, folder)
    store = RunStore(path, read_only=True if how == "parameter" else None)
    assert store.read_only and store.recovery_message is None
    assert [(stored.id, stored.name) for stored in store.list_runs()] == [(run_id, "kept")]
    assert store.load(run_id) == RUN_A and store.load_scores(run_id) == scores.to_dict()
    writes = [
        lambda: store.save(RUN_B), lambda: store.rename(run_id, "new"), lambda: store.delete(run_id),
        lambda: store.update_scores(run_id, scores),
    ]
    for write in writes:
        with pytest.raises(StoreError, match=READ_ONLY):
            write()
    assert path.read_bytes() == before
    assert not any(".corrupt-" in p.name for p in folder.iterdir())


def test_a_store_that_sqlite_finds_read_only_becomes_read_only(tmp_path, monkeypatch):
    """Permission bits may say writable where SQLite may not write (an ACL, a mount); SQLite's answer wins."""
    path = tmp_path / "runs.sqlite3"
    run_id = RunStore(path).save(RUN_A)
    connect = sqlite3.connect

    def read_only_connect(database, uri=False, **kwargs):  # what SQLite does with a file it can only read
        return connect(database if uri else f"{Path(database).resolve().as_uri()}?mode=ro", uri=True, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only_connect)
    store = RunStore(path)
    assert not store.read_only and [stored.id for stored in store.list_runs()] == [run_id]
    with pytest.raises(StoreError, match=READ_ONLY):
        store.save(RUN_B)
    assert store.read_only and [stored.id for stored in store.list_runs()] == [run_id]


def test_a_read_only_store_that_is_missing_or_corrupt_is_reported_and_left_alone(tmp_path):
    missing = tmp_path / "missing" / "runs.sqlite3"
    with pytest.raises(StoreError, match=f"cannot be created because it is read-only; set {STORE_ENV}"):
        RunStore(missing, read_only=True)
    assert not missing.parent.exists()
    path = tmp_path / "runs.sqlite3"
    garbage = b"\x00garbage that is not a database" * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match=r"could not be read \(file is not a database\) and is read-only"):
        RunStore(path, read_only=True)
    assert path.read_bytes() == garbage and not any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_the_list_reads_only_the_start_of_a_huge_prompt_and_name(tmp_path):
    path = tmp_path / "runs.sqlite3"
    store = RunStore(path)
    run_id = store.save(RUN_A)
    prompt, name = "why " * 250_000, "n" * 1_000_000
    set_long_prompt(path, run_id, prompt, name)
    (listed,) = store.list_runs()
    assert listed.prompt == prompt[:LISTED_CHARS] and listed.name == name[:LISTED_CHARS]
    assert store.load(run_id) == RUN_A


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
