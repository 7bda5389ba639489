"""Draw N answers in one batched `generate` call, keeping raw-distribution statistics per token (docs/methods.md §0.1)."""

from __future__ import annotations

import math
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from uqviz.format.run import MAX_PROMPT_CHARS, MAX_SAMPLES, Run, Sample, SamplingSettings, recorded_token_bytes
from uqviz.models.loading import LanguageModel
from uqviz.models.tokens import token_byte_pieces

if TYPE_CHECKING:
    import torch

MAX_NEW_TOKENS = 2048
MAX_SEED = 2**63 - 1
TOP_ALTERNATIVES = 5
DETOKENIZE_CONTEXT = 4

ProgressCallback = Callable[[int, int], None]


class SamplingError(ValueError):
    """The prompt or settings cannot be sampled; the message says what to change."""


@dataclass(frozen=True)
class PreparedPrompt:
    text: str
    token_ids: list[int]


def clean_prompt(prompt: str) -> str:
    """Drop control characters other than newline and tab; the model never sees invisible bytes."""
    return "".join(ch for ch in prompt if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def validate(prompt: str, settings: SamplingSettings) -> None:
    """Raise SamplingError with one sentence for anything that cannot be sampled."""
    if not prompt.strip():
        raise SamplingError("The prompt is empty; type a question or instruction.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise SamplingError(f"The prompt has {len(prompt):,} characters, more than the {MAX_PROMPT_CHARS:,} a run may hold.")
    validate_settings(settings)


def validate_settings(settings: SamplingSettings) -> None:
    """Raise SamplingError with one sentence for a setting out of range (checked before any model loads)."""
    if not 1 <= settings.n <= MAX_SAMPLES:
        raise SamplingError(f"The number of samples must be between 1 and {MAX_SAMPLES}, got {settings.n}.")
    if not math.isfinite(settings.temperature) or settings.temperature < 0:
        raise SamplingError(f"Temperature must be 0 (greedy) or positive, got {settings.temperature}.")
    if not 0 < settings.top_p <= 1:
        raise SamplingError(f"Top-p must be in (0, 1], got {settings.top_p}.")
    if settings.top_k < 0:
        raise SamplingError(f"Top-k must be 0 (off) or positive, got {settings.top_k}.")
    if not 1 <= settings.max_new_tokens <= MAX_NEW_TOKENS:
        raise SamplingError(f"Max new tokens must be between 1 and {MAX_NEW_TOKENS}, got {settings.max_new_tokens}.")
    if not 0 <= settings.seed <= MAX_SEED:
        raise SamplingError(f"The seed must be between 0 and {MAX_SEED}, got {settings.seed}.")


def prepare_prompt(lm: LanguageModel, prompt: str, chat: bool = True, system_prompt: str | None = None) -> PreparedPrompt:
    """Apply the chat template when asked for and the model has one; otherwise the plain prompt."""
    tokenizer = lm.tokenizer
    if chat and lm.has_chat_template:
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages.append({"role": "user", "content": prompt})
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        text = prompt
        ids = tokenizer(text)["input_ids"]
    return PreparedPrompt(text=text, token_ids=list(ids))


def sample(
    lm: LanguageModel,
    prompt: str,
    settings: SamplingSettings,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    progress: ProgressCallback | None = None,
) -> Run:
    """Sample `settings.n` answers in one batched generate call; hold the model's lock for the whole call."""
    prompt = clean_prompt(prompt)
    validate(prompt, settings)
    system_prompt = clean_prompt(system_prompt).strip() or None if system_prompt else None
    if not isinstance(lm, LanguageModel):  # a server backend (engine/server.py) samples its own way
        return lm.sample(prompt, settings, chat=chat, system_prompt=system_prompt, progress=progress)
    import torch
    from transformers import LogitsProcessorList

    with lm.lock:
        prepared = prepare_prompt(lm, prompt, chat, system_prompt)
        window = lm.context_window
        prompt_length = len(prepared.token_ids)
        if window is not None and prompt_length + settings.max_new_tokens > window:
            raise SamplingError(
                f"The prompt is {prompt_length} tokens and {settings.max_new_tokens} new tokens are asked for, "
                f"but the model's context window is {window} tokens; shorten the prompt or lower max new tokens."
            )
        device = lm.model.device
        input_ids = torch.tensor([prepared.token_ids] * settings.n, dtype=torch.long, device=device)
        statistics = TokenStatistics(TOP_ALTERNATIVES, settings.max_new_tokens, progress)
        eos_ids = eos_token_ids(lm)
        torch.manual_seed(settings.seed)
        started = time.perf_counter()
        lm.calls += 1
        try:
            with torch.inference_mode():
                sequences = lm.model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    **generation_kwargs(lm, settings, eos_ids),
                    logits_processor=LogitsProcessorList([statistics]),
                )
        except torch.OutOfMemoryError:
            statistics = None
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise SamplingError(
                f"The device ran out of memory sampling {settings.n} answers of up to {settings.max_new_tokens} tokens "
                f"after a {prompt_length}-token prompt; lower N, max new tokens or the prompt length."
            ) from None
        generated = sequences[:, prompt_length:]
        per_step = statistics.finish(generated)
        seconds = time.perf_counter() - started
        samples = _build_samples(lm, prepared.token_ids, generated.tolist(), per_step, eos_ids)
    return Run(
        prompt=prompt,
        chat=chat and lm.has_chat_template,
        model=lm.info,
        settings=settings,
        prompt_token_ids=prepared.token_ids,
        samples=samples,
        system_prompt=system_prompt if chat and lm.has_chat_template else None,
        sampling_seconds=round(seconds, 4),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def eos_token_ids(lm: LanguageModel) -> list[int]:
    configured = lm.model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    if lm.tokenizer.eos_token_id is not None:
        ids.append(lm.tokenizer.eos_token_id)
    return sorted({int(i) for i in ids if i is not None})


def generation_kwargs(lm: LanguageModel, settings: SamplingSettings, eos_ids: list[int]) -> dict:
    """Only the warpers the settings ask for: no processor may run before the statistics see raw logits."""
    from transformers import GenerationConfig

    greedy = settings.temperature == 0
    config = GenerationConfig(
        do_sample=not greedy,
        temperature=None if greedy else settings.temperature,
        top_p=None if greedy else settings.top_p,
        top_k=None if greedy else settings.top_k,
        max_new_tokens=settings.max_new_tokens,
        eos_token_id=eos_ids,
        pad_token_id=lm.tokenizer.pad_token_id,
        bos_token_id=lm.model.generation_config.bos_token_id,
        cache_implementation="static" if uses_static_cache(lm) else None,
    )
    return {"generation_config": config}


def uses_static_cache(lm: LanguageModel) -> bool:
    """A static KV cache on CUDA, where fixed shapes pay off; the dynamic cache elsewhere."""
    return str(lm.model.device).startswith("cuda")


class TokenStatistics:
    """A logits processor that reads each step's raw logits and keeps only small per-token statistics.

    It runs before any warper, so the numbers describe the model's own distribution. The chosen token of
    step t is only known at step t+1, so one step's log-softmax (N x V) is kept until then; nothing larger.
    """

    def __init__(self, top_k: int, total_steps: int, progress: ProgressCallback | None = None) -> None:
        self.top_k = top_k
        self.total_steps = total_steps
        self.progress = progress
        self._previous = None
        self._chosen, self._entropy, self._kl, self._top_values, self._top_ids = [], [], [], [], []
        self._renyi, self._fisher_rao = [], []

    def __call__(self, input_ids, scores):
        import torch

        logprobs = torch.log_softmax(scores.float(), dim=-1)
        if self._previous is not None:
            self._chosen.append(self._previous.gather(1, input_ids[:, -1:]).squeeze(1))
        probabilities = logprobs.exp()
        finite = torch.where(torch.isfinite(logprobs), logprobs, torch.zeros_like(logprobs))
        self._entropy.append(-(probabilities * finite).sum(-1))
        self._kl.append(-math.log(logprobs.shape[-1]) - logprobs.mean(-1))
        renyi, fisher_rao = distances_from_uniform(probabilities)
        self._renyi.append(renyi)
        self._fisher_rao.append(fisher_rao)
        top = logprobs.topk(self.top_k, dim=-1)
        self._top_values.append(top.values)
        self._top_ids.append(top.indices)
        self._previous = logprobs
        if self.progress is not None:
            self.progress(len(self._entropy), self.total_steps)
        return scores

    def finish(self, generated) -> dict[str, list]:
        """Gather the last chosen log-probs and move everything to the CPU once, as (N, steps) lists."""
        import torch

        steps = generated.shape[1]
        if steps == 0:
            empty = [[] for _ in range(generated.shape[0])]
            return {name: empty for name in ("logprobs", "entropies", "kl", "renyi", "fisher_rao", "top_values", "top_ids")}
        if len(self._chosen) < steps:
            self._chosen.append(self._previous.gather(1, generated[:, steps - 1 : steps]).squeeze(1))
        self._previous = None
        return {
            "logprobs": torch.stack(self._chosen[:steps], dim=1).cpu().tolist(),
            "entropies": torch.stack(self._entropy[:steps], dim=1).cpu().tolist(),
            "kl": torch.stack(self._kl[:steps], dim=1).cpu().tolist(),
            "renyi": torch.stack(self._renyi[:steps], dim=1).cpu().tolist(),
            "fisher_rao": torch.stack(self._fisher_rao[:steps], dim=1).cpu().tolist(),
            "top_values": torch.stack(self._top_values[:steps], dim=1).cpu().tolist(),
            "top_ids": torch.stack(self._top_ids[:steps], dim=1).cpu().tolist(),
        }


def distances_from_uniform(probabilities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row D_1/2(p̃ ‖ U_V) = −2 log BC and (2/π)·arccos BC, p̃ ∝ p^(1/2), BC = Σ p^(1/4) / √(V Σ p^(1/2)) (docs/methods.md §12.13)."""
    import torch

    root = probabilities.sqrt()
    half_mass = root.sum(-1)
    log_bc = root.sqrt_().sum(-1).log() - 0.5 * (half_mass.log() + math.log(probabilities.shape[-1]))
    return (-2 * log_bc).clamp(min=0), (2 / math.pi) * torch.acos(log_bc.exp().clamp(max=1))


def _build_samples(lm: LanguageModel, prompt_ids: list[int], generated: list[list[int]], per_step: dict, eos_ids: list[int]) -> list[Sample]:
    samples = []
    eos = set(eos_ids)
    for row, ids in enumerate(generated):
        length = next((i for i, token in enumerate(ids) if token in eos), None)
        finish_reason = "length" if length is None else "stop"
        length = len(ids) if length is None else length
        answer = ids[:length]
        top_ids = [alternatives[: TOP_ALTERNATIVES] for alternatives in per_step["top_ids"][row][:length]]
        tokens, top_tokens = token_texts(lm.tokenizer, prompt_ids, answer, top_ids)
        samples.append(
            Sample(
                text=lm.tokenizer.decode(answer, skip_special_tokens=True),
                token_ids=answer,
                tokens=tokens,
                logprobs=per_step["logprobs"][row][:length],
                entropies=per_step["entropies"][row][:length],
                finish_reason=finish_reason,
                kl_from_uniform=per_step["kl"][row][:length],
                renyi_from_uniform=per_step["renyi"][row][:length],
                fisher_rao_from_uniform=per_step["fisher_rao"][row][:length],
                top_token_ids=top_ids,
                top_tokens=top_tokens,
                top_logprobs=per_step["top_values"][row][:length],
                token_bytes=recorded_token_bytes(tokens, token_byte_pieces(lm.tokenizer, answer)),
            )
        )
    return samples


def token_texts(tokenizer, prompt_ids: list[int], answer_ids: list[int], alternatives: list[list[int]]) -> tuple[list[str], list[list[str]]]:
    """Each token's text as it reads in context, so leading spaces survive for BPE and SentencePiece alike."""
    sequence = list(prompt_ids[-DETOKENIZE_CONTEXT:]) + list(answer_ids)
    offset = len(sequence) - len(answer_ids)
    contexts = [sequence[max(0, offset + i - DETOKENIZE_CONTEXT) : offset + i] for i in range(len(answer_ids))]
    queries = [context + [token] for context, token in zip(contexts, answer_ids)]
    queries += [context + [alt] for context, alts in zip(contexts, alternatives) for alt in alts]
    decoded_contexts = tokenizer.batch_decode(contexts) if contexts else []
    decoded = tokenizer.batch_decode(queries) if queries else []
    tokens = [_new_text(decoded_contexts[i], decoded[i]) for i in range(len(answer_ids))]
    top_tokens, cursor = [], len(answer_ids)
    for i, alts in enumerate(alternatives):
        top_tokens.append([_new_text(decoded_contexts[i], text) for text in decoded[cursor : cursor + len(alts)]])
        cursor += len(alts)
    return tokens, top_tokens


def _new_text(before: str, after: str) -> str:
    common = 0
    for a, b in zip(before, after):
        if a != b:
            break
        common += 1
    return after[common:]
