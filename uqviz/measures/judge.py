"""The model as its own judge: UQLM's LLM-as-a-judge scorers, categorical (Correct / Incorrect / I am not sure) and
continuous (0–100), with the replies parsed as UQLM 0.6.7 parses them (Bouchard & Chauhan 2025; docs/methods.md §12.15)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.probing import JUDGE_REPLIES, JudgeReplies

# UQLM's KEYWORDS_TO_SCORES_DICT, searched in this order: "incorrect" is found before "correct" can match inside it
CATEGORICAL_KEYWORDS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (0.0, ("incorrect", "not correct", "not right", "wrong")),
    (0.5, ("not sure", "not certain", "unsure", "uncertain")),
    (1.0, ("correct", "right")),
)
CATEGORICAL = "categorical"
CONTINUOUS = "continuous"


@dataclass(frozen=True)
class JudgedReply:
    """One reply: the judge's score J (1 = correct), what in the reply gave it, or why none could be read."""

    reply: str
    score: float | None
    read: str | None = None
    reason: str | None = None


def read_categorical(reply: str) -> JudgedReply:
    """J = the score of the first keyword group found in the lower-cased reply: 0 (incorrect, wrong …), 0.5 (not sure …),
    1 (correct, right), as UQLM's `true_false_uncertain` template is read (docs/methods.md §12.15)."""
    lowered = reply.lower()
    for score, keywords in CATEGORICAL_KEYWORDS:
        found = next((keyword for keyword in keywords if keyword in lowered), None)
        if found is not None:
            return JudgedReply(reply, score, found)
    return JudgedReply(reply, None, reason="the reply says none of Correct, Incorrect or I am not sure")


def read_continuous(reply: str) -> JudgedReply:
    """J = (every digit of the reply, concatenated) / 100 when that lies in 0–100, as UQLM's `continuous` template is
    read: "Score: 85" gives 0.85, and so does "0.85"; "85 out of 100" gives 85100, refused (docs/methods.md §12.15)."""
    digits = "".join(character for character in reply if character.isdigit())
    if not digits:
        return JudgedReply(reply, None, reason="the reply has no digits")
    try:
        value = float(digits)
    except ValueError:  # digits that are not decimal ones, such as "²"
        return JudgedReply(reply, None, digits, f"the digits {digits!r} are not a decimal number")
    if not 0 <= value <= 100:
        return JudgedReply(reply, None, digits, f"its digits read {digits}, outside 0–100")
    return JudgedReply(reply, value / 100, digits)


READERS = {CATEGORICAL: read_categorical, CONTINUOUS: read_continuous}


@dataclass(frozen=True)
class JudgeDetail:
    """The template kind, the judging model, each answer's filled-in prompt and its judged reply."""

    template: str
    judge: str
    prompts: list[str]
    judged: list[JudgedReply]


def judge_uncertainty(replies: JudgeReplies, template: str) -> MeasureResult:
    """U_k = 1 − J_k per answer, U = 1 − mean J over the answers whose reply could be read (UQLM's LLMJudge;
    docs/methods.md §12.15)."""
    judged = [READERS[template](reply) for reply in replies.replies]
    detail = JudgeDetail(template, replies.judge, replies.prompts, judged)
    per_sample = [math.nan if item.score is None else 1.0 - item.score for item in judged]
    read = [item.score for item in judged if item.score is not None]
    if not read:
        reasons = sorted({item.reason for item in judged if item.reason})
        return MeasureResult(None, per_sample, detail, reason=f"no judge reply could be read ({'; '.join(reasons)})")
    return MeasureResult(1.0 - float(np.mean(read)), per_sample, detail)


def _judged(stats: RunStatistics, template: str) -> MeasureResult:
    config = stats.config
    prompt = config.judge_categorical_prompt if template == CATEGORICAL else config.judge_continuous_prompt
    return judge_uncertainty(JUDGE_REPLIES(stats, prompt, config.judge_max_new_tokens), template)


MEASURES = (
    Measure(
        "judge_categorical", "LLM judge (categorical)",
        lambda stats: _judged(stats, CATEGORICAL),
        "U = 1 − mean_k J_k,  J_k = 1 / 0.5 / 0 as the model calls answer k Correct / I am not sure / Incorrect",
        "the model, asked to judge its answers, calls more of them incorrect or says it is unsure",
        "UQLM LLMJudge, Bouchard & Chauhan 2025; Chen & Mueller 2023; docs/methods.md §12.15",
        cost="one short greedy reply per distinct answer",
        needs=("language model",),
        on_demand=True,
    ),
    Measure(
        "judge_continuous", "LLM judge (continuous)",
        lambda stats: _judged(stats, CONTINUOUS),
        "U = 1 − mean_k J_k,  J_k = the model's 0–100 score of answer k, divided by 100",
        "the model, asked to score its answers, gives them lower scores",
        "UQLM LLMJudge, Bouchard & Chauhan 2025; docs/methods.md §12.15",
        cost="one short greedy reply per distinct answer",
        needs=("language model",),
        on_demand=True,
    ),
)
