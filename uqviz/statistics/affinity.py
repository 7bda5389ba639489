"""The affinity W between a run's answers that the graph measures read (Lin, Trivedi, Sun 2024; docs/methods.md §2.3).

It follows the judge: under an NLI cluster rule it is Lin's entailment affinity E, otherwise W = max(0, cosine) of the
answer embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NLI_LABELS, label_probabilities, unique_texts
from uqviz.models.similarity import BiEncoderSimilarity
from uqviz.statistics.base import MissingInputError, MissingModelError, RunStatistics, Statistic
from uqviz.statistics.clustering import ANSWER_NLI_LOGITS, MEANING_JUDGE, RULES

LIN_NLI_TEMPERATURE = 3.0


def embedding_affinity(vectors: np.ndarray) -> np.ndarray:
    """W_ij = max(0, cos(v_i, v_j)) of unit vectors, W_ii = 1."""
    vectors = np.asarray(vectors, dtype=np.float64)
    affinity = np.clip(vectors @ vectors.T, 0.0, 1.0)
    np.fill_diagonal(affinity, 1.0)
    return affinity


def nli_affinity(logits: np.ndarray, kind: str = ENTAILMENT, temperature: float = LIN_NLI_TEMPERATURE) -> np.ndarray:
    """Lin's E (mean entailment probability of both directions) or C (1 - mean contradiction probability), W_ii = 1 (§2.3)."""
    probability = label_probabilities(logits, temperature)
    if kind == ENTAILMENT:
        directed = probability[..., NLI_LABELS.index(ENTAILMENT)]
    elif kind == CONTRADICTION:
        directed = 1.0 - probability[..., NLI_LABELS.index(CONTRADICTION)]
    else:
        raise ValueError(f"unknown NLI affinity {kind!r}; expected {ENTAILMENT!r} or {CONTRADICTION!r}")
    affinity = (directed + directed.T) / 2
    np.fill_diagonal(affinity, 1.0)
    return affinity


@dataclass(frozen=True)
class Affinity:
    matrix: np.ndarray
    name: str


def _answer_affinity(stats: RunStatistics) -> Affinity:
    if RULES[MEANING_JUDGE(stats).rule].needs_nli:
        index = unique_texts(stats.answers)[1]
        matrix = nli_affinity(ANSWER_NLI_LOGITS(stats))[np.ix_(index, index)]
        return Affinity(matrix, f"NLI entailment, T={LIN_NLI_TEMPERATURE:g} ({stats.nli.name})")
    return Affinity(embedding_affinity(stats.answer_embeddings), f"max(0, cosine) of answer embeddings ({stats.similarity.name})")


ANSWER_AFFINITY = Statistic("graph_affinity", _answer_affinity)
"""W over the run's samples: NLI entailment affinity under an NLI cluster rule, embedding cosine otherwise."""


def _answer_nli_probabilities(stats: RunStatistics) -> np.ndarray:
    judge = MEANING_JUDGE(stats)
    if not RULES[judge.rule].needs_nli:
        raise MissingInputError(
            f"it needs NLI probabilities, and meaning is judged by embedding cosine now{': ' + judge.note if judge.note else ''}"
        )
    index = unique_texts(stats.answers)[1]
    return label_probabilities(ANSWER_NLI_LOGITS(stats))[np.ix_(index, index)]


ANSWER_NLI_PROBABILITIES = Statistic("nli_probabilities", _answer_nli_probabilities)
"""K × K × 3 softmax NLI probabilities p(label | q a_i → q a_j) in NLI_LABELS order, over the samples (KLE, semantic density)."""


def _answer_token_embeddings(stats: RunStatistics) -> list[np.ndarray]:
    backend = stats.similarity
    if not isinstance(backend, BiEncoderSimilarity):
        raise MissingModelError(f"the similarity backend {backend.name!r} has no token embeddings")
    return backend.token_embeddings(stats.answers)


ANSWER_TOKEN_EMBEDDINGS = Statistic("answer_token_embeddings", _answer_token_embeddings)
"""Per answer, the unit contextual vectors of its word pieces from the embedder's last layer (BERTScore's tokens)."""
