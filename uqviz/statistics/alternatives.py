"""Each answer token's top-k alternatives swapped into the text and judged by NLI against the original, for
claim-conditioned probability (Fadeeva et al. ACL 2024; docs/methods.md §12.5)."""

from __future__ import annotations

from dataclasses import dataclass

from uqviz.models.nli import argmax_labels
from uqviz.statistics.base import MissingInputError, RunStatistics, Statistic


@dataclass(frozen=True)
class TokenAlternatives:
    """One answer position: the sampled token first, then the other top-k tokens, each with its log-prob and the NLI
    labels of (original → swapped) and (swapped → original) text."""

    position: int
    tokens: list[str]
    logprobs: list[float]
    forward: list[str]
    backward: list[str]


def swapped_texts(question: str, tokens: list[str], position: int, alternatives: list[str]) -> tuple[str, list[str]]:
    """The question and answer up to `position` with the sampled token, and with each alternative in its place."""
    prefix = f"{question} {''.join(tokens[:position])}"
    return prefix + tokens[position], [prefix + alternative for alternative in alternatives]


def _alternatives(stats: RunStatistics, index: int) -> list[TokenAlternatives]:
    sample = stats.run.samples[index]
    if (sample.text and not sample.tokens) or (sample.tokens and not sample.top_tokens):
        raise MissingInputError("the run has no top-k alternatives per token (imported samples)")
    positions = []
    for position, (token, logprob) in enumerate(zip(sample.tokens, sample.logprobs)):
        top_ids = sample.top_token_ids[position] if sample.top_token_ids else [None] * len(sample.top_tokens[position])
        chosen = sample.token_ids[position] if sample.token_ids else None
        others = [
            (text, value)
            for token_id, text, value in zip(top_ids, sample.top_tokens[position], sample.top_logprobs[position])
            if (token_id != chosen if None not in (token_id, chosen) else text != token)
        ]
        positions.append((position, [token] + [text for text, _ in others], [logprob] + [value for _, value in others]))
    pairs = []
    for position, tokens, _ in positions:
        original, swapped = swapped_texts(stats.question, sample.tokens, position, tokens)
        pairs += [(original, text) for text in swapped] + [(text, original) for text in swapped]
    logits = stats.nli.pair_logits([a for a, _ in pairs], [b for _, b in pairs])
    labels = list(argmax_labels(logits)) if len(pairs) else []
    result, start = [], 0
    for position, tokens, logprobs in positions:
        count = len(tokens)
        result.append(TokenAlternatives(position, tokens, logprobs, labels[start : start + count], labels[start + count : start + 2 * count]))
        start += 2 * count
    return result


TOKEN_ALTERNATIVES = Statistic("token_alternatives_nli", _alternatives)
"""Per sample index: every answer token's alternatives and their NLI labels (2 × k NLI pairs per token, batched)."""
