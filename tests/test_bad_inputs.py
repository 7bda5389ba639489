"""The bad inputs of the README table that are not covered next to their feature; the engine answers each in one sentence."""

import pytest
import torch

from tests.conftest import make_run
from uqviz.cli import main as cli_main
from uqviz.format.run import MAX_RUN_FILE_BYTES, RunFormatError, SamplingSettings, read_run, run_to_json
from uqviz.engine.sampling import SamplingError, sample


def test_huge_run_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(MAX_RUN_FILE_BYTES + 1)
    with pytest.raises(RunFormatError, match="more than the"):
        read_run(path)


def test_wrong_types_and_truncation_exit_2_from_the_cli(tmp_path, capsys):
    good = run_to_json(make_run(["a b"]))
    truncated = tmp_path / "truncated.json"
    truncated.write_text(good[:-40])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(good.replace('"chat": false', '"chat": "no"'))
    for path, fragment in ((truncated, "not valid JSON"), (wrong, "chat: expected true or false")):
        assert cli_main(["score", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0]


@pytest.mark.slow
def test_simulated_out_of_memory_is_a_message_and_the_model_keeps_working(language_model, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with monkeypatch.context() as patch:
        patch.setattr(language_model.model, "generate", out_of_memory)
        with pytest.raises(SamplingError, match="ran out of memory sampling 3 answers"):
            sample(language_model, "hi", SamplingSettings(n=3, max_new_tokens=4))
    assert not language_model.lock.locked()
    assert len(sample(language_model, "hi", SamplingSettings(n=1, max_new_tokens=2)).samples) == 1


@pytest.mark.slow
@pytest.mark.parametrize("n", ["0", "10000"])
def test_out_of_range_n_from_the_cli(tmp_path, capsys, n):
    assert cli_main(["sample", "hi", "--n", n, "--out", str(tmp_path / "r.json")]) == 2
    assert "between 1 and 64" in capsys.readouterr().err


def one_line_exit_2(argv, capsys) -> str:
    """The CLI's answer to bad input: exit code 2 and exactly one line on stderr, which is returned."""
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(cli_main(argv))
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_argparse_errors_are_one_line(capsys):
    assert "unrecognized arguments: --nn" in one_line_exit_2(["sample", "Q", "--nn", "3", "--out", "r.json"], capsys)
    assert "invalid int value" in one_line_exit_2(["sample", "Q", "--seed", "x", "--out", "r.json"], capsys)


def test_bad_settings_and_output_paths_are_refused_before_any_model_loads(tmp_path, capsys):
    # the model path does not exist: had the model been loaded first, that would be the error
    missing_model = ["--model", str(tmp_path / "no-model")]
    message = one_line_exit_2(["sample", "Q", "--seed", "99999999999999999999999", "--out", str(tmp_path / "r.json"), *missing_model], capsys)
    assert "seed must be between 0 and" in message
    message = one_line_exit_2(["sample", "Q", "--out", str(tmp_path / "missing" / "r.json"), *missing_model], capsys)
    assert "does not exist" in message
    message = one_line_exit_2(["sample", "Q", "--out", str(tmp_path), *missing_model], capsys)
    assert "is a folder" in message
    run = tmp_path / "run.json"
    run.write_text(run_to_json(make_run(["a"])))
    assert "does not exist" in one_line_exit_2(["score", str(run), "--out", str(tmp_path / "x" / "s.json")], capsys)
    questions = tmp_path / "q.csv"
    questions.write_text("question,answer\nQ?,A\n")
    message = one_line_exit_2(["batch", str(questions), "--out", str(tmp_path / "r.csv"), "--report", str(tmp_path / "no" / "r.json"),
                               *missing_model], capsys)
    assert "does not exist" in message


def test_deeply_nested_json_is_a_format_error(tmp_path):
    from uqviz.format.run import run_from_json
    from uqviz.workflows.importing import PastedSamplesError, parse_samples

    nested = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RunFormatError, match="nested too deeply"):
        run_from_json(nested)
    with pytest.raises(PastedSamplesError, match="nested too deeply"):
        parse_samples('{"text": "a", "tokens": ' + nested + "}")


def test_a_measure_that_overflows_names_why(tmp_path):
    from uqviz.scoring.scores import score_run

    run = make_run(["a b", "c"], logprobs=[[-1e308, -1e308], [-1.0]])
    scores = score_run(run, names=["predictive_entropy", "ln_predictive_entropy"]).to_dict()["measures"]
    assert scores["predictive_entropy"]["value"] is None and "not finite" in scores["predictive_entropy"]["reason"]
    assert scores["ln_predictive_entropy"]["value"] is None and "overflow" in scores["ln_predictive_entropy"]["reason"]


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)", "\tx", "'quoted", "plain", ""])
def test_csv_text_cells_never_start_a_formula_and_read_back_exactly(text):
    from uqviz.format.spreadsheet import FORMULA_STARTS, read_spreadsheet_text, spreadsheet_text

    cell = spreadsheet_text(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert read_spreadsheet_text(cell) == text


def test_batch_results_neutralise_formulas_and_resume_with_the_same_text(tmp_path):
    import csv

    from uqviz.workflows.batch import read_results, write_results

    path = tmp_path / "results.csv"
    row = {"question": "=HYPERLINK(\"http://evil\",\"click\")", "gold": "-1", "greedy_answer": "@cmd", "match_score": 0.5,
           "correct": 0, "samples": ["=1+1"], "reasons": {}, "seconds": 1.0}
    write_results(path, [row], ["question", "gold", "greedy_answer", "match_score", "correct", "samples", "reasons", "seconds"])
    cells = next(csv.DictReader(path.open(encoding="utf-8")))
    assert all(not cells[column].startswith(("=", "+", "-", "@")) for column in ("question", "gold", "greedy_answer"))
    (back,) = read_results(path)
    assert (back["question"], back["gold"], back["greedy_answer"]) == (row["question"], "-1", "@cmd")
