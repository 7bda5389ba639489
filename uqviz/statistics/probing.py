"""The run's language model asked again about its answers: middle-layer hidden states (EigenScore), P(True),
verbalized confidence replies and the answers' log-probs without the prompt (docs/methods.md §2.4, §12.6, §12.7, §12.11)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from uqviz.engine import probing
from uqviz.engine.sampling import SamplingError
from uqviz.statistics.base import MissingInputError, RunStatistics, Statistic


@contextmanager
def probe_reasons() -> Iterator[None]:
    """A pass the run cannot take (too long, no decoder layers) becomes the measure's reason."""
    try:
        yield
    except probing.ProbeError as error:
        raise MissingInputError(str(error)) from None


def filled(template: str, **fields: str) -> str:
    """The template with each literal {name} replaced in one pass, so a field's value is never read as a placeholder;
    nothing else in it is interpreted (no format specs)."""
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in fields))
    return pattern.sub(lambda match: fields[match.group(0)[1:-1]], template) if fields else template


def answer_token_ids(stats: RunStatistics, consequence: str = "") -> list[list[int]]:
    """Every answer's own token ids; answers without them (pasted, or from a server that gives none) cannot be read
    again by the model, and the error says so, followed by `consequence`."""
    if any(sample.text and not sample.token_ids for sample in stats.run.samples):
        raise MissingInputError("the run has answers without the model's token ids (pasted, or from a server that gives none)"
                                + (f", {consequence}" if consequence else ""))
    return [list(sample.token_ids or []) for sample in stats.run.samples]


def answer_sequences(stats: RunStatistics) -> list[list[int]]:
    """prompt ids + answer ids of every sample; imported answers without the model's tokens cannot be replayed."""
    run = stats.run
    if not run.prompt_token_ids:
        raise MissingInputError("the run has no prompt token ids (pasted, or sampled by a server that renders the prompt itself), "
                                "so its answers cannot be replayed through the model")
    return [list(run.prompt_token_ids) + answer for answer in answer_token_ids(stats)]


PRODUCING_STEP = "producing_step"
LAST_TOKEN = "last_token"
EIGENSCORE_POSITIONS = (PRODUCING_STEP, LAST_TOKEN)


@dataclass(frozen=True)
class HiddenStates:
    """K × d hidden states at each answer's `position`, and the hidden_states index they come from."""

    states: np.ndarray
    layer: int
    position: str


def read_positions(stats: RunStatistics, position: str) -> list[list[int]]:
    """prompt + answer ids cut after the position read: the last answer token, or under `producing_step` the one before
    it, whose pass produced that token; an empty answer is read on the last prompt token (docs/methods.md §2.4)."""
    if position not in EIGENSCORE_POSITIONS:
        raise ValueError(f"unknown EigenScore position {position!r}; expected one of {', '.join(EIGENSCORE_POSITIONS)}")
    sequences = answer_sequences(stats)
    if position == LAST_TOKEN:
        return sequences
    return [sequence[:-1] if sample.token_ids else sequence for sequence, sample in zip(sequences, stats.run.samples)]


def _hidden_states(stats: RunStatistics) -> HiddenStates:
    position = stats.config.eigenscore_position
    sequences = read_positions(stats, position)
    model = stats.language_model
    with probe_reasons():
        layer = probing.middle_layer(model.model) if stats.config.eigenscore_layer is None else stats.config.eigenscore_layer
        states = probing.last_token_states(model, sequences, layer)
    return HiddenStates(states, layer, position)


ANSWER_HIDDEN_STATES = Statistic("answer_hidden_states", _hidden_states)
"""One batched teacher-forced pass of prompt + answer per sample (to the position read), keeping K × d states of one layer."""


@dataclass(frozen=True)
class PTrueProbe:
    """The filled-in prompts, the token whose probability is read, and log p(that token) after each."""

    prompts: list[str]
    token: str
    logprobs: list[float]


def true_token(stats: RunStatistics) -> tuple[int, str]:
    """The token the model writes for "True" where the prompt ends: "True" opening an assistant turn, " True" after text."""
    model = stats.language_model
    text = "True" if stats.run.chat and model.has_chat_template else " True"
    return model.tokenizer(text, add_special_tokens=False)["input_ids"][0], text


def _p_true(stats: RunStatistics, template: str) -> PTrueProbe:
    answer_sequences(stats)  # the same replay conditions as the other probes
    model = stats.language_model
    prompts = [filled(template, question=stats.question, answer=answer) for answer in stats.answers]
    token_id, token = true_token(stats)
    conversations = [probing.conversation_ids(model, [("user", prompt)], stats.run.chat, stats.run.system_prompt) for prompt in prompts]
    with probe_reasons():
        logprobs = probing.next_token_logprobs(model, conversations, token_id)
    return PTrueProbe(prompts, token, logprobs.tolist())


P_TRUE = Statistic("p_true", _p_true)
"""One forward pass per answer (batched) of the P(True) prompt, keyed by the template."""


@dataclass(frozen=True)
class VerbalizedReplies:
    """What the model was asked and what it replied, one entry per question asked."""

    prompts: list[str]
    replies: list[str]


ONE_STAGE = "one_stage"
TWO_STAGE = "two_stage"


def _verbalized(stats: RunStatistics, stage: str, template: str, max_new_tokens: int) -> VerbalizedReplies:
    run, model = stats.run, stats.language_model
    if stage == ONE_STAGE:
        prompts = [filled(template, question=stats.question)]
        turns = [[("user", prompts[0])]]
    else:
        prompts = [template] * len(stats.answers)
        turns = [[("user", stats.question), ("assistant", answer), ("user", template)] for answer in stats.answers]
    conversations = [probing.conversation_ids(model, conversation, run.chat, run.system_prompt) for conversation in turns]
    with probe_reasons():
        replies = probing.greedy_replies(model, conversations, max_new_tokens)
    return VerbalizedReplies(prompts, replies)


VERBALIZED_REPLIES = Statistic("verbalized_replies", _verbalized)
"""Greedy replies to the verbalized-confidence prompt: one for the one-stage question, one per answer for two-stage."""


@dataclass(frozen=True)
class JudgeReplies:
    """Per answer: the filled-in judge prompt, the judging model's greedy reply, and that model's name."""

    prompts: list[str]
    replies: list[str]
    judge: str


def asked_once(stats: RunStatistics, prompts: list[str], max_new_tokens: int, failure: str) -> dict[str, str]:
    """The reply model's greedy reply to each distinct prompt, sent as one user turn through its chat template where it
    has one; a pass the run cannot take, or a server that fails or refuses, is MissingInputError(failure: why)."""
    distinct = list(dict.fromkeys(prompts))
    model = stats.reply_model
    with probe_reasons():
        try:
            replies = probing.replies_to(model, [[("user", prompt)] for prompt in distinct], True, None, max_new_tokens)
        except SamplingError as error:  # engine/server.py
            raise MissingInputError(f"{failure}: {error}") from None
    return dict(zip(distinct, replies))


def _judge_replies(stats: RunStatistics, template: str, max_new_tokens: int) -> JudgeReplies:
    prompts = [filled(template, question=stats.question, answer=answer) for answer in stats.answers]
    read = asked_once(stats, prompts, max_new_tokens, "the judging model did not reply")  # a repeated answer is judged once
    return JudgeReplies(prompts, [read[prompt] for prompt in prompts], stats.reply_model.info.name)


JUDGE_REPLIES = Statistic("judge_replies", _judge_replies)
"""The run's model (local or a server) as a judge of each distinct answer: one greedy reply to the filled-in prompt,
as the user's turn of its chat template where it has one, keyed by the template (UQLM's LLMJudge; docs/methods.md §12.15)."""


@dataclass(frozen=True)
class UnconditionalLogprobs:
    """Per answer, log p(y_t | y_<t) of each token read without the prompt (NaN on the first, which gets no unconditional
    term), the special tokens put before the answer, and how many distinct answers were run (docs/methods.md §12.11)."""

    logprobs: list[np.ndarray]
    prefix: list[int]
    passes: int


def answer_prefix(stats: RunStatistics) -> list[int]:
    """What the tokenizer puts before any text: [BOS] where it adds one (Llama, Gemma, Mistral), else nothing (Qwen, SmolLM2)."""
    tokenizer = stats.language_model.tokenizer
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and tokenizer("")["input_ids"][:1] == [bos] else []


def _unconditional(stats: RunStatistics) -> UnconditionalLogprobs:
    answer_sequences(stats)  # the same replay conditions as the other probes
    prefix = answer_prefix(stats)
    answers = [tuple(sample.token_ids or ()) for sample in stats.run.samples]
    distinct = list(dict.fromkeys(answer for answer in answers if len(answer) >= 2))  # one token has nothing to condition on
    with probe_reasons():
        values = probing.token_logprobs(stats.language_model, [prefix + list(answer) for answer in distinct], len(prefix) + 1)
    read = dict(zip(distinct, values))
    logprobs = [np.concatenate(([np.nan], read.get(answer, np.empty(0))))[: len(answer)] for answer in answers]
    return UnconditionalLogprobs(logprobs, prefix, len(distinct))


UNCONDITIONAL_LOGPROBS = Statistic("unconditional_logprobs", _unconditional)
"""One batched teacher-forced pass per distinct answer of its tokens alone (after the tokenizer's BOS, no prompt, no chat
template): log p(y_t | y_<t) for t ≥ 2, LM-Polygraph's greedy_lm_log_likelihoods, correctly aligned (docs/methods.md §12.11)."""
