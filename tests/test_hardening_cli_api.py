"""Late failures and lax inputs: output paths are opened before any work, inputs are bounded before parsing, the API is
held to what the CLI accepts, long `judge` runs show progress, and `uqviz app` warns when it serves beyond localhost."""

from __future__ import annotations

import errno
import itertools
import math
import os
import resource
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, make_run
from uqviz import api, cli
from uqviz.engine.sampling import SamplingError
from uqviz.format.run import MAX_RUN_FILE_BYTES, run_to_json
from uqviz.workflows import judging
from uqviz.workflows.importing import PastedSamplesError

LINUX_SPECIAL_FILES = Path("/dev/full").exists() and Path("/proc/self").is_dir()
needs_linux = pytest.mark.skipif(not LINUX_SPECIAL_FILES, reason="needs /dev/full and /proc")


def exit_code_and_line(argv: list[str], capsys) -> tuple[int, str]:
    """The CLI's exit code and its one line on stderr (asserted to be exactly one)."""
    code = cli.main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return code, lines[0]


@needs_linux
@pytest.mark.parametrize("out, fragment", [
    ("/dev/full", "is a device or other special file"),
    ("/dev/zero", "is a device or other special file"),
    ("/proc/self/status", "cannot be written"),
    ("/proc/uqviz-hardening-test.json", "cannot be written"),
])
def test_special_output_paths_are_refused_before_any_work(tmp_path, capsys, out, fragment):
    # every input is missing: had the work started first, that would be the error
    missing = str(tmp_path / "missing")
    commands = [
        ["sample", "Q", "--model", missing, "--out", out],
        ["score", missing, "--out", out],
        ["report", missing, "--out", out],
        ["claims", missing, "--out", out],
        ["judge", missing, "--out", out],
        ["batch", missing, "--out", out],
        ["batch", missing, "--out", str(tmp_path / "results.csv"), "--report", out],
    ]
    for argv in commands:
        code, line = exit_code_and_line(argv, capsys)
        assert code == 2 and line.startswith("error: ") and fragment in line and out in line, (argv, line)
    assert not (tmp_path / "results.csv").exists()


def test_the_write_check_keeps_an_existing_file_and_leaves_no_new_one(tmp_path):
    results = tmp_path / "results.csv"
    results.write_text("question,answer\nQ?,A\n", encoding="utf-8")
    cli.check_writable(str(results))  # batch resumes from the rows already in it
    assert results.read_text(encoding="utf-8") == "question,answer\nQ?,A\n"
    fresh = tmp_path / "fresh.json"
    cli.check_writable(str(fresh))
    assert not fresh.exists()


def test_a_write_that_fails_after_the_work_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    import uqviz.scoring.scores as scores

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scores, "score_run", lambda *args, **kwargs: types.SimpleNamespace(judge=None))
    monkeypatch.setattr(scores, "write_scores", disk_full)
    run = tmp_path / "run.json"
    run.write_text(run_to_json(make_run(["a", "b"])), encoding="utf-8")
    code, line = exit_code_and_line(["score", str(run), "--nli", "none", "--out", str(tmp_path / "scores.json")], capsys)
    assert code == 1 and line == f"error: No space left on device; {tmp_path / 'scores.json'} may be incomplete"


@pytest.mark.parametrize("command", ["score", "report", "claims"])
def test_a_run_with_no_samples_is_refused(tmp_path, capsys, command):
    run = tmp_path / "empty.json"
    run.write_text(run_to_json(make_run([])), encoding="utf-8")
    out = ["--out", str(tmp_path / "out")] if command != "score" else []
    code, line = exit_code_and_line([command, str(run), *out], capsys)
    assert code == 2 and line == f"error: {run}: the run has no samples; sample at least one answer (uqviz sample --n 1 or more)"


@pytest.mark.timeout(30)  # a pipe nobody writes to blocks the reader that opens it
def test_judge_refuses_a_pipe_and_a_file_over_the_limit_before_reading_it(tmp_path, capsys):
    out = str(tmp_path / "judged.csv")
    pipe = tmp_path / "pairs.csv"
    os.mkfifo(pipe)
    code, line = exit_code_and_line(["judge", str(pipe), "--out", out], capsys)
    assert code == 2 and f"{pipe}: not a regular file" in line
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(MAX_RUN_FILE_BYTES + 1)  # sparse: read, it would take seconds and gigabytes
    code, line = exit_code_and_line(["judge", str(huge), "--out", out], capsys)
    assert code == 2 and f"has {MAX_RUN_FILE_BYTES + 1:,} bytes, more than the {MAX_RUN_FILE_BYTES:,} allowed" in line
    assert not os.path.exists(out)


@needs_linux
@pytest.mark.slow
def test_judge_refuses_dev_zero_instead_of_reading_it_until_memory_runs_out(tmp_path):
    limit = 2 << 30  # the process is held to 2 GiB, so reading /dev/zero ends in a MemoryError, not the machine's memory
    result = subprocess.run(
        [sys.executable, "-m", "uqviz", "judge", "/dev/zero", "--out", str(tmp_path / "judged.csv")], cwd=REPO, capture_output=True,
        text=True, timeout=300, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
    )
    assert result.returncode == 2 and result.stderr.startswith("error: /dev/zero: not a regular file"), result.stderr[-500:]
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("arguments, fragment", [
    ({"prompt": ""}, "The prompt is empty"),
    ({"prompt": "\x00\x01 \x02"}, "The prompt is empty"),
    ({"prompt": "x" * 20_001}, "more than the 20,000"),
    ({"prompt": 42}, "The prompt must be a string"),
    ({"n": 0}, "between 1 and 64"),
    ({"n": 65}, "between 1 and 64"),
    ({"n": 2.5}, "n must be an integer"),
    ({"seed": -1}, "seed must be between 0 and"),
    ({"seed": 2**64}, "seed must be between 0 and"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_the_sample_api_refuses_a_bad_prompt_seed_or_n_before_loading_a_model(monkeypatch, arguments, fragment):
    monkeypatch.setattr(api, "load_model", lambda *args, **kwargs: pytest.fail("the model was loaded before the check"))
    with pytest.raises(SamplingError, match=fragment):
        api.sample(**{"prompt": "Q?", **arguments})


def endless(item: object) -> Iterator[object]:
    """`item` forever; reading far past any limit fails the test instead of filling the memory."""
    for count in itertools.count():
        if count > 10_000:
            pytest.fail("an endless iterator was read past its limit")
        yield item


@pytest.fixture
def built_run(monkeypatch) -> None:
    """score_texts returns the run it built instead of loading models to score it."""
    monkeypatch.setattr(api, "statistics", lambda run, **kwargs: None)
    monkeypatch.setattr(api, "score_available", lambda run, statistics: run)


@pytest.mark.parametrize("answers, logprobs, tokens, fragment", [
    (["a b"], [[-0.1, math.nan]], [["a", " b"]], '"logprobs" must be a list of finite numbers'),
    (["a b"], [[-0.1, math.inf]], [["a", " b"]], '"logprobs" must be a list of finite numbers'),
    (["a b"], [[-0.1, 0.5]], [["a", " b"]], '"logprobs" must be a list of finite numbers'),
    (["a b"], [[-0.1, True]], [["a", " b"]], '"logprobs" must be a list of finite numbers'),
    (["a b"], [[-0.1, "-0.2"]], [["a", " b"]], '"logprobs" must be a list of finite numbers'),
    (["a b"], [[-0.1]], [["a", " b"]], "Answer 1: 2 tokens but 1 log-probs"),
    (["a", "b"], [[-0.1]], [["a"]], "2 answers but 1 token rows and 1 log-prob rows"),
    (["a b"], [[-0.1, -0.2]], ["ab"], 'Answer 1: "tokens" must be a list, not str'),
    (["a b"], [[-0.1, -0.2]], [["a", 7]], '"tokens" must be a list of strings'),
    (["a"], ["-0.1"], [["a"]], 'Answer 1: "logprobs" must be a list, not str'),
    ("abc", None, None, "The list of answers must be a list, not str"),
    (["a", 3], None, None, "Answer 2: the answer must be a string, not int"),
    ([], None, None, "No answers"),
    (endless("answer"), None, None, "The list of answers has 65 samples, more than the 64 allowed"),
    (["a"], [endless(-0.1)], [endless("a")], 'Answer 1: "tokens" has 4,097 entries, more than the 4,096'),
    (["a"], endless([-0.1]), endless(["a"]), "The list of token rows has 65 rows, more than the 64 allowed"),
    (["a"] * 65, None, None, "has 65 samples, more than the 64 allowed"),
    (["a"], None, [["a"]], "give per-token logprobs together with the tokens"),
])
def test_score_texts_refuses_what_the_paste_refuses_in_one_sentence(built_run, answers, logprobs, tokens, fragment):
    with pytest.raises(PastedSamplesError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        api.score_texts("Q?", answers, logprobs, tokens)


def test_score_texts_takes_generators_and_numpy_values_within_the_limits(built_run):
    np = pytest.importorskip("numpy")
    run = api.score_texts("Q?", (text for text in ["a b", "c"]), [np.array([-0.5, -0.25], dtype=np.float32), (v for v in [-1.0])],
                          iter([("a", " b"), ["c"]]))
    assert [sample.text for sample in run.samples] == ["a b", "c"]
    assert run.samples[0].tokens == ["a", " b"] and run.samples[0].logprobs == [-0.5, -0.25] and run.samples[1].logprobs == [-1.0]


def test_judge_reports_progress_between_chunks_and_judges_as_in_one_call(monkeypatch, embedder):
    pairs = [("Q?", "Paris", "Paris."), ("Q?", "Rome", "Lyon"), ("Q?", "yes", "no"), ("Q?", "red", "blue"), ("Q?", "one", "1")]
    whole, _ = judging.judge_pairs(pairs, embedder=lambda: embedder)
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(judging, "JUDGE_CHUNK_PAIRS", 2)
    chunked, _ = judging.judge_pairs(pairs, embedder=lambda: embedder, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5)]
    assert [pair.same for pair in chunked] == [pair.same for pair in whole]
    assert [pair.cosine for pair in chunked] == pytest.approx([pair.cosine for pair in whole], abs=1e-6)


def test_the_judge_command_prints_progress_for_many_pairs_and_stays_quiet_for_few(tmp_path, capsys, monkeypatch, embedder):
    monkeypatch.setattr(api, "load_embedder_model", lambda spec: embedder)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("question,a,b\nQ?,Paris,Paris.\nQ?,Rome,Lyon\nQ?,yes,no\n", encoding="utf-8")
    out = tmp_path / "judged.csv"
    assert cli.main(["judge", str(pairs), "--out", str(out), "--nli", "none"]) == 0
    assert len(capsys.readouterr().err.strip().splitlines()) == 1  # three pairs: the summary line alone
    monkeypatch.setattr(judging, "JUDGE_CHUNK_PAIRS", 1)
    assert cli.main(["judge", str(pairs), "--out", str(out), "--nli", "none"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[:2] == ["judged 1 of 3 pairs (33%)", "judged 2 of 3 pairs (67%)"] and lines[2].startswith("judged 3 pairs under")


@pytest.mark.parametrize("options, address", [
    ([], None),
    (["--server.address=localhost"], None),
    (["--server.address", "127.0.0.1"], None),
    (["--server.address=::1"], None),
    (["--server.address", "[::1]"], None),
    (["--server.address", "0.0.0.0"], "0.0.0.0"),
    (["--server.address=0.0.0.0"], "0.0.0.0"),
    (["--server.address", "::"], "::"),
    (["--server.address=192.168.1.20"], "192.168.1.20"),
    (["--server.address="], ""),
    (["--server.address=0.0.0.0", "--server.address", "localhost"], None),
    (["--server.port", "8502"], None),
])
def test_exposed_address_finds_a_bind_beyond_localhost_in_both_forms(options, address):
    assert cli.exposed_address(options) == address


def test_the_app_warns_on_stderr_when_it_serves_beyond_localhost(monkeypatch, capsys):
    started: list[list[str]] = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: started.append(command) or 0)
    assert cli.main(["app", "--server.address", "0.0.0.0"]) == 0
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: server.address '0.0.0.0' serves the app beyond this machine")
    assert started[-1][-2:] == ["--server.address", "0.0.0.0"]
    assert cli.main(["app", "--server.port=8502"]) == 0  # the packaged config binds localhost: no warning
    assert capsys.readouterr().err == "" and "--server.address=localhost" in started[-1]
