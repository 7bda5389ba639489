"""Meaning classes of the sampled answers under the clustering rules of docs/methods.md §3.2, as pure functions.

Every rule works on the *unique* answers in first-occurrence order (so identical answers always share a class
and the result never depends on hashing), then maps the classes back to the samples. Class ids are numbered
by first appearance in sample order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from uqviz.models.loading import ModelLoadError
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL, argmax_labels, context_note, pairwise_logits, unique_texts
from uqviz.statistics.base import RunStatistics, Statistic

AUTO_RULE = "auto"
EMBEDDING_RULE = "embedding"
STRICT_RULE = "strict"
KUHN_CODE_RULE = "kuhn_code"
NATURE_CODE_RULE = "nature_code"
NATURE_CODE_NON_STRICT_RULE = "nature_code_non_strict"


def representative_assignment(equivalent: np.ndarray) -> list[int]:
    """lm-polygraph / Nature paper: join the first class whose first member is equivalent, else open a class (§3.2)."""
    ids: list[int] = []
    representatives: list[int] = []
    for item in range(len(equivalent)):
        for class_id, representative in enumerate(representatives):
            if equivalent[representative, item]:
                ids.append(class_id)
                break
        else:
            representatives.append(item)
            ids.append(len(representatives) - 1)
    return ids


def kuhn_code_assignment(equivalent: np.ndarray) -> list[int]:
    """Kuhn et al. 2023 code: for i < j, id[j] := id[i] when equivalent; last writer wins, no closure (§3.2)."""
    ids = list(range(len(equivalent)))
    for first in range(len(equivalent)):
        for second in range(first + 1, len(equivalent)):
            if equivalent[first, second]:
                ids[second] = ids[first]
    return ids


def nature_code_assignment(equivalent: np.ndarray) -> list[int]:
    """Farquhar et al. 2024 code: each unassigned i opens a class and claims every equivalent later j, even assigned ones (§3.2)."""
    ids = [-1] * len(equivalent)
    next_id = 0
    for first in range(len(equivalent)):
        if ids[first] == -1:
            ids[first] = next_id
            for second in range(first + 1, len(equivalent)):
                if equivalent[first, second]:
                    ids[second] = next_id
            next_id += 1
    return ids


def strict_entailment(labels: np.ndarray) -> np.ndarray:
    """Equivalent iff e(a→b) and e(b→a) are both ENTAILMENT (Kuhn paper, Nature code default, lm-polygraph)."""
    entails = labels == ENTAILMENT
    return entails & entails.T


def no_contradiction(labels: np.ndarray) -> np.ndarray:
    """Equivalent iff neither direction is CONTRADICTION, so neutral/neutral counts (Kuhn 2023 code)."""
    contradicts = labels == CONTRADICTION
    return ~(contradicts | contradicts.T)


def nature_non_strict(labels: np.ndarray) -> np.ndarray:
    """Equivalent iff no CONTRADICTION either way and not (NEUTRAL, NEUTRAL) (Nature code, strict_entailment=False)."""
    neutral = labels == NEUTRAL
    return no_contradiction(labels) & ~(neutral & neutral.T)


def cosine_at_least(similarity: np.ndarray, threshold: float) -> np.ndarray:
    """Equivalent iff cosine ≥ threshold (the embedding rule, docs/methods.md §3.2)."""
    return np.asarray(similarity) >= threshold


@dataclass(frozen=True)
class ClusterRule:
    """A named rule: which pairwise relation counts as "same meaning" and which assignment procedure applies it."""

    name: str
    title: str
    needs_nli: bool
    assignment: Callable[[np.ndarray], list[int]]
    relation: Callable[[np.ndarray], np.ndarray] | None = None


RULES: dict[str, ClusterRule] = {
    rule.name: rule
    for rule in (
        ClusterRule(EMBEDDING_RULE, "Embedding cosine ≥ threshold, representative assignment", False, representative_assignment),
        ClusterRule(STRICT_RULE, "Strict bidirectional entailment, representative assignment (lm-polygraph)", True,
                    representative_assignment, strict_entailment),
        ClusterRule(KUHN_CODE_RULE, "Kuhn et al. 2023 code: no contradiction, last writer wins", True,
                    kuhn_code_assignment, no_contradiction),
        ClusterRule(NATURE_CODE_RULE, "Farquhar et al. 2024 code: strict entailment, later answers re-assigned", True,
                    nature_code_assignment, strict_entailment),
        ClusterRule(NATURE_CODE_NON_STRICT_RULE, "Farquhar et al. 2024 code, non-strict: no contradiction, not neutral/neutral",
                    True, nature_code_assignment, nature_non_strict),
    )
}


def first_appearance_ids(ids: Sequence[int]) -> list[int]:
    """Relabel class ids 0, 1, 2, … in the order the classes first appear."""
    order: dict[int, int] = {}
    return [order.setdefault(class_id, len(order)) for class_id in ids]


@dataclass(frozen=True)
class Clustering:
    """Meaning classes of a run's answers: per-sample ids and the pairwise relation the rule judged (unique answers)."""

    rule: str
    ids: list[int]
    unique_texts: list[str]
    unique_index: list[int]
    equivalent: np.ndarray
    threshold: float | None = None

    @property
    def count(self) -> int:
        return max(self.ids, default=-1) + 1

    def members(self, class_id: int) -> list[int]:
        return [index for index, own in enumerate(self.ids) if own == class_id]

    def frequencies(self) -> list[float]:
        """|c| / K for every class, in class-id order."""
        return [len(self.members(class_id)) / len(self.ids) for class_id in range(self.count)]


def cluster_texts(texts: Sequence[str], rule: str, equivalent: np.ndarray, threshold: float | None = None) -> Clustering:
    """Apply a rule's assignment to an "equivalent" matrix over unique_texts(texts), then map classes to samples."""
    distinct, index = unique_texts(texts)
    equivalent = np.asarray(equivalent, dtype=bool)
    if equivalent.shape != (len(distinct), len(distinct)):
        raise ValueError(f"the equivalence matrix is {equivalent.shape}, expected one row per distinct answer ({len(distinct)})")
    unique_ids = RULES[rule].assignment(equivalent)
    ids = first_appearance_ids([unique_ids[position] for position in index])
    return Clustering(rule, ids, distinct, index, equivalent, threshold)


def cluster_by_labels(texts: Sequence[str], labels: np.ndarray, rule: str) -> Clustering:
    """Cluster with an NLI rule from the argmax labels e(a→b) over unique_texts(texts)."""
    chosen = RULES[rule]
    if chosen.relation is None:
        raise ValueError(f"rule {rule!r} does not use NLI labels")
    return cluster_texts(texts, rule, chosen.relation(np.asarray(labels)))


def cluster_by_cosine(texts: Sequence[str], vectors: np.ndarray, threshold: float) -> Clustering:
    """Cluster with the embedding rule from one unit vector per text (identical texts share a vector)."""
    _, index = unique_texts(texts)
    first_rows = [index.index(position) for position in range(max(index, default=-1) + 1)]
    unique_vectors = np.asarray(vectors, dtype=np.float64)[first_rows]
    return cluster_texts(texts, EMBEDDING_RULE, cosine_at_least(unique_vectors @ unique_vectors.T, threshold), threshold)


ANSWER_NLI_LOGITS = Statistic(
    "nli_matrix", lambda stats: pairwise_logits(stats.nli, stats.question, unique_texts(stats.answers)[0])
)
"""NLI logits e(a → b) over the run's distinct answers in first-occurrence order."""


def answer_nli_labels(stats: RunStatistics) -> np.ndarray:
    """Argmax labels e(a → b) over the run's distinct answers (the diagonal is entailment)."""
    return argmax_labels(ANSWER_NLI_LOGITS(stats))


@dataclass(frozen=True)
class MeaningJudge:
    """The rule that decides "same meaning" for this run, what it runs on, and why it is not the one asked for."""

    rule: str
    description: str
    note: str | None = None


def rule_in_force(rule: str, load_nli: Callable[[], Any]) -> tuple[str, Any, str | None]:
    """The rule that judges, its NLI model and a note on why it is not the rule asked for. `auto` and the NLI rules use
    the model `load_nli` returns (None when there is none); a missing model, or one that fails to load, leaves the
    embedding rule (docs/methods.md §3.2)."""
    if rule != AUTO_RULE and rule not in RULES:
        raise ValueError(f"unknown cluster rule {rule!r}; expected {AUTO_RULE} or one of {', '.join(RULES)}")
    if rule != AUTO_RULE and not RULES[rule].needs_nli:
        return rule, None, None
    try:
        model = load_nli()
    except ModelLoadError as error:
        return EMBEDDING_RULE, None, f"{error} Meaning is judged by embedding cosine instead."
    if model is None:
        return EMBEDDING_RULE, None, None
    return (STRICT_RULE if rule == AUTO_RULE else rule), model, None


def _meaning_judge(stats: RunStatistics) -> MeaningJudge:
    asked = stats.config.cluster_rule
    # an explicit NLI rule asks the statistics for their model, which names it missing when there is none
    rule, nli, note = rule_in_force(asked, lambda: stats.nli if stats.has_nli or asked != AUTO_RULE else None)
    if nli is not None:
        return MeaningJudge(rule, f"{RULES[rule].title}; NLI: {nli.name}",
                            context_note(nli, [f"{stats.question} {answer}" for answer in stats.answers]))
    return MeaningJudge(rule, f"embedding cosine ≥ {stats.config.cluster_threshold:g}, representative assignment", note)


MEANING_JUDGE = Statistic("meaning_judge", _meaning_judge)
"""The clustering rule in force: `auto` is strict bidirectional entailment when an NLI model loads, else the embedding
rule, with a note saying why (docs/methods.md §3.2)."""


def _answer_clustering(stats: RunStatistics) -> Clustering:
    rule = MEANING_JUDGE(stats).rule
    if RULES[rule].needs_nli:
        return cluster_by_labels(stats.answers, answer_nli_labels(stats), rule)
    return cluster_by_cosine(stats.answers, stats.answer_embeddings, stats.config.cluster_threshold)


ANSWER_CLUSTERING = Statistic("semantic_clusters", _answer_clustering)
"""The run's meaning classes under the meaning judge's rule."""


def answer_clustering(stats: RunStatistics) -> Clustering:
    """The run's clusters under the meaning judge's rule, computed once per statistics object."""
    return ANSWER_CLUSTERING(stats)
