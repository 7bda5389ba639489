"""The uqviz.run/1 format: round trip and one-line validation errors."""

import json

import pytest

from tests.conftest import make_run
from uqviz.format.run import RunFormatError, read_run, run_from_dict, run_from_json, run_to_json, write_run


def test_json_round_trip(tmp_path):
    run = make_run(["the cat sat", "a dog"])
    path = tmp_path / "run.json"
    write_run(run, path)
    assert read_run(path) == run
    data = json.loads(path.read_text())
    assert data["schema"] == "uqviz.run/1"
    assert set(data["samples"][0]) >= {"text", "token_ids", "tokens", "logprobs", "entropies", "finish_reason"}
    assert set(data["model"]) == {"name", "source", "device", "dtype", "vocab_size"}
    assert set(data["settings"]) == {"n", "temperature", "top_p", "top_k", "max_new_tokens", "seed"}


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("prompt"), "prompt: missing"),
        (lambda d: d.update(schema="other/1"), "schema"),
        (lambda d: d["model"].update(vocab_size="big"), "model.vocab_size"),
        (lambda d: d["settings"].update(n=True), "settings.n"),
        (lambda d: d["samples"][1].update(logprobs=[-1.0, "x"]), "samples[1].logprobs[1]"),
        (lambda d: d["samples"][0].update(logprobs=[0.5, -1, -1]), "samples[0].logprobs[0]"),
        (lambda d: d["samples"][0].update(tokens=["a"]), "samples[0].tokens"),
        (lambda d: d.update(samples={}), "samples"),
        (lambda d: d["samples"][0].update(token_ids=[-3, 1, 2]), "samples[0].token_ids[0]"),
    ],
)
def test_malformed_fields_are_named(mutate, field):
    data = json.loads(run_to_json(make_run(["the cat sat", "a dog"])))
    mutate(data)
    with pytest.raises(RunFormatError) as error:
        run_from_dict(data)
    message = str(error.value)
    assert field in message
    assert "\n" not in message


def test_truncated_and_binary_files_are_rejected(tmp_path):
    text = run_to_json(make_run(["a b"]))
    with pytest.raises(RunFormatError, match="not valid JSON"):
        run_from_json(text[: len(text) // 2])
    with pytest.raises(RunFormatError, match="not UTF-8"):
        run_from_json(b"\xff\xfe\x00garbage")
    with pytest.raises(RunFormatError, match="no such file"):
        read_run(tmp_path / "missing.json")
