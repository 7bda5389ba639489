"""The UQAC attention pass on tiny random Llama models: layer-by-layer reduction equals a brute-force reduction of
`output_attentions=True` (docs/methods.md §5.2), for several head counts and grouped-query attention."""

import numpy as np
import pytest
import torch

from uqviz.engine import attention
from uqviz.engine.attention import AttentionPassError, LowestEntropyRows, attention_pass, token_logprobs
from uqviz.models.loading import LanguageModel
from uqviz.format.run import ModelInfo

# Copied from docs/methods.md §5.2 c, so the brute force below does not read the module's constant.
PROFILE = [0.16644488, 0.20938152, 0.32959151, 0.46061748, 0.59304059,
           0.67549127, 0.73914525, 0.81274293, 0.87378443, 0.93925344]
VOCAB = 64


class WordTokenizer:
    """Decodes id i as ' w<i>', enough for token texts."""

    def batch_decode(self, batch):
        return ["".join(f" w{token}" for token in ids) for ids in batch]


def tiny_model(layers: int, heads: int, kv_heads: int, seed: int = 0) -> LanguageModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=8 * heads, intermediate_size=32, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=64, initializer_range=0.5,
    )
    model = LlamaForCausalLM(config).eval()
    model.set_attn_implementation("sdpa")
    return LanguageModel(model, WordTokenizer(), ModelInfo("tiny", "test", "cpu", "float32", VOCAB))


def brute_force(lm: LanguageModel, ids: list[int], prompt_length: int, head_counts):
    """All layers × heads at once from output_attentions, preprocessed with plain loops in float64."""
    lm.model.set_attn_implementation("eager")
    with torch.no_grad():
        out = lm.model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True, use_cache=False)
    lm.model.set_attn_implementation("sdpa")
    weights = np.stack([layer[0].numpy() for layer in out.attentions]).astype(np.float64)
    layers, heads, length, _ = weights.shape
    rows = weights[:, :, prompt_length:, :].reshape(layers * heads, length - prompt_length, length).copy()
    for r in range(rows.shape[1]):
        query = prompt_length + r
        rows[:, r, query] = 0.0
        rows[:, r, 0] = 0.0
        for distance, factor in enumerate(PROFILE, start=1):
            if query - distance >= 0:
                rows[:, r, query - distance] *= factor
    rows /= rows.sum(-1, keepdims=True) + 1e-12
    entropy = -(rows * np.log(rows + 1e-12)).sum(-1)
    reduced = {}
    for count in head_counts:
        order = np.argsort(entropy, axis=0, kind="stable")[: min(count, layers * heads)]
        reduced[count] = np.stack([rows[order[:, r], r].max(0) for r in range(rows.shape[1])])
    logprobs = torch.log_softmax(out.logits[0].float(), -1)
    return reduced, out.hidden_states[-1][0, prompt_length:].numpy(), logprobs, layers * heads


@pytest.mark.parametrize("layers, heads, kv_heads", [(2, 4, 4), (3, 6, 2), (2, 3, 1)])
def test_layer_by_layer_reduction_equals_brute_force(layers, heads, kv_heads, monkeypatch):
    monkeypatch.setattr(LowestEntropyRows, "BLOCK", 4)  # 9 answer rows: the merge runs over three blocks
    lm = tiny_model(layers, heads, kv_heads)
    rng = np.random.default_rng(layers * 10 + heads)
    prompt, answer = rng.integers(0, VOCAB, 7).tolist(), rng.integers(0, VOCAB, 9).tolist()
    counts = (1, 2, 4, 64)
    result = attention_pass(lm, prompt, answer, counts)
    expected, hidden, logprobs, total = brute_force(lm, prompt + answer, len(prompt), counts)

    assert result.total_heads == total == layers * heads
    assert result.head_counts == list(counts)
    for count in counts:
        assert result.reduced[count].shape == (9, 16)
        np.testing.assert_allclose(result.reduced[count], expected[count], atol=1e-5)
    assert not np.allclose(result.reduced[1], result.reduced[4])
    np.testing.assert_allclose(result.hidden, hidden, atol=1e-5)
    rows = np.arange(len(prompt) - 1, 15)
    np.testing.assert_allclose(result.logprobs, logprobs[rows, answer].numpy(), atol=1e-5)
    top = logprobs[rows].topk(5, dim=-1)
    assert result.top_ids.tolist() == top.indices.tolist()
    np.testing.assert_allclose(result.top_logprobs, top.values.numpy(), atol=1e-5)
    assert result.tokens == [f" w{token}" for token in prompt + answer]


@pytest.mark.parametrize("layers, heads, kv_heads", [(2, 4, 4), (3, 6, 2)])
def test_self_attention_is_the_raw_diagonal_of_every_layer_and_head(layers, heads, kv_heads):
    """The pass keeps A[t, t] of every layer and head before §5.2's preprocessing (which zeroes it), for RAUQ and
    the Attention Score (docs/methods.md §12.10); the reductions UQAC reads are those of a pass without it."""
    lm = tiny_model(layers, heads, kv_heads, seed=5)
    prompt, answer = [4, 9, 13, 2], [20, 31, 7, 7, 50]
    result = attention_pass(lm, prompt, answer, (1, 16))
    lm.model.set_attn_implementation("eager")
    with torch.no_grad():
        out = lm.model(torch.tensor([prompt + answer]), output_attentions=True, use_cache=False)
    lm.model.set_attn_implementation("sdpa")
    expected = np.stack([np.diagonal(layer[0].numpy(), axis1=-2, axis2=-1) for layer in out.attentions])
    assert result.self_attention.shape == (layers, heads, 9) and result.self_attention.dtype == np.float32
    np.testing.assert_allclose(result.self_attention, expected, atol=1e-6)
    assert result.self_attention[:, :, 0] == pytest.approx(1.0)  # the first position can only attend to itself
    assert not np.allclose(result.self_attention[0], result.self_attention[-1])
    expected_reduced, *_ = brute_force(lm, prompt + answer, len(prompt), (1, 16))
    for count in (1, 16):
        np.testing.assert_allclose(result.reduced[count], expected_reduced[count], atol=1e-5)


def test_attention_matrix_puts_answer_rows_at_their_positions():
    lm = tiny_model(2, 4, 2)
    result = attention_pass(lm, [5, 6, 7], [8, 9, 10, 11])
    matrix = result.attention(16)
    assert matrix.shape == (7, 7)
    assert not matrix[:3].any()
    np.testing.assert_array_equal(matrix[3:], result.reduced[16])
    for row in range(3, 7):
        assert matrix[row, row] == 0 and matrix[row, 0] == 0 and not matrix[row, row + 1 :].any()
        assert matrix[row].sum() > 0
    with pytest.raises(AttentionPassError, match="available"):
        result.attention(3)


def test_model_is_restored_to_sdpa_without_hooks():
    lm = tiny_model(2, 4, 2)
    attention_pass(lm, [1, 2, 3], [4, 5])
    assert lm.model.config._attn_implementation == "sdpa"
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in lm.model.modules())


def test_missing_weights_give_a_clear_error_and_leave_no_hooks(monkeypatch):
    lm = tiny_model(2, 4, 2)
    monkeypatch.setattr(attention, "eager_attention", lambda model: _nothing())
    with pytest.raises(AttentionPassError, match="no attention weights"):
        attention_pass(lm, [1, 2, 3], [4, 5])
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in lm.model.modules())
    assert not lm.lock.locked()


def _nothing():
    from contextlib import nullcontext

    return nullcontext()


def test_length_cap_and_empty_answer_are_refused_with_a_message():
    lm = tiny_model(2, 4, 2)
    with pytest.raises(AttentionPassError, match="capped at 10 tokens"):
        attention_pass(lm, list(range(6)), list(range(6)), max_tokens=10)
    with pytest.raises(AttentionPassError, match="context window of 64"):
        attention_pass(lm, list(range(40)), list(range(30)), max_tokens=1000)
    with pytest.raises(AttentionPassError, match="empty"):
        attention_pass(lm, [1, 2], [])
    with pytest.raises(AttentionPassError, match="outside this model's vocabulary of 64"):
        attention_pass(lm, [1, 2], [3, 64])


def test_token_logprobs_batch_matches_separate_forwards():
    lm = tiny_model(2, 4, 2)
    sequences = [[3, 4, 5, 6, 7, 8], [3, 4, 9, 6, 7, 8]]
    rows = [1, 2, 4]
    batched = token_logprobs(lm, sequences, rows)
    for sequence, values in zip(sequences, batched):
        with torch.no_grad():
            logprobs = torch.log_softmax(lm.model(torch.tensor([sequence])).logits[0].float(), -1)
        np.testing.assert_allclose(values, [logprobs[r, sequence[r + 1]].item() for r in rows], atol=1e-5)
    assert batched[0, 0] != pytest.approx(batched[1, 0])
    with pytest.raises(ValueError, match="same length"):
        token_logprobs(lm, [[1, 2, 3], [1, 2]], [0])


def separate_logprobs(lm: LanguageModel, sequences, rows) -> np.ndarray:
    """One full forward per sequence, no cache, no batching."""
    values = []
    for sequence in sequences:
        with torch.no_grad():
            logprobs = torch.log_softmax(lm.model(torch.tensor([sequence]), use_cache=False).logits[0].double(), -1)
        values.append([logprobs[r, sequence[r + 1]].item() for r in rows])
    return np.array(values)


@pytest.mark.parametrize(
    "sequences, rows",
    [
        ([[5, 6, 7, 8, 9, 10, 11, 12], [5, 6, 7, 8, 20, 10, 11, 12], [5, 6, 7, 8, 9, 10, 30, 12]], [6, 1, 3, 4]),
        ([[5, 6, 7, 8], [5, 6, 7, 8]], [0, 2]),  # identical: every row lies in the shared part but the last token
        ([[5, 6, 7, 8], [9, 6, 7, 8]], [2, 0]),  # nothing shared
        ([[5, 6, 7, 8, 9, 10]], [4, 1]),
    ],
)
def test_shared_prefix_expansions_equal_separate_forwards(sequences, rows):
    """The shared prefix runs once with a KV cache copied to every sequence; rows before and after it, in any
    order, give the log-probs of full separate forwards."""
    lm = tiny_model(2, 4, 2, seed=3)
    np.testing.assert_allclose(token_logprobs(lm, sequences, rows), separate_logprobs(lm, sequences, rows), atol=1e-5)


def test_shared_prefix_runs_once():
    lm = tiny_model(2, 4, 2)
    lengths = []
    lm.model.register_forward_pre_hook(lambda module, args, kwargs: lengths.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    token_logprobs(lm, [[5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 20, 10], [5, 6, 7, 30, 9, 10]], [2, 4])
    assert lengths == [(1, 3), (3, 3)]


@pytest.mark.slow
def test_shared_prefix_on_the_real_model(language_model, france_run):
    sample = france_run.samples[0]
    prompt = language_model.tokenizer(france_run.prompt)["input_ids"][:8]
    original = prompt + sample.token_ids
    swapped = [list(original) for _ in range(3)]
    for copy, position in zip(swapped, (len(prompt) + 1, len(prompt) + 2, len(original) - 1)):
        copy[position] = 100 + position
    rows = list(range(len(prompt) - 1, len(original) - 1))
    sequences = [original, *swapped]
    np.testing.assert_allclose(token_logprobs(language_model, sequences, rows), separate_logprobs(language_model, sequences, rows), atol=1e-4)


def test_running_lowest_entropy_rows_do_not_depend_on_layer_order():
    rng = np.random.default_rng(3)
    layers = [torch.tensor(rng.dirichlet(np.ones(6), size=(4, 2)), dtype=torch.float32) for _ in range(3)]
    forward, backward = LowestEntropyRows(5), LowestEntropyRows(5)
    for layer in layers:
        forward.add(layer.clone(), attention.row_entropy(layer))
    for layer in reversed(layers):
        backward.add(layer.clone(), attention.row_entropy(layer))
    assert forward.rows.shape == (5, 2, 6)
    for count in (1, 3, 5, 12):
        np.testing.assert_allclose(forward.reduced([count])[count], backward.reduced([count])[count])
    kept_all = LowestEntropyRows(12)
    for layer in layers:
        kept_all.add(layer.clone(), attention.row_entropy(layer))
    np.testing.assert_allclose(kept_all.reduced([12])[12], torch.cat(layers).max(0).values.numpy())
