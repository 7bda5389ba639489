"""Lexical similarity: mean pairwise ROUGE-L F between the answers, U = -mean (lm-polygraph; docs/methods.md §2.1)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations, islice

import numpy as np
from nltk.stem.porter import PorterStemmer
from rouge_score.scoring import Score, fmeasure

from uqviz.measures.base import Measure, MeasureResult

WORDS = "words"
WHITESPACE = "whitespace"
# ROUGE-L compares the first MAX_ROUGE_WORDS words of each text: at most that many steps per pair (docs/methods.md §2.1)
MAX_ROUGE_WORDS = 1_000
WORD = re.compile(r"[^\W_]+")
NON_SPACE = re.compile(r"\S+")


class WordTokenizer:
    """rouge-score's default tokenisation (lower case, alphanumeric runs, Porter stem of words longer than 3) for every script.

    rouge-score's own tokenizer keeps only [a-z0-9], so two identical answers in another script would score 0. Lexical
    similarity and batch grading both use this one (docs/methods.md §2.1, §0.3).
    """

    def __init__(self, use_stemmer: bool) -> None:
        self._stemmer = PorterStemmer() if use_stemmer else None

    def words(self, text: str) -> Iterator[str]:
        return (match.group() for match in WORD.finditer(text.lower()))

    def stem(self, word: str) -> str:
        return self._stemmer.stem(word) if self._stemmer is not None and len(word) > 3 else word


class WhitespaceTokenizer:
    """Whitespace-separated tokens, unchanged (the worked example of §2.1)."""

    def words(self, text: str) -> Iterator[str]:
        return (match.group() for match in NON_SPACE.finditer(text))

    def stem(self, word: str) -> str:
        return word


def tokenizer_for(tokenization: str, use_stemmer: bool) -> WordTokenizer | WhitespaceTokenizer:
    if tokenization == WORDS:
        return WordTokenizer(use_stemmer)
    if tokenization == WHITESPACE:
        return WhitespaceTokenizer()
    raise ValueError(f"unknown tokenization {tokenization!r}; expected {WORDS!r} or {WHITESPACE!r}")


def rouge_tokens(text: str, tokenizer: WordTokenizer | WhitespaceTokenizer) -> list[str]:
    """The tokens ROUGE-L compares: the first MAX_ROUGE_WORDS words of `text`, stemmed; the rest is never stemmed."""
    return [tokenizer.stem(word) for word in islice(tokenizer.words(text), MAX_ROUGE_WORDS)]


def is_truncated(text: str, tokenizer: WordTokenizer | WhitespaceTokenizer) -> bool:
    """Whether `text` has more than MAX_ROUGE_WORDS words, so ROUGE-L compares only its beginning."""
    return next(islice(tokenizer.words(text), MAX_ROUGE_WORDS, None), None) is not None


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one big-integer step per token of `second`."""
    masks: dict[str, int] = {}
    for position, token in enumerate(first):
        masks[token] = masks.get(token, 0) | 1 << position
    full = (1 << len(first)) - 1
    row = full
    for token in second:
        matched = row & masks.get(token, 0)
        row = ((row + matched) | (row - matched)) & full
    return len(first) - row.bit_count()


def lcs_score(reference: Sequence[str], prediction: Sequence[str]) -> Score:
    """ROUGE-L of two token lists as rouge-score defines it: P = LCS/|prediction|, R = LCS/|reference|, F their
    harmonic mean; all 0 when either list is empty."""
    if not reference or not prediction:
        return Score(0.0, 0.0, 0.0)
    common = lcs_length(reference, prediction)
    precision, recall = common / len(prediction), common / len(reference)
    return Score(precision, recall, fmeasure(precision, recall))


def rouge_l(prediction: str, reference: str, part: str = "fmeasure", use_stemmer: bool = False) -> float:
    """ROUGE-L of one pair with WordTokenizer on the first MAX_ROUGE_WORDS words of each: the F-measure, or `recall`
    of the reference (docs/methods.md §0.3)."""
    tokenizer = WordTokenizer(use_stemmer)
    return float(getattr(lcs_score(rouge_tokens(reference, tokenizer), rouge_tokens(prediction, tokenizer)), part))


def rouge_l_matrix(texts: Sequence[str], tokenization: str = WORDS, use_stemmer: bool = True) -> np.ndarray:
    """Symmetric K × K ROUGE-L F between every pair of texts on their first MAX_ROUGE_WORDS words; identical texts
    score 1, even empty ones (docs/methods.md §2.1)."""
    tokenizer = tokenizer_for(tokenization, use_stemmer)
    tokens = [rouge_tokens(text, tokenizer) for text in texts]
    matrix = np.eye(len(texts))
    for first, second in combinations(range(len(texts)), 2):
        same = texts[first] == texts[second]
        matrix[first, second] = matrix[second, first] = 1.0 if same else lcs_score(tokens[first], tokens[second]).fmeasure
    return matrix


@dataclass(frozen=True)
class LexicalDetail:
    """Pairwise ROUGE-L F (K × K), how the texts were tokenised, and the answers longer than MAX_ROUGE_WORDS words."""

    rouge_l: np.ndarray
    tokenization: str
    use_stemmer: bool
    truncated: tuple[int, ...]


def lexical_similarity(texts: Sequence[str], tokenization: str = WORDS, use_stemmer: bool = True) -> MeasureResult:
    """U = -mean_{i<j} ROUGE-L-F(s_i, s_j); per sample, -mean ROUGE-L with the others (lm-polygraph; docs/methods.md §2.1).

    Each answer contributes its first MAX_ROUGE_WORDS words; the detail lists the answers cut and the reason says so.
    """
    if len(texts) < 2:
        return MeasureResult(None, None, reason="lexical similarity needs at least two answers")
    matrix = rouge_l_matrix(texts, tokenization, use_stemmer)
    off_diagonal = ~np.eye(len(texts), dtype=bool)
    # 0.0 - x rather than -x: no "-0.0" when nothing is shared
    per_sample = [0.0 - float(row[mask].mean()) for row, mask in zip(matrix, off_diagonal)]
    value = 0.0 - float(matrix[np.triu_indices(len(texts), k=1)].mean())
    tokenizer = tokenizer_for(tokenization, use_stemmer)
    truncated = tuple(index for index, text in enumerate(texts) if is_truncated(text, tokenizer))
    reason = None if not truncated else (
        f"ROUGE-L compared the first {MAX_ROUGE_WORDS:,} words of each answer, and these answers are longer: "
        + ", ".join(str(index + 1) for index in truncated)
    )
    return MeasureResult(value, per_sample, LexicalDetail(matrix, tokenization, use_stemmer, truncated), reason)


MEASURES = (
    Measure(
        "lexical_similarity", "Lexical similarity (ROUGE-L)",
        lambda stats: lexical_similarity(stats.answers),
        "U = -(2 / K(K-1)) Σ_{i<j} ROUGE-L-F(s_i, s_j)",
        "the answers share fewer words in order",
        "lm-polygraph LexicalSimilarity; docs/methods.md §2.1",
        needs=("texts",),
    ),
)
