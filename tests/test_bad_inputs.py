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
