"""Test a meaning judge on your own answer pairs: `uqviz judge pairs.csv --out judged.csv` (docs/methods.md §3.2).

Each row names a question and two answers; the judge says whether they mean the same thing under the clustering
rule, with both directions' NLI labels and probabilities, or the cosine under the embedding rule.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from uqviz.format.spreadsheet import spreadsheet_text
from uqviz.models.loading import Embedder, ModelLoadError
from uqviz.models.nli import (
    CONTRADICTION,
    ENTAILMENT,
    NLI_LABELS,
    SELF_PAIR_LOGITS,
    NliModel,
    argmax_labels,
    context_note,
    label_probabilities,
)
from uqviz.models.similarity import BiEncoderSimilarity
from uqviz.statistics.clustering import AUTO_RULE, RULES, rule_in_force

PAIR_COLUMNS = ("question", "a", "b")


class PairFileError(ValueError):
    """A pairs file that cannot be read; the message names the file, the row and the problem."""


@dataclass(frozen=True)
class JudgedPair:
    question: str
    a: str
    b: str
    same: int
    rule: str
    label_ab: str | None = None
    label_ba: str | None = None
    entailment_ab: float | None = None
    contradiction_ab: float | None = None
    entailment_ba: float | None = None
    contradiction_ba: float | None = None
    cosine: float | None = None


def read_pairs(path: str | Path) -> list[tuple[str, str, str]]:
    """(question, a, b) from a CSV with those columns (others are kept out)."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames is None:
                raise PairFileError(f"{path.name}: the file is empty; expected a header question,a,b and a pair per row")
            missing = [column for column in PAIR_COLUMNS if column not in reader.fieldnames]
            if missing:
                raise PairFileError(f"{path.name}: the header lacks {', '.join(missing)}; expected columns question,a,b")
            rows = []
            for row in reader:
                if None in (row["question"], row["a"], row["b"]):
                    raise PairFileError(f"{path.name}: line {reader.line_num} has fewer fields than question,a,b")
                rows.append((row["question"], row["a"], row["b"]))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PairFileError(f"{path}: cannot be read as a UTF-8 CSV ({error})") from None
    if not rows:
        raise PairFileError(f"{path.name}: no pairs below the header")
    return rows


def judge_pairs(
    pairs: Sequence[tuple[str, str, str]],
    rule: str = AUTO_RULE,
    nli: Callable[[], NliModel] | None = None,
    embedder: Callable[[], Embedder] | None = None,
    threshold: float = 0.65,
) -> tuple[list[JudgedPair], str | None]:
    """Every pair judged under `rule` (`auto`: strict entailment with the NLI model on "question answer" texts, else the
    cosine of the answers alone, as clustering does), in batched model calls; the note says why the rule fell back to
    embeddings, if it did."""
    rule, model, note = rule_in_force(rule, nli or (lambda: None))
    if model is None:  # the embedding rule compares the answers alone, as clustering does
        if embedder is None:
            raise ModelLoadError("judging by embedding cosine needs an embedder")
        cosine = BiEncoderSimilarity(embedder()).pair_scores([a for _, a, _ in pairs], [b for _, _, b in pairs])
        return [JudgedPair(*pair, int(value >= threshold), rule, cosine=float(value)) for pair, value in zip(pairs, cosine)], note
    left = [f"{question} {a}" for question, a, _ in pairs]
    right = [f"{question} {b}" for question, _, b in pairs]
    note = context_note(model, left + right)
    logits = model.pair_logits(left + right, right + left)
    logits[[a == b for _, a, b in pairs] * 2] = SELF_PAIR_LOGITS  # a text with itself is certain entailment, as in clustering
    forward, backward = logits[: len(pairs)], logits[len(pairs) :]
    labels_ab, labels_ba = argmax_labels(forward), argmax_labels(backward)
    p_ab, p_ba = label_probabilities(forward), label_probabilities(backward)
    entail, contra = NLI_LABELS.index(ENTAILMENT), NLI_LABELS.index(CONTRADICTION)
    relation = RULES[rule].relation
    judged = []
    for index, pair in enumerate(pairs):
        matrix = np.array([[ENTAILMENT, labels_ab[index]], [labels_ba[index], ENTAILMENT]], dtype=object)
        judged.append(JudgedPair(
            *pair, int(bool(relation(matrix)[0, 1])), rule, str(labels_ab[index]), str(labels_ba[index]),
            float(p_ab[index, entail]), float(p_ab[index, contra]), float(p_ba[index, entail]), float(p_ba[index, contra]),
        ))
    return judged, note


def write_judged(path: str | Path, judged: Sequence[JudgedPair]) -> None:
    columns = list(JudgedPair.__dataclass_fields__)
    with Path(path).open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for pair in judged:
            writer.writerow({key: "" if value is None else f"{value:.6f}" if isinstance(value, float)
                             else spreadsheet_text(value) if isinstance(value, str) else value
                             for key, value in asdict(pair).items()})
