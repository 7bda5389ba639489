"""The teacher-forced pass UQAC reads: eager attention reduced layer by layer, each head's A[t, t], hidden states and
exact log-probs (docs/methods.md §5.1–5.2, §12.10)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from uqviz.engine.sampling import TOP_ALTERNATIVES, token_texts
from uqviz.models.loading import LanguageModel

MAX_ATTENTION_TOKENS = 2048
"""Cap on prompt + answer tokens. Memory grows with T²: one layer's eager attention (heads × T × T) at a time plus the
32 kept head rows per answer row (32 × answer × T floats). Measured on SmolLM2-135M (CPU, float32): 0.39 GB above the
weights at T = 1024 and 1.2 GB at T = 2048 (a plain eager forward needs 0.21 and 0.47 GB)."""

HEAD_CHOICES = (1, 2, 4, 8, 16, 32)
"""Head counts whose reduced matrices one pass keeps, so a head-count slider needs no model call."""

DOWN_WEIGHTS = (
    0.16644488, 0.20938152, 0.32959151, 0.46061748, 0.59304059,
    0.67549127, 0.73914525, 0.81274293, 0.87378443, 0.93925344,
)
"""Factor on the attention to the key d = 1..10 positions before the query (§5.2 c)."""

NORMALISING_EPSILON = 1e-12


class AttentionPassError(ValueError):
    """The attention pass cannot run on this answer or model; the message says what to change."""


@dataclass(frozen=True)
class AttentionPass:
    """What UQAC needs from one teacher-forced pass over prompt + answer, as plain numpy arrays.

    Positions are absolute in `token_ids` (prompt first). Answer index i is position `prompt_length + i`; its
    probability comes from query row `prompt_length + i - 1` (the token's *source* row, §5.1).
    """

    token_ids: list[int]
    tokens: list[str]
    prompt_length: int
    reduced: dict[int, np.ndarray]
    """head count h -> (answer length × T): the max over the h lowest-entropy preprocessed head rows of each
    answer query row (row i is query position prompt_length + i)."""
    total_heads: int
    hidden: np.ndarray
    """(answer length × d) last-layer hidden states (the input of the output embedding) at the answer positions."""
    logprobs: np.ndarray
    """(answer length,) exact log p of each answer token, gathered from the full softmax."""
    top_ids: np.ndarray
    top_tokens: list[list[str]]
    top_logprobs: np.ndarray
    seconds: float
    self_attention: np.ndarray | None = None
    """(layers × heads × T) float32 raw attention of every position to itself, A[t, t], before any preprocessing: row
    prompt_length + i − 1 is what the step producing answer token i pays to token i − 1 (RAUQ, Attention Score;
    docs/methods.md §12.10). None in a pass built by hand without it."""

    @property
    def length(self) -> int:
        return len(self.token_ids)

    @property
    def answer_length(self) -> int:
        return self.length - self.prompt_length

    @property
    def head_counts(self) -> list[int]:
        return sorted(self.reduced)

    def attention(self, heads: int) -> np.ndarray:
        """T × T reduced attention indexed by query (source) position; prompt rows are zero, as in the reference."""
        if heads not in self.reduced:
            raise AttentionPassError(f"{heads} heads were not kept by this pass; available: {self.head_counts}.")
        matrix = np.zeros((self.length, self.length), dtype=np.float32)
        matrix[self.prompt_length :] = self.reduced[heads]
        return matrix


def preprocess_rows(weights, first_position: int):
    """§5.2 a–d on one layer's query rows `first_position…`: zero self and position 0, down-weight 10 neighbours, renormalise.

    `weights` is (heads × rows × T) float32 and is changed in place.
    """
    import torch

    heads, rows, length = weights.shape
    row_index = torch.arange(rows, device=weights.device)
    positions = row_index + first_position
    weights[:, row_index, positions] = 0
    weights[..., 0] = 0
    for distance, factor in enumerate(DOWN_WEIGHTS, start=1):
        keys = positions - distance
        valid = keys >= 0
        weights[:, row_index[valid], keys[valid]] *= factor
    weights /= weights.sum(-1, keepdim=True) + NORMALISING_EPSILON
    return weights


def row_entropy(weights):
    """Entropy of every attention row (last axis); 0·log 0 = 0 (§5.2 e)."""
    import torch

    return torch.special.entr(weights).sum(-1)


class LowestEntropyRows:
    """For each query row, the `keep` head rows of lowest entropy seen so far, merged one layer at a time (§5.2 e).

    The merge runs over blocks of query rows, so beyond the kept rows themselves it needs only one block's worth.
    """

    BLOCK = 128

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.rows = None
        self.entropy = None

    def add(self, rows, entropy) -> None:
        """Merge one layer: rows is (heads × queries × T), entropy (heads × queries)."""
        import torch

        queries = rows.shape[1]
        held = 0 if self.rows is None else self.rows.shape[0]
        pooled = entropy if self.rows is None else torch.cat([self.entropy, entropy])
        kept = min(self.keep, pooled.shape[0])
        self.entropy, order = torch.topk(pooled, kept, dim=0, largest=False, sorted=True)
        if kept > held:
            grown = rows.new_empty((kept, queries, rows.shape[2]))
            if held:
                grown[:held] = self.rows
            self.rows = grown
        for start in range(0, queries, self.BLOCK):
            block = slice(start, start + self.BLOCK)
            candidates = torch.cat([self.rows[:held, block], rows[:, block]]) if held else rows[:, block]
            index = torch.arange(candidates.shape[1], device=rows.device)
            self.rows[:, block] = candidates[order[:, block], index]

    def reduced(self, head_counts: Sequence[int]) -> dict[int, np.ndarray]:
        """Element-wise max over the h lowest-entropy rows, for each h (a count above what was seen keeps all)."""
        if self.rows is None:
            raise AttentionPassError("The model returned no attention weights; UQAC needs eager attention.")
        available = self.rows.shape[0]
        wanted = {min(h, available): [] for h in head_counts}
        for h in head_counts:
            wanted[min(h, available)].append(h)
        running = self.rows[0].clone()
        result = {}
        for count in range(1, available + 1):
            if count > 1:
                running = running.maximum(self.rows[count - 1])
            for h in wanted.get(count, []):
                result[h] = running.cpu().numpy().copy()
        return result


@contextmanager
def eager_attention(model) -> Iterator[None]:
    """Switch a model to eager attention (the only one that returns weights) and restore it afterwards."""
    previous = model.config._attn_implementation
    if previous != "eager":
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if previous != "eager":
            model.set_attn_implementation(previous)


def attention_modules(model) -> list:
    """The self-attention module of every decoder layer (Llama, Qwen, Mistral, Gemma, Phi-3 and their kin)."""
    modules = [module for name, module in model.named_modules() if name.endswith("self_attn")]
    if not modules:
        raise AttentionPassError(
            f"{type(model).__name__} has no `self_attn` modules, so its attention cannot be read layer by layer; "
            "UQAC supports Llama-style decoders (Llama, Qwen, Mistral, Gemma, Phi-3, SmolLM)."
        )
    return modules


def logits_at(model, input_ids, rows: Sequence[int], cache=None):
    """Logits (batch × len(rows) × V) at the rows (counted after the `cache`d tokens), projecting only those rows."""
    import torch

    index = torch.tensor(list(rows), dtype=torch.long, device=input_ids.device)
    parameters = inspect.signature(model.forward).parameters
    cached = {"use_cache": False} if cache is None else {"use_cache": True, cache_argument(model): cache}
    if "logits_to_keep" in parameters:
        return model(input_ids=input_ids, logits_to_keep=index, **cached).logits
    return model(input_ids=input_ids, **cached).logits[:, index]


def cache_argument(model) -> str:
    """The KV-cache keyword of this transformers version: `cache` (5.x) or `past_key_values` (earlier)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def shared_prefix_length(input_ids) -> int:
    """How many leading tokens every sequence of the batch has in common."""
    same = (input_ids == input_ids[:1]).all(dim=0)
    return int(same.long().cumprod(dim=0).sum())


def logits_sharing_prefix(model, input_ids, rows: Sequence[int]):
    """logits_at with the batch's shared prefix run once and its KV cache copied to every sequence for the suffixes."""
    import torch

    rows = list(rows)
    batch, device = input_ids.shape[0], input_ids.device
    prefix = min(shared_prefix_length(input_ids), input_ids.shape[1] - 1)
    if batch == 1 or prefix < 1 or "logits_to_keep" not in inspect.signature(model.forward).parameters:
        return logits_at(model, input_ids, rows)
    in_prefix = [row for row in rows if row < prefix]
    keep = torch.tensor(in_prefix or [prefix - 1], dtype=torch.long, device=device)
    shared = model(input_ids=input_ids[:1, :prefix], use_cache=True, logits_to_keep=keep)
    cache = getattr(shared, cache_argument(model), None)
    if not hasattr(cache, "batch_repeat_interleave"):
        return logits_at(model, input_ids, rows)
    parts = [shared.logits[:, : len(in_prefix)].expand(batch, -1, -1)]
    suffix_rows = [row - prefix for row in rows if row >= prefix]
    if suffix_rows:
        cache.batch_repeat_interleave(batch)
        parts.append(logits_at(model, input_ids[:, prefix:], suffix_rows, cache=cache))
    order = sorted(range(len(rows)), key=lambda index: (rows[index] >= prefix, index))
    return torch.cat(parts, dim=1)[:, torch.tensor(order, device=device).argsort()]


def log_normaliser(logits, block: int = 256):
    """logsumexp over the vocabulary, a block of rows at a time so no second rows × vocabulary array is made."""
    import torch

    flat = logits.reshape(-1, logits.shape[-1])
    return torch.cat([torch.logsumexp(part, dim=-1) for part in flat.split(block)]).reshape(logits.shape[:-1])


def check_length(lm: LanguageModel, length: int, max_tokens: int = MAX_ATTENTION_TOKENS) -> None:
    window = lm.context_window
    if length > max_tokens:
        raise AttentionPassError(
            f"Prompt + answer is {length} tokens; the attention pass is capped at {max_tokens} tokens because it "
            "holds one layer's heads × T × T attention at a time. Pick a shorter answer or lower max new tokens."
        )
    if window is not None and length > window:
        raise AttentionPassError(f"Prompt + answer is {length} tokens, more than the model's context window of {window}.")


def attention_pass(
    lm: LanguageModel,
    prompt_token_ids: Sequence[int],
    answer_token_ids: Sequence[int],
    head_counts: Sequence[int] = HEAD_CHOICES,
    max_tokens: int = MAX_ATTENTION_TOKENS,
) -> AttentionPass:
    """One teacher-forced forward with eager attention, reduced layer by layer in hooks (Li et al. 2025; docs/methods.md §5.1–5.2).

    Each layer's weights are preprocessed and merged into the running lowest-entropy rows inside that layer's
    hook and then dropped, so all layers × heads × T × T never exist at once. Holds the model's lock.
    """
    import torch

    prompt_length, answer_length = len(prompt_token_ids), len(answer_token_ids)
    if answer_length == 0:
        raise AttentionPassError("The answer is empty; UQAC needs at least one answer token.")
    if prompt_length == 0:
        raise AttentionPassError("The prompt has no tokens; UQAC needs the prompt the answer was generated for.")
    token_ids = [int(token) for token in prompt_token_ids] + [int(token) for token in answer_token_ids]
    check_length(lm, len(token_ids), max_tokens)
    vocabulary = lm.model.get_input_embeddings().num_embeddings
    if max(token_ids) >= vocabulary:
        raise AttentionPassError(
            f"Token id {max(token_ids)} is outside this model's vocabulary of {vocabulary}; was the run sampled with another model?"
        )
    counts = sorted({int(h) for h in head_counts if h >= 1})
    kept = LowestEntropyRows(max(counts))
    captured: dict = {}

    def reduce_layer(module, args, output) -> None:
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            raise AttentionPassError(f"{type(module).__name__} returned no attention weights even in eager mode.")
        captured["heads"] = captured.get("heads", 0) + weights.shape[1]
        captured.setdefault("diagonals", []).append(torch.diagonal(weights[0], dim1=-2, dim2=-1).to(torch.float32).cpu())
        rows = weights[0, :, prompt_length:, :].to(torch.float32, copy=True)
        rows = preprocess_rows(rows, prompt_length)
        kept.add(rows, row_entropy(rows))

    def keep_hidden(module, args) -> None:
        captured["hidden"] = args[0]

    started = time.perf_counter()
    with lm.lock:
        lm.calls += 1
        model = lm.model
        modules = attention_modules(model)
        hooks = [module.register_forward_hook(reduce_layer) for module in modules]
        hooks.append(model.get_output_embeddings().register_forward_pre_hook(keep_hidden))
        try:
            with eager_attention(model), torch.inference_mode():
                input_ids = torch.tensor([token_ids], dtype=torch.long, device=model.device)
                rows = range(prompt_length - 1, len(token_ids))
                logits = logits_at(model, input_ids, rows)[0].float()
        finally:
            for hook in hooks:
                hook.remove()
        hidden = captured["hidden"][0]
        hidden = hidden[-(answer_length + 1) :] if hidden.shape[0] != answer_length + 1 else hidden
        logits = logits[:-1]
        normaliser = log_normaliser(logits)
        answer = torch.tensor(token_ids[prompt_length:], device=logits.device)
        chosen = logits.gather(1, answer[:, None])[:, 0] - normaliser
        top = logits.topk(TOP_ALTERNATIVES, dim=-1)
        reduced = kept.reduced(counts)
        top_ids = top.indices.cpu().numpy()
        tokens = token_texts(lm.tokenizer, [], token_ids[:prompt_length], [])[0]
        answer_tokens, top_tokens = token_texts(lm.tokenizer, token_ids[:prompt_length], token_ids[prompt_length:], top_ids.tolist())
    return AttentionPass(
        token_ids=token_ids,
        tokens=tokens + answer_tokens,
        prompt_length=prompt_length,
        reduced=reduced,
        total_heads=captured["heads"],
        hidden=hidden[1:].float().cpu().numpy(),
        logprobs=chosen.cpu().numpy().astype(np.float64),
        top_ids=top_ids,
        top_tokens=top_tokens,
        top_logprobs=(top.values - normaliser[:, None]).cpu().numpy().astype(np.float64),
        seconds=time.perf_counter() - started,
        self_attention=torch.stack(captured["diagonals"]).numpy(),
    )


def token_logprobs(lm: LanguageModel, sequences: Sequence[Sequence[int]], rows: Sequence[int]) -> np.ndarray:
    """log p(sequence[r+1] | sequence[:r+1]) for each row r of equal-length sequences: shared prefix once, suffixes batched (§5.5)."""
    import torch

    lengths = {len(sequence) for sequence in sequences}
    if len(lengths) != 1:
        raise ValueError(f"expansions must all have the same length, got lengths {sorted(lengths)}")
    rows = list(rows)
    needed = max(rows) + 2  # causal: tokens after the last target change nothing
    with lm.lock, torch.inference_mode():
        lm.calls += 1
        model = lm.model
        input_ids = torch.tensor([list(sequence)[:needed] for sequence in sequences], dtype=torch.long, device=model.device)
        logits = logits_sharing_prefix(model, input_ids, rows).float()
        targets = input_ids[:, [row + 1 for row in rows]]
        chosen = logits.gather(2, targets[..., None])[..., 0] - log_normaliser(logits)
    return chosen.cpu().numpy().astype(np.float64)
