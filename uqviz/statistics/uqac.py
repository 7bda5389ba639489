"""The model calls UQAC needs, as statistics: the greedy answer, one attention pass per answer, and the batched
expansion pass per chain (Li, Qiang, Moukheiber, Zhang 2025; docs/methods.md §5.1, §5.5)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.engine import attention
from uqviz.engine.attention import HEAD_CHOICES, AttentionPass, AttentionPassError
from uqviz.engine.sampling import sample
from uqviz.format.run import Run, Sample, SamplingSettings
from uqviz.models.loading import LanguageModel
from uqviz.statistics.base import RunStatistics, ScoreConfig, Statistic

GREEDY = "greedy"


def greedy_answer(lm: LanguageModel, run: Run) -> tuple[list[int], Sample]:
    """The run's prompt answered at temperature 0 (one generate call), the paper's subject (§5.1)."""
    settings = SamplingSettings(n=1, temperature=0.0, max_new_tokens=run.settings.max_new_tokens, seed=run.settings.seed)
    greedy = sample(lm, run.prompt, settings, chat=run.chat, system_prompt=run.system_prompt)
    return greedy.prompt_token_ids, greedy.samples[0]


GREEDY_ANSWER = Statistic("uqac_greedy_answer", lambda stats: greedy_answer(stats.language_model, stats.run))
"""Prompt ids and the greedy answer of the run's prompt under the run's settings."""


def resolve_choice(stats: RunStatistics, choice: int | str | None) -> int | str:
    """GREEDY, or a sample index: the given one, else ScoreConfig.uqac_sample, else the first sample."""
    index = stats.config.uqac_sample if choice is None else choice
    if index == GREEDY:
        return GREEDY
    index = 0 if index is None else int(index)
    if not 0 <= index < len(stats.run.samples):
        raise AttentionPassError(f"Sample {index} does not exist; the run has samples 0…{len(stats.run.samples) - 1}.")
    return index


def replayable_choice(stats: RunStatistics, choice: int | str | None = None) -> int | str:
    """The answer UQAC analyses (a sample index, or GREEDY), checked, without loading any model, to be one the run's model
    can read again: a sample needs its own token ids and the prompt's."""
    choice = resolve_choice(stats, choice)
    if choice == GREEDY:
        return choice
    answer = stats.run.samples[choice]
    if answer.text and not answer.token_ids:
        raise AttentionPassError(f"Sample {choice} has text but not the model's token ids (pasted, or from a server that gives none); UQAC needs the model's tokens.")
    if stats.run.prompt_token_ids is None:
        raise AttentionPassError("The run does not hold the prompt's token ids (a server renders and tokenizes the prompt itself); UQAC needs them.")
    return choice


def subject(stats: RunStatistics, choice: int | str | None = None) -> tuple[list[int], Sample]:
    """Prompt ids and the answer UQAC analyses (a sample, or the greedy answer)."""
    choice = replayable_choice(stats, choice)
    if choice == GREEDY:
        return GREEDY_ANSWER(stats)
    return stats.run.prompt_token_ids, stats.run.samples[choice]


def use_greedy_answer(stats: RunStatistics, prompt_token_ids: list[int], answer: Sample) -> None:
    """Give UQAC a greedy answer already generated with the run's settings (batch grades it), so it is not generated again."""
    stats.provide(GREEDY_ANSWER, (list(prompt_token_ids), answer))


def head_counts(config: ScoreConfig) -> tuple[int, ...]:
    return tuple(sorted({*HEAD_CHOICES, config.uqac_heads}))


def _attention_pass(stats: RunStatistics, choice: int | str, counts: tuple[int, ...]) -> AttentionPass:
    prompt_ids, answer = subject(stats, choice)
    return attention.attention_pass(stats.language_model, prompt_ids, answer.token_ids, counts)


ATTENTION_PASS = Statistic("uqac_attention", _attention_pass)
"""One teacher-forced pass per answer (and unusual head count), keyed by (choice, head counts)."""


def attention_of(stats: RunStatistics, choice: int | str | None = None, config: ScoreConfig | None = None) -> AttentionPass:
    """The attention pass of the chosen answer: one forward pass per answer (and unusual head count)."""
    return ATTENTION_PASS(stats, resolve_choice(stats, choice), head_counts(config or stats.config))


@dataclass(frozen=True)
class ScoredExpansions:
    """(expansions × rows) token log-probs of one batched pass, and the seconds it took."""

    logprobs: np.ndarray
    seconds: float


def _expansion_logprobs(stats: RunStatistics, sequences: Sequence[Sequence[int]], rows: Sequence[int]) -> ScoredExpansions:
    started = time.perf_counter()
    logprobs = attention.token_logprobs(stats.language_model, sequences, rows)
    return ScoredExpansions(logprobs, time.perf_counter() - started)


EXPANSION_LOGPROBS = Statistic("uqac_expansions", _expansion_logprobs)
"""Log-probs at `rows` of every expansion sequence, keyed by (sequences, rows): one batched pass per distinct chain."""
