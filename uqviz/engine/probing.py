"""Extra passes over a run's answers: middle-layer hidden states (EigenScore), the log-prob of one next token after a
prompt (P(True)), short greedy replies (verbalized confidence) and every token's log-prob without the prompt (PMI)
(docs/methods.md §2.4, §12.6, §12.7, §12.11)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from uqviz.engine.attention import AttentionPassError, attention_modules, log_normaliser, logits_at
from uqviz.engine import server
from uqviz.engine.sampling import clean_prompt, eos_token_ids, generation_kwargs
from uqviz.format.run import SamplingSettings
from uqviz.models.loading import LanguageModel

MAX_PROBE_TOKENS = 4096
PROBE_BATCH = 16
LOGIT_BUDGET = 2**27  # logits (positions × vocabulary) one batched full pass may hold: 512 MiB in float32


class ProbeError(ValueError):
    """An extra pass cannot run on this run (no token ids, too long, no decoder layers); the message says why."""


class EnoughLayers(Exception):
    """Raised by a layer hook once the state it reads is captured, ending the forward pass there."""


def decoder_layers(model) -> list:
    """The decoder layers, in order: the modules that hold each `self_attn` (Llama-style decoders)."""
    try:
        attention_modules(model)
    except AttentionPassError as error:
        raise ProbeError(str(error)) from None
    names = [name for name, _ in model.named_modules() if name.endswith("self_attn")]
    return [model.get_submodule(name.rsplit(".", 1)[0]) for name in names]


def middle_layer(model) -> int:
    """hidden_states index num_hidden_layers // 2 (index 0 is the embeddings), as INSIDE and lm-polygraph read it."""
    return len(decoder_layers(model)) // 2


def right_padded(sequences: Sequence[Sequence[int]], pad_id: int, device) -> tuple:
    """input_ids and attention_mask of right-padded sequences, and each one's last real position."""
    import torch

    width = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(list(sequence), dtype=torch.long)
        mask[row, : len(sequence)] = 1
    last = torch.tensor([len(sequence) - 1 for sequence in sequences], device=device)
    return ids, mask, last


def _checked(lm: LanguageModel, sequences: Sequence[Sequence[int]], new_tokens: int = 0) -> None:
    vocabulary = lm.model.get_input_embeddings().num_embeddings
    for sequence in sequences:
        if not sequence:
            raise ProbeError("A probe sequence is empty; it needs at least the prompt's tokens.")
        limit = min(MAX_PROBE_TOKENS, lm.context_window or MAX_PROBE_TOKENS) - new_tokens
        if len(sequence) > limit:
            raise ProbeError(f"A probe sequence is {len(sequence)} tokens, more than the {limit} this pass allows for this model.")
        if max(sequence) >= vocabulary:
            raise ProbeError(f"Token id {max(sequence)} is outside this model's vocabulary of {vocabulary}; was the run sampled with another model?")


def pad_id(lm: LanguageModel) -> int:
    tokenizer = lm.tokenizer
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def last_token_states(lm: LanguageModel, sequences: Sequence[Sequence[int]], layer: int | None = None) -> np.ndarray:
    """K × d hidden states (hidden_states[layer], default the middle one) on each sequence's last token, from batched
    teacher-forced passes that keep only that layer (Chen et al. ICLR 2024; docs/methods.md §2.4)."""
    import torch

    _checked(lm, sequences)
    model = lm.model
    layers = decoder_layers(model)
    layer = len(layers) // 2 if layer is None else layer
    if not 1 <= layer <= len(layers):
        raise ProbeError(f"Layer {layer} does not exist; hidden_states runs from 1 to {len(layers)} (0 is the embeddings).")
    captured: dict = {}

    def keep_output(module, args, output) -> None:
        captured["states"] = output[0] if isinstance(output, tuple) else output
        raise EnoughLayers  # the layers above this one cannot change it: skip them

    rows = []
    with lm.lock:
        hook = layers[layer - 1].register_forward_hook(keep_output)
        try:
            with torch.inference_mode():
                for start in range(0, len(sequences), PROBE_BATCH):
                    chunk = sequences[start : start + PROBE_BATCH]
                    ids, mask, last = right_padded(chunk, pad_id(lm), model.device)
                    lm.calls += 1
                    try:
                        model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
                    except EnoughLayers:
                        pass
                    if "states" not in captured:
                        raise ProbeError(f"Layer {layer} did not run in the forward pass, so its hidden states cannot be read.")
                    states = captured.pop("states")
                    rows.append(states[torch.arange(len(chunk), device=states.device), last].float().cpu().numpy())
        finally:
            hook.remove()
    return np.concatenate(rows).astype(np.float64)


def next_token_logprobs(lm: LanguageModel, sequences: Sequence[Sequence[int]], token_id: int) -> np.ndarray:
    """log p(token_id | sequence) after each sequence, one unpadded forward pass each through the whole model, so every
    family's own logit scaling applies (Kadavath et al. 2022; docs/methods.md §12.6)."""
    import torch

    _checked(lm, sequences)
    model = lm.model
    values = []
    with lm.lock, torch.inference_mode():
        for sequence in sequences:
            lm.calls += 1
            ids = torch.tensor([list(sequence)], dtype=torch.long, device=model.device)
            logits = logits_at(model, ids, [len(sequence) - 1])[0].float()
            values.append(float((logits[:, token_id] - log_normaliser(logits))[0]))
    return np.asarray(values, dtype=np.float64)


def budget_batches(lengths: Sequence[int], row_cost: Callable[[int], int], budget: int, most: int) -> list[range]:
    """Consecutive index ranges of at most `most` sequences whose rows × row_cost(longest length) fits `budget` (one
    sequence at least): what one padded batch of a pass may hold."""
    batches, start = [], 0
    while start < len(lengths):
        stop = start + 1
        while stop < min(start + most, len(lengths)) and (stop + 1 - start) * row_cost(max(lengths[start : stop + 1])) <= budget:
            stop += 1
        batches.append(range(start, stop))
        start = stop
    return batches


def logit_batches(lengths: Sequence[int], vocabulary: int) -> list[range]:
    """Consecutive index ranges of at most PROBE_BATCH sequences whose padded logits fit LOGIT_BUDGET (one sequence at least)."""
    return budget_batches(lengths, lambda length: length * vocabulary, LOGIT_BUDGET, PROBE_BATCH)


def token_logprobs(lm: LanguageModel, sequences: Sequence[Sequence[int]], first: int = 1) -> list[np.ndarray]:
    """log p(s_t | s_<t) of every token t ≥ `first` of each sequence, from batched right-padded teacher-forced passes
    through the whole model, so every family's own logit scaling applies (van der Poel et al. 2022; docs/methods.md §12.11)."""
    import torch

    if first < 1:
        raise ValueError("the first token of a sequence has no context to be scored in")
    _checked(lm, sequences)
    model = lm.model
    values: list[np.ndarray] = []
    with lm.lock, torch.inference_mode():
        for batch in logit_batches([len(sequence) for sequence in sequences], model.get_input_embeddings().num_embeddings):
            chunk = [sequences[index] for index in batch]
            ids, mask, _ = right_padded(chunk, pad_id(lm), model.device)
            lm.calls += 1
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
            # row t − 1 of the logits predicts token t
            chosen = logits[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1) - log_normaliser(logits)[:, :-1]
            values += [chosen[row, first - 1 : len(sequence) - 1].cpu().numpy().astype(np.float64) for row, sequence in enumerate(chunk)]
    return values


def conversation_ids(lm: LanguageModel, turns: Sequence[tuple[str, str]], chat: bool, system_prompt: str | None = None) -> list[int]:
    """Token ids of (role, text) turns ending where the assistant speaks next: the chat template when the run used one,
    else the texts joined by newlines."""
    turns = [(role, clean_prompt(text)) for role, text in turns]
    tokenizer = lm.tokenizer
    if chat and lm.has_chat_template:
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages += [{"role": role, "content": text} for role, text in turns]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer("\n".join(text for _, text in turns))["input_ids"])


def greedy_replies(lm: LanguageModel, conversations: Sequence[Sequence[int]], max_new_tokens: int) -> list[str]:
    """The greedy continuation of each conversation (token ids), decoded without special tokens (Tian et al. 2023; docs/methods.md §12.7)."""
    import torch

    _checked(lm, conversations, max_new_tokens)
    model = lm.model
    eos_ids = eos_token_ids(lm)
    replies = []
    with lm.lock, torch.inference_mode():
        for conversation in conversations:  # one at a time: no left padding to get right across model families
            lm.calls += 1
            input_ids = torch.tensor([list(conversation)], dtype=torch.long, device=model.device)
            output = model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                **generation_kwargs(lm, SamplingSettings(n=1, temperature=0.0, max_new_tokens=max_new_tokens), eos_ids),
            )
            replies.append(lm.tokenizer.decode(output[0, len(conversation) :], skip_special_tokens=True))
    return replies


def replies_to(model, conversations: Sequence[Sequence[tuple[str, str]]], chat: bool, system_prompt: str | None,
               max_new_tokens: int) -> list[str]:
    """The greedy reply of a local model or a server (engine/server.py) to each conversation of (role, text) turns."""
    if isinstance(model, LanguageModel):
        return greedy_replies(model, [conversation_ids(model, turns, chat, system_prompt) for turns in conversations], max_new_tokens)
    return server.greedy_replies(model, conversations, max_new_tokens, system_prompt if chat else None)
