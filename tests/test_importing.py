"""Bring-your-own samples: parsing, a Run without a model, which measures it allows, and their values."""

import json
import pickle

import pytest

from uqviz.workflows.importing import (
    BLACK_BOX_NEEDS, NEED_DESCRIPTIONS, PASTED_SOURCE, PastedSamplesError, measure_availability, parse_samples,
    run_from_samples, run_inputs, score_available,
)
from uqviz.measures.registry import REGISTRY
from uqviz.format.run import MAX_SAMPLES, RunFormatError, run_from_json, run_to_json
from uqviz.scoring.scores import on_demand_reason
from uqviz.statistics.base import RunStatistics

BLACK_BOX = {"lexical_similarity", "discrete_semantic_entropy", "num_semantic_sets", "degree", "eccentricity",
             "eig_val_laplacian", "semantic_volume", "monte_carlo_meaning_probability", "directional_entailment_graph",
             "bert_score_consistency"}
WITH_LOGPROBS = "\n".join(
    json.dumps(line) for line in (
        {"text": "Paris", "tokens": ["Paris"], "logprobs": [-0.1]},
        {"text": "It is Paris", "tokens": ["It", " is", " Paris"], "logprobs": [-1.0, -0.5, -0.2]},
        {"text": "Lyon", "tokens": ["Ly", "on"], "logprobs": [-2, -0.1]},
    )
)


def test_plain_lines_become_samples_and_blank_lines_are_skipped():
    samples = parse_samples("  the cat sat \n\n\tthe cat\n   \na dog\n")
    assert [sample.text for sample in samples] == ["the cat sat", "the cat", "a dog"]
    assert all(sample.logprobs is None and sample.tokens is None for sample in samples)


def test_json_lines_carry_tokens_and_logprobs():
    samples = parse_samples(WITH_LOGPROBS)
    assert samples[1].tokens == ["It", " is", " Paris"] and samples[2].logprobs == [-2.0, -0.1]
    assert parse_samples('{"text": "only text"}')[0].logprobs is None


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "No samples"),
        ("\n  \n", "No samples"),
        ('Paris\n{"text": "Lyon", ', "Line 2: starts with '{' but is not valid JSON"),
        ('{"tokens": ["a"], "logprobs": [-1]}', 'Line 1: a JSON sample needs a "text"'),
        ('{"text": "a b", "tokens": ["a", "b"], "logprobs": [-1]}', "Line 1: 2 tokens but 1 log-probs"),
        ('{"text": "a", "tokens": ["a"], "logprobs": [0.5]}', "≤ 0"),
        ('{"text": "a", "tokens": ["a"], "logprobs": ["-1"]}', "finite numbers"),
        ('{"text": "a", "tokens": ["a"], "logprobs": [NaN]}', "finite numbers"),
        ('{"text": "a", "logprobs": [-1]}', '"tokens" must be a list'),
        ('{"text": "a", "tokens": ["a"], "logprobs": [-1]}\nplain', "some do not"),
        ("\n".join(["x"] * (MAX_SAMPLES + 1)), f"The paste has {MAX_SAMPLES + 1} samples, more than the {MAX_SAMPLES} allowed"),
    ],
)
def test_malformed_pastes_get_one_line_naming_the_problem(text, fragment):
    with pytest.raises(PastedSamplesError) as caught:
        parse_samples(text)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_pasted_bytes_are_kept_where_the_token_text_cannot_carry_them():
    line = json.dumps({"text": "Hi 😀", "tokens": ["Hi", " \ufffd", "\ufffd"], "logprobs": [-0.1, -1.0, -0.2],
                       "bytes": [[72, 105], [32, 240, 159], [152, 128]]})
    run = run_from_samples("Q?", parse_samples(line))
    assert run.samples[0].token_bytes == [None, [32, 240, 159], [152, 128]] and run.samples[0].token_ids is None
    assert b"".join(run.samples[0].exact_token_bytes()).decode() == "Hi 😀"
    plain = json.dumps({"text": "Hi", "tokens": ["Hi"], "logprobs": [-0.1], "bytes": [[72, 105]]})
    assert run_from_samples("Q?", parse_samples(plain)).samples[0].token_bytes == []  # the text carries them
    for bad in ([[72, 105]] * 2, [[300]], "ab", [[]]):
        with pytest.raises(PastedSamplesError, match='"bytes" must be a list with one entry per token'):
            parse_samples(json.dumps({"text": "Hi", "tokens": ["Hi"], "logprobs": [-0.1], "bytes": bad}))


def test_pasted_run_is_a_valid_run_without_a_model():
    run = run_from_samples("Capital of France?", parse_samples(WITH_LOGPROBS), "my API model")
    assert run_from_json(run_to_json(run)) == run
    assert run.model.name == "my API model" and run.model.source == PASTED_SOURCE
    assert run.settings.n == 3 and run.settings.max_new_tokens == 3
    assert [len(sample) for sample in run.samples] == [1, 3, 2]
    assert run.samples[1].tokens == ["It", " is", " Paris"] and run.samples[1].logprobs == [-1.0, -0.5, -0.2]
    assert run.prompt_token_ids is None and all(sample.token_ids is None for sample in run.samples)  # not the model's
    text_only = run_from_samples("Q?", parse_samples("a\nb"))
    assert text_only.model.name == "pasted samples" and all(len(sample) == 0 for sample in text_only.samples)


def test_every_registered_need_is_classified():
    """A new kind of need must be placed: met by texts (black-box) or described for the user."""
    needs = {need for measure in REGISTRY.values() for need in measure.needs}
    assert needs <= BLACK_BOX_NEEDS | set(NEED_DESCRIPTIONS), needs - BLACK_BOX_NEEDS - set(NEED_DESCRIPTIONS)


def test_availability_depends_on_what_the_run_holds():
    text_only = run_from_samples("Q?", parse_samples("a\nb"))
    with_logprobs = run_from_samples("Q?", parse_samples(WITH_LOGPROBS))
    assert "logprobs" not in run_inputs(text_only) and "logprobs" in run_inputs(with_logprobs)
    plain = {entry.name: entry for entry in measure_availability(text_only)}
    tokened = {entry.name: entry for entry in measure_availability(with_logprobs)}
    for name in BLACK_BOX & set(REGISTRY):
        assert plain[name].black_box and plain[name].computable, name
    assert plain["predictive_entropy"].missing == ("logprobs",) and not plain["predictive_entropy"].black_box
    assert tokened["predictive_entropy"].computable
    assert not tokened["self_certainty"].computable and tokened["self_certainty"].missing == ("token distributions",)
    assert not plain["semantic_volume_external"].computable and plain["semantic_volume_external"].black_box


@pytest.mark.slow
def test_black_box_measures_are_computed_from_pasted_text_without_a_model(embedder, packaged_nli):
    run = run_from_samples("What sat?", parse_samples("the cat sat\nthe cat\na dog"))
    statistics = RunStatistics(run, embedder=embedder, nli=packaged_nli)
    scores = score_available(run, statistics)
    assert list(scores.measures) == list(REGISTRY)
    # docs/methods.md §2.1 worked example: pairwise ROUGE-L F = [0.8, 0, 0] -> U = -0.266667.
    assert scores.measures["lexical_similarity"].result.value == pytest.approx(-0.8 / 3, abs=1e-6)
    for entry in measure_availability(run):
        result = scores.measures[entry.name].result
        if entry.computable and REGISTRY[entry.name].on_demand:  # LUQ: black-box, but only when asked for
            assert result.value is None and result.reason == on_demand_reason(entry.name), entry.name
        elif entry.computable:
            assert result.value is not None and result.reason is None, entry.name
        else:
            assert result.value is None and result.reason.startswith("needs "), entry.name
    assert BLACK_BOX & set(REGISTRY) <= {entry.name for entry in measure_availability(run) if entry.computable}
    assert "no language model" not in json.dumps(scores.to_dict())  # nothing tried to load the LM


@pytest.mark.slow
def test_pasted_logprobs_feed_the_white_box_measures(embedder):
    run = run_from_samples("Capital of France?", parse_samples(WITH_LOGPROBS))
    scores = score_available(run, RunStatistics(run, embedder=embedder))
    # PE = mean of -Σ log p = (0.1 + 1.7 + 2.1) / 3; LN-PE = (0.1 + 1.7/3 + 2.1/2) / 3.
    assert scores.measures["predictive_entropy"].result.value == pytest.approx(1.3, abs=1e-12)
    assert scores.measures["ln_predictive_entropy"].result.value == pytest.approx((0.1 + 1.7 / 3 + 1.05) / 3, abs=1e-12)
    assert scores.measures["token_sar"].result.value is not None
    document = scores.to_dict()  # the relevance behind TokenSAR reaches scores.json of a pasted run too
    assert [len(row) for row in document["token_relevance"]] == [len(sample) for sample in run.samples]
    assert document["token_relevance_precision"] in {"float32", "bfloat16"}
    assert scores.measures["self_certainty"].result.reason == "needs the model's full next-token distributions"


def test_a_pickle_is_never_read_as_a_run():
    payload = pickle.dumps({"schema": "uqviz.run/1"})
    with pytest.raises(RunFormatError, match="not UTF-8|not valid JSON"):
        run_from_json(payload, origin="upload.json")
