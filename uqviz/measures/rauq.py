"""Single-pass attention measures read from UQAC's attention pass: RAUQ (Vazhentsev et al. 2025) and LLM-Check's
Attention Score (Sriramanan et al. NeurIPS 2024); docs/methods.md §12.10."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from uqviz.engine.attention import AttentionPass, AttentionPassError
from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import MissingInputError, RunStatistics
from uqviz.statistics.uqac import attention_of, replayable_choice

BASE_ALPHA = 0.2
INSTRUCT_ALPHA = 0.5
"""RAUQ's α: LM-Polygraph 0.7.0's defaults for base and instruction-tuned models (tuned by the authors, §12.10)."""
DIAGONAL_EPSILON = 1e-12
"""Added to A[t, t] before the log, as LM-Polygraph's AttentionScore does."""


def rauq_alpha(chat: bool) -> float:
    """α for a run: the instruction-tuned default when the prompt went through a chat template (docs/methods.md §12.10)."""
    return INSTRUCT_ALPHA if chat else BASE_ALPHA


def rauq_layers(layers: int) -> list[int]:
    """The middle third, ⌊L/3⌋ … ⌈2L/3⌉ inclusive, as LM-Polygraph 0.7.0 writes it, cut at L − 1 (docs/methods.md §12.10)."""
    return [layer for layer in range(layers // 3, int(math.ceil(layers / 3 * 2) + 1)) if layer < layers]


def kept_self_attention(attention: AttentionPass) -> np.ndarray:
    """(layers × heads × T) A[t, t] of every head, which a pass built by hand may lack."""
    if attention.self_attention is None:
        raise MissingInputError("this attention pass did not keep each head's attention of a position to itself")
    return attention.self_attention


def previous_token_attention(attention: AttentionPass) -> np.ndarray:
    """(layers × heads × n − 1): a[l, h, i − 1], what the step producing answer token i pays to token i − 1 (§12.10)."""
    start = attention.prompt_length
    return np.asarray(kept_self_attention(attention)[:, :, start : start + attention.answer_length - 1], dtype=np.float64)


def recurrent_confidence(probabilities: np.ndarray, attention: np.ndarray, alpha: float) -> np.ndarray:
    """c_1 = p_1, c_i = α p_i + (1 − α) a_{i−1} c_{i−1} (Vazhentsev et al. 2025; docs/methods.md §12.10)."""
    confidence = np.array(probabilities, dtype=np.float64)
    for index in range(1, len(confidence)):
        confidence[index] = alpha * probabilities[index] + (1.0 - alpha) * attention[index - 1] * confidence[index - 1]
    return confidence


@dataclass(frozen=True)
class RauqDetail:
    """RAUQ of one answer: each layer's head, per-token confidence and U; the heat map of mean previous-token attention."""

    tokens: list[str]
    probabilities: np.ndarray
    """(n,) p(y_i) of the answer tokens, from the attention pass's full softmax."""
    mean_previous: np.ndarray
    """(layers × heads) mean of a[l, h, ·] over the answer (zeros for a one-token answer)."""
    layers: list[int]
    heads: list[int]
    """The head picked in each of `layers`: argmax over heads of mean_previous[layer]."""
    confidences: np.ndarray
    """(len(layers) × n) c_l,i of each layer in `layers`."""
    layer_uncertainty: np.ndarray
    """(len(layers),) U_l = 1 − (1/n) Σ_i log c_l,i."""
    alpha: float

    @property
    def value(self) -> float:
        return float(np.max(self.layer_uncertainty))

    @property
    def selected(self) -> int:
        """Index into `layers` of the layer whose U is the answer's U (the first on ties)."""
        return int(np.argmax(self.layer_uncertainty))


def rauq(probabilities: np.ndarray, previous: np.ndarray, alpha: float, tokens: list[str]) -> RauqDetail:
    """U = max_l (1 − mean_i log c_l,i) over the middle third of layers, one head per layer (docs/methods.md §12.10)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    previous = np.asarray(previous, dtype=np.float64)
    if not len(probabilities):
        raise MissingInputError("the answer has no tokens, so RAUQ has nothing to score")
    means = previous.mean(axis=-1) if previous.shape[-1] else np.zeros(previous.shape[:2])
    layers = rauq_layers(previous.shape[0])
    heads = [int(np.argmax(means[layer])) for layer in layers]
    confidences = np.stack([recurrent_confidence(probabilities, previous[l, h], alpha) for l, h in zip(layers, heads)])
    with np.errstate(divide="ignore"):
        uncertainty = 1.0 - np.log(confidences).mean(axis=1)
    return RauqDetail(list(tokens), probabilities, means, layers, heads, confidences, uncertainty, alpha)


def rauq_of_pass(attention: AttentionPass, chat: bool) -> RauqDetail:
    """RAUQ of the answer of one attention pass, α chosen by the run's chat flag (docs/methods.md §12.10)."""
    return rauq(np.exp(attention.logprobs), previous_token_attention(attention), rauq_alpha(chat),
                attention.tokens[attention.prompt_length :])


@dataclass(frozen=True)
class AttentionScoreDetail:
    """LLM-Check's Attention Score of one layer: each head's log-determinant and each position's head-mean log A[t, t]."""

    layer: int
    head_log_determinants: np.ndarray
    """(heads,) Σ_t log(A_h[t, t] + ε) over prompt and answer."""
    position_log_diagonal: np.ndarray
    """(T,) mean over heads of log(A_h[t, t] + ε); its sum is −U."""
    prompt_length: int

    @property
    def value(self) -> float:
        return -float(np.mean(self.head_log_determinants))


def attention_score(self_attention: np.ndarray, prompt_length: int, layer: int | None = None) -> AttentionScoreDetail:
    """U = −(1/H) Σ_h Σ_t log(A_h[t, t] + ε) at layer ⌊L/2⌋ over prompt + answer (Sriramanan et al. 2024; §12.10)."""
    layer = self_attention.shape[0] // 2 if layer is None else layer
    logs = np.log(np.asarray(self_attention[layer], dtype=np.float64) + DIAGONAL_EPSILON)
    return AttentionScoreDetail(layer, logs.sum(axis=1), logs.mean(axis=0), prompt_length)


def analysed_pass(stats: RunStatistics, measure: str) -> AttentionPass:
    """The attention pass UQAC already runs (no further model call), or MissingInputError saying why there is none."""
    if not stats.has_language_model:
        raise MissingInputError(f"{measure} reads the attention of the run's own language model, and none is available "
                                "(a server's or pasted run, or one scored without its model)")
    try:
        replayable_choice(stats)  # before the model loads
        return attention_of(stats)
    except AttentionPassError as error:
        raise MissingInputError(f"the attention pass {measure} shares with UQAC cannot run: {error}") from error


def rauq_measure(stats: RunStatistics) -> MeasureResult:
    detail = rauq_of_pass(analysed_pass(stats, "RAUQ"), stats.run.chat)
    return MeasureResult(detail.value, None, detail)


def attention_score_measure(stats: RunStatistics) -> MeasureResult:
    attention = analysed_pass(stats, "Attention Score")
    detail = attention_score(kept_self_attention(attention), attention.prompt_length)
    return MeasureResult(detail.value, None, detail)


MEASURES = (
    Measure(
        "rauq", "RAUQ (recurrent attention)",
        rauq_measure,
        "U = max_{l ∈ middle third} (1 − (1/n) Σ_i log c_l,i),  c_l,i = α p(y_i) + (1 − α) a_l,h_l(i, i−1) c_l,i−1,  "
        "h_l = argmax_h mean_i a_l,h(i, i−1)",
        "the answer's tokens are unlikely, or the heads that follow the previous token let go of it",
        "Vazhentsev et al. 2025 (RAUQ); docs/methods.md §12.10",
        needs=("language model", "attentions"),
    ),
    Measure(
        "attention_score", "Attention Score (LLM-Check)",
        attention_score_measure,
        "U = −(1/H) Σ_h Σ_t log A_h[t, t] at layer ⌊L/2⌋ over prompt + answer",
        "the tokens attend less to themselves in the middle layer (a smaller log-determinant of its attention maps)",
        "Sriramanan et al. NeurIPS 2024 (LLM-Check); docs/methods.md §12.10",
        needs=("language model", "attentions"),
    ),
)
