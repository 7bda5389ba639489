"""CSL and MARS: worked examples of docs/methods.md §12.12, their properties, the real model's attention and the reasons."""

from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.engine.attention import eager_attention
from uqviz.engine.csl import ELICITATION_PROMPT, batches, elicitation_ids
from uqviz.measures.registry import REGISTRY
from uqviz.measures.reweighted import csl, csl_weights, mars, mars_weights, reweighted
from uqviz.measures.sar import token_sar
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import MissingInputError, MissingModelError, RunStatistics
from uqviz.statistics.csl import ELICITED_ATTENTION
from uqviz.workflows.importing import parse_samples, run_from_samples

LOGPROBS = [-0.1, -2.0, -0.5]
# One layer, two heads: (0.1, 0.3, 0.1) normalises to (0.2, 0.6, 0.2), (0.2, 0.1, 0.1) to (0.5, 0.25, 0.25).
ATTENTION = np.array([[[0.1, 0.3, 0.1], [0.2, 0.1, 0.1]]])


def test_csl_worked_example_normalises_each_head_then_averages():
    result = csl([LOGPROBS, []], [ATTENTION, np.zeros((1, 2, 0))])
    assert result.detail.weights[0] == pytest.approx([0.35, 0.425, 0.225])
    assert result.detail.contributions[0] == pytest.approx([0.035, 0.85, 0.1125])
    assert result.per_sample == pytest.approx([0.9975, 0.0])  # the empty answer scores 0, as LN-PE does
    assert result.value == pytest.approx(0.49875)
    assert result.detail.ln_pe == pytest.approx([0.866667, 0.0], abs=1e-6)
    # LM-Polygraph averages the raw attention first: (1/3, 4/9, 2/9) and 1.033333, which CSL here must not give.
    assert result.per_sample[0] != pytest.approx(1.033333, abs=1e-3)


def test_a_head_without_attention_on_the_answer_counts_as_uniform():
    assert csl_weights(np.array([[0.0, 0.0], [0.3, 0.1]])) == pytest.approx([(0.5 + 0.75) / 2, (0.5 + 0.25) / 2])
    assert csl_weights(np.zeros((3, 4, 0))).size == 0


def test_mars_worked_example_is_half_ln_pe_and_half_token_sar():
    relevance = [0.1, 0.8, 0.4]
    result = mars([LOGPROBS], [relevance])
    assert result.detail.weights[0] == pytest.approx([0.205128, 0.474359, 0.320513], abs=1e-6)
    assert result.value == pytest.approx(1.129487, abs=1e-6)
    assert result.value == pytest.approx((0.866667 + token_sar([LOGPROBS], [relevance]).value) / 2, abs=1e-6)


def test_mars_without_any_important_token_is_ln_pe():
    assert mars_weights([0.0, 0.0, 0.0, 0.0]) == pytest.approx([0.25] * 4)
    assert mars([LOGPROBS], [[0.0, 0.0, 0.0]]).value == pytest.approx(0.866667, abs=1e-6)
    assert mars([[]], [[]]).per_sample == [0.0]


@pytest.mark.parametrize("seed", range(3))
def test_uniform_weights_give_the_length_normalised_log_likelihood(seed):
    rng = np.random.default_rng(seed)
    logprobs = [-rng.exponential(size=n) for n in (1, 4, 9)]
    ln_pe = [-float(np.mean(row)) for row in logprobs]
    # Every head spreads its attention evenly over the answer (each head at its own scale).
    flat = [rng.uniform(0.1, 1.0, size=(2, 3, 1)) * np.ones((2, 3, len(row))) for row in logprobs]
    assert csl(logprobs, flat).per_sample == pytest.approx(ln_pe)
    assert mars(logprobs, [np.full(len(row), rng.uniform(0.1, 1.0)) for row in logprobs]).per_sample == pytest.approx(ln_pe)


@pytest.mark.parametrize("seed", range(3))
def test_permuting_tokens_with_their_weights_leaves_u_unchanged(seed):
    rng = np.random.default_rng(seed)
    logprobs = -rng.exponential(size=7)
    attention = rng.uniform(size=(3, 4, 7))
    importance = rng.uniform(size=7)
    order = rng.permutation(7)
    assert csl([logprobs[order]], [attention[..., order]]).value == pytest.approx(csl([logprobs], [attention]).value)
    assert mars([logprobs[order]], [importance[order]]).value == pytest.approx(mars([logprobs], [importance]).value)
    assert csl([logprobs[order]], [attention]).value != pytest.approx(csl([logprobs], [attention]).value)


def test_weights_must_match_the_tokens():
    with pytest.raises(ValueError, match="2 weights for 3 tokens"):
        reweighted([LOGPROBS], [[0.5, 0.5]])
    with pytest.raises(ValueError):
        reweighted([LOGPROBS, LOGPROBS], [[1 / 3] * 3])


def test_batches_keep_each_layer_within_the_budget():
    assert batches([10, 10, 10, 20], heads=1, budget=400) == [[0, 1, 2], [3]]
    assert batches([30], heads=1, budget=400) == [[0]]  # one sequence always goes, however long


class FakeTokenizer:
    """Characters as ids: enough to see where elicitation_ids puts the answer and the decision line."""

    def decode(self, ids):
        return "".join(chr(token) for token in ids)

    def encode(self, text, add_special_tokens=True):
        return ([1] if add_special_tokens else []) + [ord(character) for character in text]


def test_elicitation_wraps_the_answer_as_the_authors_do():
    tokenizer = FakeTokenizer()
    ids, start = elicitation_ids(tokenizer, " Who? ", [ord(c) for c in " Paris"])
    text = tokenizer.decode(ids[1:])
    assert text == ELICITATION_PROMPT.replace("{question}", "Who?") + " Paris\n Decision:"
    assert tokenizer.decode(ids[start : start + 6]) == " Paris"
    ids, start = elicitation_ids(tokenizer, "Who?", [ord(c) for c in "Paris\n"])
    assert tokenizer.decode(ids[1:]).endswith("Answer: Paris\n Decision:")  # a space before, no second newline
    assert tokenizer.decode(ids[start : start + 6]) == "Paris\n"


def failing_loader():
    raise AssertionError("the language model must not be loaded")


def test_a_pasted_run_gets_a_reason_before_any_model_is_loaded():
    run = run_from_samples("Capital of France?", parse_samples('{"text": "Paris", "tokens": ["Paris"], "logprobs": [-0.1]}'))
    result = score_run(run, RunStatistics(run, language_model=failing_loader), ["csl"]).measures["csl"].result
    assert result.value is None and "token ids" in result.reason
    handmade = make_run(["Paris is nice"], [LOGPROBS])
    with pytest.raises(MissingModelError, match="no language model"):
        REGISTRY["csl"].compute(RunStatistics(handmade))
    served = replace(handmade, samples=[replace(handmade.samples[0], token_ids=None)])
    with pytest.raises(MissingInputError, match="server"):
        REGISTRY["csl"].compute(RunStatistics(served, language_model=failing_loader))


def test_registry_entries():
    assert REGISTRY["csl"].on_demand and REGISTRY["csl"].cost
    assert not REGISTRY["mars"].on_demand and "SAR relevance" in REGISTRY["mars"].title
    assert "in place of the paper's BERT importance model" in REGISTRY["mars"].formula


def test_csl_reads_the_real_models_attention(language_model, embedder, france_run):
    import torch

    stats = RunStatistics(france_run, embedder=embedder, language_model=language_model)
    result = REGISTRY["csl"].compute(stats)
    attention = ELICITED_ATTENTION(stats).attention
    layers, heads = language_model.model.config.num_hidden_layers, language_model.model.config.num_attention_heads
    assert [a.shape for a in attention] == [(layers, heads, len(sample)) for sample in france_run.samples]
    assert stats.costs["csl_attention"].model_calls == 1  # the four answers go through in one batch
    for sample, weights, value, ln_pe in zip(france_run.samples, result.detail.weights, result.per_sample, result.detail.ln_pe):
        assert len(weights) == len(sample) and sum(weights) == pytest.approx(1.0)
        if len(sample) > 1:
            assert value != pytest.approx(ln_pe)  # the attention is not uniform over a real answer
    # The batched, right-padded pass reads what one plain eager forward of the longest answer alone gives.
    index = max(range(len(france_run.samples)), key=lambda k: len(france_run.samples[k]))
    answer = france_run.samples[index].token_ids
    ids, start = elicitation_ids(language_model.tokenizer, france_run.prompt, answer)
    with language_model.lock, eager_attention(language_model.model), torch.inference_mode():
        output = language_model.model(torch.tensor([ids]), output_attentions=True)
    expected = np.stack([layer[0, :, -1, start : start + len(answer)].float().numpy() for layer in output.attentions])
    np.testing.assert_allclose(attention[index], expected, atol=1e-5)
    # MARS on the same run: the token relevance SAR computed, half of it and half LN-PE.
    token = REGISTRY["token_sar"].compute(stats)
    assert REGISTRY["mars"].compute(stats).per_sample == pytest.approx(
        [(ln + ts) / 2 for ln, ts in zip(token.detail.ln_pe, token.per_sample)]
    )
