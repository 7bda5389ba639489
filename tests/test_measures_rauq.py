"""RAUQ and the Attention Score (docs/methods.md §12.10): worked examples by hand, their properties, the position of
"attention to the previous token" against LM-Polygraph's generate-time data path, and the shared attention pass."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.conftest import make_run
from tests.test_attention import tiny_model
from uqviz.measures.rauq import (
    attention_score,
    previous_token_attention,
    rauq,
    rauq_alpha,
    rauq_layers,
    recurrent_confidence,
)
from uqviz.measures.registry import REGISTRY
from uqviz.engine.attention import attention_pass
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics

# §12.10 worked example: 2 layers × 2 heads, an answer of 4 tokens, α = 0.5.
PROBABILITIES = np.array([0.9, 0.5, 0.8, 0.6])
PREVIOUS = np.array([
    [[0.8, 0.2, 0.6], [0.5, 0.5, 0.5]],  # layer 0: head 0's mean 0.5333 beats head 1's 0.5
    [[0.1, 0.3, 0.2], [0.9, 0.7, 0.8]],  # layer 1: head 1's mean 0.8 beats head 0's 0.2
])
TOKENS = [" The", " capital", " is", " Paris"]


def test_rauq_worked_example():
    detail = rauq(PROBABILITIES, PREVIOUS, 0.5, TOKENS)
    assert detail.layers == [0, 1] and detail.heads == [0, 1]
    np.testing.assert_allclose(detail.mean_previous, [[0.8 / 1.5, 0.5], [0.2, 0.8]])
    # layer 0, head 0: 0.9; 0.25 + 0.5·0.8·0.9; 0.4 + 0.5·0.2·0.61; 0.3 + 0.5·0.6·0.461
    np.testing.assert_allclose(detail.confidences[0], [0.9, 0.61, 0.461, 0.4383])
    # layer 1, head 1: 0.9; 0.25 + 0.5·0.9·0.9; 0.4 + 0.5·0.7·0.655; 0.3 + 0.5·0.8·0.62925
    np.testing.assert_allclose(detail.confidences[1], [0.9, 0.655, 0.62925, 0.5517])
    np.testing.assert_allclose(detail.layer_uncertainty, [1.549716, 1.396615], atol=1e-6)
    assert detail.value == pytest.approx(1.549716, abs=1e-6)
    assert detail.selected == 0 and detail.tokens == TOKENS


def test_attention_score_worked_example():
    diagonal = np.zeros((3, 2, 6))
    diagonal[1, 0] = [1, 0.5, 0.5, 0.25, 0.5, 0.5]  # Σ log = log(1/64)
    diagonal[1, 1] = [1, 0.5, 0.5, 0.5, 0.5, 0.5]  # Σ log = log(1/32)
    diagonal[0] = diagonal[2] = 0.01  # other layers are not read
    detail = attention_score(diagonal, prompt_length=2)
    assert detail.layer == 1  # ⌊3/2⌋
    np.testing.assert_allclose(detail.head_log_determinants, [-6 * np.log(2), -5 * np.log(2)], atol=1e-9)
    assert detail.value == pytest.approx(5.5 * np.log(2), abs=1e-9)  # 3.812309
    np.testing.assert_allclose(detail.position_log_diagonal, np.log([1, 0.5, 0.5, np.sqrt(0.125), 0.5, 0.5]), atol=1e-9)
    assert -detail.position_log_diagonal.sum() == pytest.approx(detail.value)
    assert attention_score(diagonal, 2, layer=0).value == pytest.approx(-6 * np.log(0.01))


def test_attention_score_rises_as_tokens_attend_less_to_themselves():
    sharp = np.ones((2, 3, 5)) * 0.9
    diffuse = sharp.copy()
    diffuse[1, 2, 3] = 0.1
    assert attention_score(diffuse, 2).value > attention_score(sharp, 2).value
    assert attention_score(np.ones((2, 3, 5)), 2).value == pytest.approx(-5e-12)  # the 1e-12 inside the log


def test_full_confidence_everywhere_gives_the_minimum_one():
    ones = np.ones((3, 2, 4))
    detail = rauq(np.ones(5), ones, 0.2, list("abcde"))
    np.testing.assert_array_equal(detail.confidences, 1.0)
    assert detail.value == 1.0
    less_likely = rauq(np.array([1, 1, 0.9, 1, 1]), ones, 0.2, list("abcde"))
    less_attended = ones.copy()
    less_attended[1, :, 2] = 0.5
    assert less_likely.value > 1.0 and rauq(np.ones(5), less_attended, 0.2, list("abcde")).value > 1.0


def test_head_choice_follows_the_largest_mean_previous_token_attention():
    previous = PREVIOUS.copy()
    previous[0, 1] = [0.6, 0.6, 0.6]  # head 1 of layer 0 now attends more on average (0.6 > 0.533)
    detail = rauq(PROBABILITIES, previous, 0.5, TOKENS)
    assert detail.heads == [1, 1]
    np.testing.assert_allclose(detail.confidences[0], recurrent_confidence(PROBABILITIES, previous[0, 1], 0.5))
    # a head that is never picked changes nothing
    ignored = PREVIOUS.copy()
    ignored[1, 0] = [0.0, 0.0, 0.0]
    assert rauq(PROBABILITIES, ignored, 0.5, TOKENS).value == rauq(PROBABILITIES, PREVIOUS, 0.5, TOKENS).value


def test_a_drop_in_the_picked_heads_attention_raises_u_and_later_tokens_carry_it():
    steady = rauq(PROBABILITIES, PREVIOUS, 0.5, TOKENS)
    dropped = PREVIOUS.copy()
    dropped[1, 1, 0] = 0.05  # in layer 1, the step producing token 2 lets go of token 1
    detail = rauq(PROBABILITIES, dropped, 0.5, TOKENS)
    assert detail.heads == steady.heads
    np.testing.assert_allclose(detail.confidences[1], [0.9, 0.2725, 0.495375, 0.49815])
    assert np.all(detail.confidences[1, 1:] < steady.confidences[1, 1:])  # the drop lowers every later c_i
    assert detail.selected == 1 and detail.value == pytest.approx(1.701193, abs=1e-6)
    assert detail.value > steady.value


def test_recurrence_and_one_token_answer():
    np.testing.assert_allclose(recurrent_confidence(np.array([0.5, 1.0]), np.array([1.0]), 0.2), [0.5, 0.2 + 0.8 * 0.5])
    np.testing.assert_allclose(recurrent_confidence(np.array([0.5, 0.7]), np.array([0.3]), 1.0), [0.5, 0.7])
    single = rauq(np.array([0.25]), np.zeros((4, 3, 0)), 0.2, ["x"])
    assert single.heads == [0, 0, 0] and single.layers == [1, 2, 3]
    assert single.value == pytest.approx(1 - np.log(0.25))


def test_layer_range_is_lm_polygraphs_middle_third():
    assert rauq_layers(30) == list(range(10, 21))  # SmolLM2-135M
    assert rauq_layers(32) == list(range(10, 23))  # Llama-3-8B: ⌈64/3⌉ = 22
    assert rauq_layers(28) == list(range(9, 20))
    assert rauq_layers(2) == [0, 1]  # ⌈4/3⌉ = 2 would be past the last layer
    assert rauq_alpha(True) == 0.5 and rauq_alpha(False) == 0.2


def reference_rauq(log_likelihoods: np.ndarray, previous: np.ndarray, alpha: float, layers: list[int]) -> float:
    """LM-Polygraph 0.7.0's RAUQ.__call__ loop for one input, restated plainly."""
    scores = []
    for layer in layers:
        head = previous[layer].mean(-1).argmax()
        confidence = [np.exp(log_likelihoods[0])]
        for j in range(1, len(log_likelihoods)):
            confidence.append(alpha * np.exp(log_likelihoods[j]) + (1 - alpha) * previous[layer, head, j - 1] * confidence[-1])
        scores.append(1 - np.log(confidence).mean())
    return float(np.max(scores))


def test_matches_the_reference_loop_on_random_attention():
    rng = np.random.default_rng(11)
    for layers, heads, length in ((30, 9, 12), (5, 3, 2), (32, 4, 7)):
        log_likelihoods = np.log(rng.uniform(0.01, 1, length))
        previous = rng.uniform(0, 1, (layers, heads, length - 1))
        for alpha in (0.2, 0.5):
            ours = rauq(np.exp(log_likelihoods), previous, alpha, ["t"] * length).value
            assert ours == pytest.approx(reference_rauq(log_likelihoods, previous, alpha, rauq_layers(layers)), rel=1e-12)


def test_previous_token_attention_is_what_lm_polygraph_reads_from_generate():
    """LM-Polygraph builds attention_all from generate(): step j's row over the generated keys 0…j−1 goes to row j, and
    RAUQ takes the offset −1 diagonal. The teacher-forced pass must give the same numbers."""
    lm = tiny_model(3, 4, 2, seed=2)
    lm.model.generation_config.eos_token_id = None
    prompt = [5, 17, 9, 33]
    lm.model.set_attn_implementation("eager")
    with torch.no_grad():
        out = lm.model.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False, output_attentions=True,
                                return_dict_in_generate=True, pad_token_id=0)
    lm.model.set_attn_implementation("sdpa")
    answer = out.sequences[0, len(prompt):].tolist()
    count = len(answer)
    mask = np.zeros((3 * 4, count, count))
    for j in range(1, count):
        mask[:, j, :j] = np.stack([out.attentions[j][layer][0, head, 0, -j:].numpy() for layer in range(3) for head in range(4)])
    theirs = np.diagonal(mask.reshape(3, 4, count, count), offset=-1, axis1=2, axis2=3)
    ours = previous_token_attention(attention_pass(lm, prompt, answer))
    assert ours.shape == theirs.shape == (3, 4, count - 1)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def counted(lm) -> list:
    calls = []
    lm.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls


def test_rauq_and_attention_score_read_uqacs_pass_without_a_model_call():
    lm = tiny_model(3, 4, 2, seed=1)
    calls = counted(lm)
    run = make_run(["a b c d e f g", "a b"])
    statistics = RunStatistics(run, language_model=lm)
    alone = score_run(run, statistics, ["rauq", "attention_score"]).measures
    assert len(calls) == 1 and statistics.costs["uqac_attention"].model_calls == 1
    assert alone["rauq"].model_calls == 1 and alone["attention_score"].model_calls == 0
    scores = score_run(run, statistics, ["uqac", "attn_probs_prod", "rauq", "attention_score"]).measures
    assert scores["rauq"].model_calls == 0 and scores["attention_score"].model_calls == 0
    uqac_only = tiny_model(3, 4, 2, seed=1)
    uqac_calls = counted(uqac_only)
    score_run(run, RunStatistics(run, language_model=uqac_only), ["uqac", "attn_probs_prod"])
    assert len(calls) == len(uqac_calls) >= 2  # UQAC's own passes, nothing more
    detail = scores["rauq"].result.detail
    assert detail.tokens == [f" w{i}" for i in range(1, 8)] and detail.alpha == 0.2  # make_run is not a chat run
    assert scores["rauq"].result.value == pytest.approx(detail.value) and detail.value > 1.0


def test_runs_without_prompt_ids_tokens_or_model_get_a_reason():
    lm = tiny_model(2, 4, 2)
    calls = counted(lm)
    run = make_run(["a b c"])
    for name in ("rauq", "attention_score"):
        no_model = score_run(run, RunStatistics(run), [name]).measures[name].result
        assert no_model.value is None and "run's own language model" in no_model.reason
    served = replace(run, prompt_token_ids=None)
    result = score_run(served, RunStatistics(served, language_model=lm), ["rauq"]).measures["rauq"].result
    assert result.value is None and "prompt's token ids" in result.reason
    pasted = replace(run, samples=[replace(run.samples[0], token_ids=None)])
    result = score_run(pasted, RunStatistics(pasted, language_model=lm), ["attention_score"]).measures["attention_score"].result
    assert result.value is None and "not the model's token ids" in result.reason
    assert calls == []


def test_measures_are_registered_with_their_section():
    for name, paper in (("rauq", "Vazhentsev"), ("attention_score", "Sriramanan")):
        measure = REGISTRY[name]
        assert "docs/methods.md §12.10" in measure.reference and paper in measure.reference
        assert measure.needs == ("language model", "attentions") and not measure.on_demand


@pytest.mark.slow
def test_real_model_run(language_model, france_run):
    statistics = RunStatistics(france_run, language_model=language_model)
    scores = score_run(france_run, statistics, ["attn_probs_prod", "rauq", "attention_score"]).measures
    assert statistics.costs["uqac_attention"].model_calls == 1
    detail = scores["rauq"].result.detail
    config = language_model.model.config
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    answer = france_run.samples[0]
    assert detail.mean_previous.shape == (layers, heads) and detail.layers == rauq_layers(layers)
    assert detail.confidences.shape == (len(detail.layers), len(answer.token_ids))
    assert np.all((detail.confidences > 0) & (detail.confidences <= 1))
    assert np.all((detail.mean_previous >= 0) & (detail.mean_previous <= 1)) and detail.mean_previous.std() > 0.01
    assert detail.alpha == rauq_alpha(france_run.chat)
    np.testing.assert_allclose(detail.probabilities, np.exp(answer.logprobs), rtol=0.05)
    assert 1.0 < scores["rauq"].result.value < 50
    score = scores["attention_score"].result
    assert score.detail.layer == layers // 2 and score.detail.head_log_determinants.shape == (heads,)
    assert 0 < score.value < np.inf and score.reason is None
    served = replace(france_run, prompt_token_ids=None)
    unserved = score_run(served, RunStatistics(served, language_model=language_model), ["rauq", "attention_score"]).measures
    assert all(entry.result.value is None and "prompt's token ids" in entry.result.reason for entry in unserved.values())
