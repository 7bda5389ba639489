"""CSL's attention, as a statistic: one batched pass of the run's model over every answer inside the authors'
attention-eliciting prompt (Lin, Trivedi & Sun EMNLP 2024; docs/methods.md §12.12)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.engine import csl
from uqviz.engine.attention import AttentionPassError
from uqviz.statistics.base import MissingInputError, RunStatistics, Statistic
from uqviz.statistics.probing import answer_token_ids


@dataclass(frozen=True)
class ElicitedAttention:
    """Per answer, (layers × heads × n) attention of the elicitation prompt's last token to each answer token."""

    attention: list[np.ndarray]


def csl_answers(stats: RunStatistics) -> list[list[int]]:
    """The answers' own token ids CSL reads the model's attention to; MissingInputError where a run lacks them."""
    return answer_token_ids(stats, "so CSL cannot read the model's attention to them")


def _elicited_attention(stats: RunStatistics) -> ElicitedAttention:
    answers = csl_answers(stats)
    model = stats.language_model
    try:
        return ElicitedAttention(csl.elicited_attention(model, stats.question, answers))
    except AttentionPassError as error:
        raise MissingInputError(str(error)) from None


ELICITED_ATTENTION = Statistic("csl_attention", _elicited_attention)
"""Every answer's attention from the elicitation's last token: batched teacher-forced passes of the run's model."""
