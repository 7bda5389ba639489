"""Lexical similarity: mean pairwise ROUGE-L F between the answers, U = -mean (lm-polygraph; docs/methods.md §2.1)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from nltk.stem.porter import PorterStemmer
from rouge_score.rouge_scorer import RougeScorer
from rouge_score.tokenizers import Tokenizer

from uqviz.measures.base import Measure, MeasureResult

WORDS = "words"
WHITESPACE = "whitespace"


class WordTokenizer(Tokenizer):
    """rouge-score's default tokenisation (lower case, alphanumeric runs, Porter stem of words longer than 3) for every script.

    rouge-score's own tokenizer keeps only [a-z0-9], so two identical answers in another script would score 0. Lexical
    similarity and batch grading both use this one (docs/methods.md §2.1, §0.3).
    """

    def __init__(self, use_stemmer: bool) -> None:
        self._stemmer = PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        words = re.findall(r"[^\W_]+", text.lower())
        if self._stemmer is not None:
            words = [self._stemmer.stem(word) if len(word) > 3 else word for word in words]
        return words


class WhitespaceTokenizer(Tokenizer):
    """Whitespace-separated tokens, unchanged (the worked example of §2.1)."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


def rouge_l(prediction: str, reference: str, part: str = "fmeasure", use_stemmer: bool = False) -> float:
    """ROUGE-L of one pair through rouge-score with WordTokenizer: the F-measure, or `recall` of the reference."""
    scorer = RougeScorer(["rougeL"], tokenizer=WordTokenizer(use_stemmer))
    return float(getattr(scorer.score(reference, prediction)["rougeL"], part))


def rouge_l_matrix(texts: Sequence[str], tokenization: str = WORDS, use_stemmer: bool = True) -> np.ndarray:
    """Symmetric K × K ROUGE-L F between every pair of texts through rouge-score; identical texts score 1, even empty ones."""
    if tokenization == WORDS:
        tokenizer: Tokenizer = WordTokenizer(use_stemmer)
    elif tokenization == WHITESPACE:
        tokenizer = WhitespaceTokenizer()
    else:
        raise ValueError(f"unknown tokenization {tokenization!r}; expected {WORDS!r} or {WHITESPACE!r}")
    scorer = RougeScorer(["rougeL"], tokenizer=tokenizer)
    matrix = np.eye(len(texts))
    for first, second in combinations(range(len(texts)), 2):
        same = texts[first] == texts[second]
        matrix[first, second] = matrix[second, first] = 1.0 if same else scorer.score(texts[first], texts[second])["rougeL"].fmeasure
    return matrix


@dataclass(frozen=True)
class LexicalDetail:
    """Pairwise ROUGE-L F (K × K) and how the texts were tokenised."""

    rouge_l: np.ndarray
    tokenization: str
    use_stemmer: bool


def lexical_similarity(texts: Sequence[str], tokenization: str = WORDS, use_stemmer: bool = True) -> MeasureResult:
    """U = -mean_{i<j} ROUGE-L-F(s_i, s_j); per sample, -mean ROUGE-L with the others (lm-polygraph; docs/methods.md §2.1)."""
    if len(texts) < 2:
        return MeasureResult(None, None, reason="lexical similarity needs at least two answers")
    matrix = rouge_l_matrix(texts, tokenization, use_stemmer)
    off_diagonal = ~np.eye(len(texts), dtype=bool)
    # 0.0 - x rather than -x: no "-0.0" when nothing is shared
    per_sample = [0.0 - float(row[mask].mean()) for row, mask in zip(matrix, off_diagonal)]
    value = 0.0 - float(matrix[np.triu_indices(len(texts), k=1)].mean())
    return MeasureResult(value, per_sample, LexicalDetail(matrix, tokenization, use_stemmer))


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
