"""Active-Prompt: rank questions by the disagreement, entropy or variance of their k extracted answers (Diao et al. 2023; docs/methods.md §9).

An answer that cannot be extracted is None. It counts as one more answer value for disagreement and
entropy, as the authors' sentinel "-10086" does, and is left out of the variance, where that sentinel
would dominate (docs/methods.md §9, "Caution").
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import entropy as scipy_entropy

METRICS = ("disagreement", "entropy", "variance")
NUMBER_PATTERN = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
ARTICLES = re.compile(r"\b(a|an|the)\b")

Extractor = Callable[[str], "str | float | None"]


def extract_number(text: str) -> float | None:
    """The last number in the text (thousands commas dropped), as the authors' arithmetic extractor; None if none."""
    matches = NUMBER_PATTERN.findall(text)
    if not matches:
        return None
    return float(matches[-1].replace(",", ""))


def normalise_answer(text: str) -> str | None:
    """First line, lower case, without punctuation, articles and extra spaces (SQuAD normalisation); None if empty."""
    first_line = text.strip().split("\n", 1)[0].lower()
    without_punctuation = "".join(ch for ch in first_line if ch not in string.punctuation)
    words = ARTICLES.sub(" ", without_punctuation).split()
    return " ".join(words) or None


EXTRACTORS: dict[str, Extractor] = {"normalised text": normalise_answer, "last number": extract_number}


def disagreement(answers: Sequence[object]) -> float:
    """u = h / k, h = number of distinct extracted answers (None is one of them)."""
    return len(set(answers)) / len(answers)


def answer_entropy(answers: Sequence[object]) -> float:
    """u = -Σ_a f_a ln f_a over the answer frequencies (scipy.stats.entropy on the counts, None counted)."""
    return float(scipy_entropy(list(Counter(answers).values())))


def answer_variance(answers: Sequence[object]) -> float | None:
    """Population variance (ddof = 0) of the numeric answers, unextractable ones left out; None if none is numeric."""
    numbers = [value for value in answers if isinstance(value, (int, float))]
    return float(np.var(numbers)) if numbers else None


@dataclass(frozen=True)
class QuestionUncertainty:
    question: str
    answers: list[object]
    disagreement: float
    entropy: float
    variance: float | None


def question_uncertainty(question: str, texts: Sequence[str], extractor: Extractor) -> QuestionUncertainty:
    """The three Active-Prompt metrics of one question's k sampled answers."""
    answers = [extractor(text) for text in texts]
    if not answers:
        return QuestionUncertainty(question, [], 0.0, 0.0, None)
    return QuestionUncertainty(question, answers, disagreement(answers), answer_entropy(answers), answer_variance(answers))


def rank_questions(pool: Sequence[QuestionUncertainty], metric: str, top: int | None = None) -> list[QuestionUncertainty]:
    """Most uncertain first by the metric (stable for ties), the top n when asked; no variance sorts last."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    ranked = sorted(pool, key=lambda item: (getattr(item, metric) is None, -(getattr(item, metric) or 0.0)))
    return ranked if top is None else ranked[:top]
