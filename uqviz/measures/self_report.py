"""The model judging its own answers: P(True) from one extra forward pass, and verbalized confidence in one or two
stages (Kadavath et al. 2022; Tian et al. EMNLP 2023; docs/methods.md §12.6, §12.7)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.probing import ONE_STAGE, P_TRUE, TWO_STAGE, VERBALIZED_REPLIES, PTrueProbe, VerbalizedReplies

NUMBER = r"(\d+(?:\.\d*)?|\.\d+)\s*(%?)"
LABELLED = re.compile(r"(?:probability|confidence)\s*(?:is|of|:|=)?\s*" + NUMBER, re.IGNORECASE)
ANY_NUMBER = re.compile(NUMBER)


@dataclass(frozen=True)
class PTrueDetail:
    """The prompt each answer was judged with, the token read, and p(token) per answer."""

    prompts: list[str]
    token: str
    probabilities: list[float]


def p_true(probe: PTrueProbe) -> MeasureResult:
    """U_k = -log p("True" | P(True) prompt with answer k), averaged over answers (Kadavath et al. 2022; docs/methods.md §12.6)."""
    per_sample = [-value for value in probe.logprobs]
    detail = PTrueDetail(probe.prompts, probe.token, [math.exp(value) for value in probe.logprobs])
    return MeasureResult(float(np.mean(per_sample)), per_sample, detail)


@dataclass(frozen=True)
class StatedConfidence:
    """One reply: the confidence read from it (0–1), or why none could be."""

    reply: str
    confidence: float | None
    reason: str | None = None


def parse_confidence(reply: str) -> StatedConfidence:
    """The number after "Probability:"/"Confidence:", else the first number; "85%" and 85 read as 0.85, values above 100
    are refused (docs/methods.md §12.7)."""
    match = LABELLED.search(reply) or ANY_NUMBER.search(reply)
    if match is None:
        return StatedConfidence(reply, None, "the reply states no number")
    value, percent = float(match.group(1)), match.group(2)
    if percent or value > 1:
        value /= 100
    if not 0 <= value <= 1:
        return StatedConfidence(reply, None, f"the stated number {match.group(0).strip()!r} is not a probability")
    return StatedConfidence(reply, value)


@dataclass(frozen=True)
class VerbalizedDetail:
    """The question(s) asked, every reply and what was read from it."""

    prompts: list[str]
    stated: list[StatedConfidence]


def verbalized_confidence(replies: VerbalizedReplies) -> MeasureResult:
    """U = 1 - mean stated confidence over the replies that state one; per reply where there is one per answer
    (Tian et al. EMNLP 2023; docs/methods.md §12.7)."""
    stated = [parse_confidence(reply) for reply in replies.replies]
    detail = VerbalizedDetail(replies.prompts, stated)
    read = [item.confidence for item in stated if item.confidence is not None]
    per_sample = [math.nan if item.confidence is None else 1.0 - item.confidence for item in stated] if len(stated) > 1 else None
    if not read:
        reasons = sorted({item.reason for item in stated if item.reason})
        return MeasureResult(None, per_sample, detail, reason=f"no reply could be read as a confidence ({'; '.join(reasons)})")
    return MeasureResult(1.0 - float(np.mean(read)), per_sample, detail)


def _verbalized(stats: RunStatistics, stage: str) -> MeasureResult:
    config = stats.config
    template = config.verbalized_one_stage_prompt if stage == ONE_STAGE else config.verbalized_two_stage_prompt
    return verbalized_confidence(VERBALIZED_REPLIES(stats, stage, template, config.verbalized_max_new_tokens))


MEASURES = (
    Measure(
        "p_true", "P(True)",
        lambda stats: p_true(P_TRUE(stats, stats.config.p_true_prompt)),
        "U = -(1/K) Σ_k log p(True | \"Question … Possible answer: a_k … The possible answer is:\")",
        "the model itself finds its answers less likely to be true",
        "Kadavath et al. 2022; docs/methods.md §12.6",
        cost="one forward pass per answer through the P(True) prompt",
        needs=("language model",),
        on_demand=True,
    ),
    Measure(
        "verbalized_one_stage", "Verbalized confidence (1-stage)",
        lambda stats: _verbalized(stats, ONE_STAGE),
        "U = 1 - the probability the model states with its own guess, one greedy reply",
        "the model says it is less sure",
        "Tian et al. EMNLP 2023; docs/methods.md §12.7",
        cost="one short greedy reply",
        needs=("language model",),
        on_demand=True,
    ),
    Measure(
        "verbalized_two_stage", "Verbalized confidence (2-stage)",
        lambda stats: _verbalized(stats, TWO_STAGE),
        "U = 1 - mean_k (the probability the model states when asked about answer a_k)",
        "the model says it is less sure of its answers",
        "Tian et al. EMNLP 2023; docs/methods.md §12.7",
        cost="one short greedy reply per answer",
        needs=("language model",),
        on_demand=True,
    ),
)
