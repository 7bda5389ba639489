"""CSL's attention, as a statistic: one batched pass of the run's model over every answer inside the authors'
attention-eliciting prompt (Lin, Trivedi & Sun EMNLP 2024; docs/methods.md §12.12)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.engine import csl
from uqviz.engine.attention import AttentionPassError
from uqviz.statistics.base import MissingInputError, RunStatistics, Statistic


@dataclass(frozen=True)
class ElicitedAttention:
    """Per answer, (layers × heads × n) attention of the elicitation prompt's last token to each answer token."""

    attention: list[np.ndarray]


def require_token_ids(stats: RunStatistics) -> None:
    """CSL re-reads the answers' own tokens: pasted answers, and server answers without ids, cannot be replayed."""
    if any(sample.text and not sample.token_ids for sample in stats.run.samples):
        raise MissingInputError("the run has answers without the model's token ids (pasted, or from a server that gives none), "
                                "so CSL cannot read the model's attention to them")


def _elicited_attention(stats: RunStatistics) -> ElicitedAttention:
    require_token_ids(stats)
    model = stats.language_model
    answers = [sample.token_ids or [] for sample in stats.run.samples]
    try:
        return ElicitedAttention(csl.elicited_attention(model, stats.question, answers))
    except AttentionPassError as error:
        raise MissingInputError(str(error)) from None


ELICITED_ATTENTION = Statistic("csl_attention", _elicited_attention)
"""Every answer's attention from the elicitation's last token: batched teacher-forced passes of the run's model."""
