"""The uqviz.run/1 format: round trip and one-line validation errors."""

import json
from dataclasses import replace

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
        (lambda d: d["samples"][0].update(token_ids=[1, 2]), "samples[0].token_ids: has 2 entries"),
        (lambda d: d["samples"][0].update(token_bytes=[None, [256], None]), "samples[0].token_bytes[1]"),
        (lambda d: d["samples"][0].update(token_bytes=[None, [], None]), "samples[0].token_bytes[1]"),
        (lambda d: d["samples"][0].update(token_bytes=[None, [1] * 65, None]), "samples[0].token_bytes[1]"),
        (lambda d: d["samples"][0].update(token_bytes=[[104, 105]]), "samples[0].token_bytes: has 1 entries"),
        (lambda d: d["samples"][0].update(renyi_from_uniform=[0.1, 0.2]), "samples[0].renyi_from_uniform: has 2 entries"),
        (lambda d: d["samples"][1].update(renyi_from_uniform=[0.1, "x"]), "samples[1].renyi_from_uniform[1]"),
        (lambda d: d["samples"][0].update(fisher_rao_from_uniform=[0.1, float("nan"), 0.2]), "samples[0].fisher_rao_from_uniform[1]"),
        (lambda d: d["samples"][1].update(fisher_rao_from_uniform=[float("inf"), 0.2]), "samples[1].fisher_rao_from_uniform[0]"),
        (lambda d: d["samples"][1].update(fisher_rao_from_uniform=[0.5]), "samples[1].fisher_rao_from_uniform: has 1 entries"),
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


def test_unknown_ids_are_null_and_recorded_bytes_make_the_exact_answer():
    run = make_run(["the cat sat", "a dog"])
    data = json.loads(run_to_json(run))
    data["prompt_token_ids"] = None
    data["samples"][0].update(token_ids=None, tokens=["the", " \ufffd", "\ufffd"], token_bytes=[None, [32, 240, 159], [152, 128]])
    read = run_from_dict(data)
    assert read.prompt_token_ids is None and read.samples[0].token_ids is None and len(read.samples[0]) == 3
    assert read.samples[0].exact_token_bytes() == [b"the", b" \xf0\x9f", b"\x98\x80"]
    assert b"".join(read.samples[0].exact_token_bytes()).decode() == "the 😀"
    assert read.samples[1].exact_token_bytes() is None  # nothing recorded: the texts are the bytes
    assert run_from_json(run_to_json(read)) == read


@pytest.mark.parametrize("device", ["server", "none"])
def test_runs_written_before_ids_could_be_null_load_with_their_positions_dropped(device):
    """Server and pasted runs once stored answer positions as token ids and [] for the prompt: not the model's ids."""
    data = json.loads(run_to_json(make_run(["the cat sat", "a dog"])))
    data["model"]["device"], data["prompt_token_ids"] = device, []
    for sample in data["samples"]:
        sample["token_ids"] = list(range(len(sample["tokens"])))
        sample.pop("token_bytes")
    read = run_from_dict(data)
    assert read.prompt_token_ids is None and all(sample.token_ids is None for sample in read.samples)
    assert [sample.tokens for sample in read.samples] == [["the", "cat", "sat"], ["a", "dog"]]
    data["model"]["device"] = "cpu"  # a local run's ids are the model's, whatever they are
    assert [sample.token_ids for sample in run_from_dict(data).samples] == [[0, 1, 2], [0, 1]]


def test_distances_from_uniform_round_trip_and_runs_written_before_them_load_without():
    """Runs carry renyi_from_uniform and fisher_rao_from_uniform per token; older files lack them and load them empty."""
    run = make_run(["the cat sat", "a dog"])
    run = replace(run, samples=[replace(sample, renyi_from_uniform=[0.5] * len(sample), fisher_rao_from_uniform=[0.25] * len(sample)) for sample in run.samples])
    data = json.loads(run_to_json(run))
    assert data["samples"][0]["renyi_from_uniform"] == [0.5] * 3 and data["samples"][1]["fisher_rao_from_uniform"] == [0.25] * 2
    assert run_from_json(run_to_json(run)) == run
    for sample in data["samples"]:
        del sample["renyi_from_uniform"], sample["fisher_rao_from_uniform"]
    old = run_from_dict(data)
    assert all(sample.renyi_from_uniform == [] and sample.fisher_rao_from_uniform == [] for sample in old.samples)
    assert [sample.kl_from_uniform for sample in old.samples] == [sample.kl_from_uniform for sample in run.samples]
