"""SAR's relevance statistics: how much each token and each other answer carries an answer's meaning (Duan et al. ACL 2024; docs/methods.md §4)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from uqviz.models.loading import ModelLoadError
from uqviz.models.similarity import FLOAT32, SimilarityBackend
from uqviz.statistics.base import MissingInputError, RunStatistics, Statistic

REPLACEMENT_CHARACTER = "\ufffd"


def compared_text(question: str, answer: str) -> str:
    """q ⊕ s as compared by the similarity model: `question + " " + answer` (§4.2, recommended choice)."""
    return f"{question} {answer}"


def removal_variants(
    tokens: Sequence[str],
    exact_bytes: Sequence[bytes] | None = None,
    token_ids: Sequence[int] | None = None,
    decode: Callable[[list[int]], str] | None = None,
) -> list[str]:
    """The answer without token i, for every position i: position-exact, unlike SAR's global `str.replace` (§4.2).

    The tokens are the run's in-context decodings of the ids, so joining all but position i equals decoding the
    remaining ids, except where a byte token splits a UTF-8 character: its text is U+FFFD and the join would keep that
    character. Such answers join the tokens' exact bytes when the run records them (decoded as the tokenizer decodes,
    an invalid sequence becoming U+FFFD), else decode the remaining ids with `decode` when one is given. A one-token
    answer's only variant is the empty answer, so its g compares q ⊕ s with the question alone; its weight R̃ is 1.
    """
    if exact_bytes is not None:
        return [
            (b"".join(exact_bytes[:index]) + b"".join(exact_bytes[index + 1 :])).decode("utf-8", errors="replace")
            for index in range(len(exact_bytes))
        ]
    if decode is not None and token_ids and has_split_characters(tokens):
        ids = list(token_ids)
        return [decode(ids[:index] + ids[index + 1 :]) for index in range(len(ids))]
    return ["".join(tokens[:index]) + "".join(tokens[index + 1 :]) for index in range(len(tokens))]


def has_split_characters(tokens: Sequence[str]) -> bool:
    """Whether some token's text is U+FFFD for a byte that is part of a character split across tokens."""
    return any(REPLACEMENT_CHARACTER in token for token in tokens)


@dataclass(frozen=True)
class TokenRelevance:
    """Per sample and token: g_i = sim(q ⊕ s, q ⊕ s without z_i) and the relevance R_i = 1 − g_i before normalisation."""

    similarity: list[list[float]]
    relevance: list[list[float]]
    precision: str = FLOAT32


def compute_token_relevance(
    question: str,
    sample_variants: Sequence[Sequence[str]],
    answers: Sequence[str],
    backend: SimilarityBackend,
    precision: str = FLOAT32,
) -> TokenRelevance:
    """Token relevance of every token of every sample from ONE batched pair_scores call over all removal variants (§4.2, §4.6)."""
    full_texts: list[str] = []
    variant_texts: list[str] = []
    lengths: list[int] = []
    for variants, answer in zip(sample_variants, answers):
        full_texts += [compared_text(question, answer)] * len(variants)
        variant_texts += [compared_text(question, variant) for variant in variants]
        lengths.append(len(variants))
    scores = backend.pair_scores(full_texts, variant_texts, precision)
    bounds = np.cumsum([0, *lengths])
    similarity = [[float(g) for g in scores[start:end]] for start, end in zip(bounds[:-1], bounds[1:])]
    return TokenRelevance(similarity, [[1.0 - g for g in row] for row in similarity], precision)


def sentence_similarity_matrix(question: str, answers: Sequence[str], backend: SimilarityBackend) -> np.ndarray:
    """g_jk = sim(q ⊕ s_j, q ⊕ s_k), each unordered pair scored once and mirrored; the unused diagonal is 1 (§4.3)."""
    texts = [compared_text(question, answer) for answer in answers]
    pairs = list(combinations(range(len(texts)), 2))
    scores = backend.pair_scores([texts[j] for j, _ in pairs], [texts[k] for _, k in pairs])
    matrix = np.eye(len(texts))
    for (j, k), score in zip(pairs, scores):
        matrix[j, k] = matrix[k, j] = score
    return matrix


def answer_variants(stats: RunStatistics) -> list[list[str]]:
    """Every sample's removal variants. Answers with split UTF-8 characters use the bytes the run records; runs written
    before bytes were recorded are decoded by the run's tokenizer when the statistics have the run's language model
    (loaded here if needed), so the values never depend on what ran first; otherwise the texts are joined (§4.2)."""
    decode = None
    unrecorded = [sample for sample in stats.run.samples if not sample.token_bytes and has_split_characters(sample.tokens)]
    if unrecorded and stats.has_language_model:
        try:
            tokenizer = stats.language_model.tokenizer
            decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
        except (MissingInputError, ModelLoadError):
            decode = None
    return [removal_variants(sample.tokens, sample.exact_token_bytes(), sample.token_ids, decode) for sample in stats.run.samples]


EMBEDDED_CHARACTERS = 1_024  # about the 256 word pieces a MiniLM embedder reads of one text


def relevance_cost(question: str, samples: Sequence) -> int:
    """Characters token relevance embeds: per answer token, one variant of q ⊕ s, read up to the embedder's window."""
    return sum(len(sample.tokens) * min(len(question) + 1 + len(sample.text), EMBEDDED_CHARACTERS) for sample in samples)


def _token_relevance(stats: RunStatistics) -> TokenRelevance:
    budget, cost = stats.config.relevance_budget, relevance_cost(stats.question, stats.run.samples)
    if budget is not None and cost > budget:
        raise MissingInputError(
            f"token relevance would embed {sum(len(s.tokens) for s in stats.run.samples):,} removal variants ({cost:,} "
            f"characters), more than the {budget:,} allowed (about 20 s on a 2-core CPU); compute it on the Token "
            "relevance page or with --relevance-budget 0 (uqviz score, batch)"
        )
    return compute_token_relevance(stats.question, answer_variants(stats), stats.answers, stats.similarity, stats.relevance_precision)


TOKEN_RELEVANCE = Statistic("token_relevance", _token_relevance)
"""The run's token relevance, shared by TokenSAR, SAR and the SAR view; refused, with the reason, beyond the config's
budget of embedded characters (docs/methods.md §4.6)."""

SENTENCE_SIMILARITY = Statistic(
    "sar_sentence_similarity", lambda stats: sentence_similarity_matrix(stats.question, stats.answers, stats.similarity)
)
"""The K × K g_jk of a run; with the bi-encoder it reuses the q ⊕ s embeddings of token relevance."""


def computed_token_relevance(stats: RunStatistics) -> TokenRelevance | None:
    """The token relevance if this RunStatistics has computed it (scores.json `token_relevance`), else None."""
    return stats.cached(TOKEN_RELEVANCE)
