"""Test a meaning judge on your own answer pairs: `uqviz judge pairs.csv --out judged.csv` (docs/methods.md §3.2).

Each row names a question and two answers; the judge says whether they mean the same thing under the clustering
rule, with both directions' NLI labels and probabilities, or the cosine under the embedding rule.
"""

from __future__ import annotations

import csv
import functools
import stat
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from uqviz.format.run import MAX_RUN_FILE_BYTES, check_limit
from uqviz.format.spreadsheet import spreadsheet_cell
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
# Pairs judged per model call; between chunks `judge_pairs` reports progress, so an input of one chunk is judged quietly.
JUDGE_CHUNK_PAIRS = 1_000


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
    """(question, a, b) from a CSV with those columns (others are kept out); a device, pipe or folder, or a file larger
    than a run file may be (64 MiB), is refused before anything is read."""
    path = Path(path)
    try:
        status = path.stat()
    except OSError as error:
        raise PairFileError(f"{path}: cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(status.st_mode):
        raise PairFileError(f"{path}: not a regular file (a folder, device or pipe); expected a CSV file with columns question,a,b")
    check_limit(str(path), status.st_size, MAX_RUN_FILE_BYTES, "bytes", PairFileError)
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
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[JudgedPair], str | None]:
    """Every pair judged under `rule` (`auto`: strict entailment with the NLI model on "question answer" texts, else the
    cosine of the answers alone, as clustering does), JUDGE_CHUNK_PAIRS pairs at a time in batched model calls, with
    `progress(done, total)` between chunks; the note says why the rule fell back to embeddings, if it did."""
    rule, model, note = rule_in_force(rule, nli or (lambda: None))
    if model is None:  # the embedding rule compares the answers alone, as clustering does
        if embedder is None:
            raise ModelLoadError("judging by embedding cosine needs an embedder")
        similarity = BiEncoderSimilarity(embedder())
        judge_chunk = functools.partial(_judge_by_cosine, similarity=similarity, rule=rule, threshold=threshold)
    else:
        note = context_note(model, [f"{question} {answer}" for question, a, b in pairs for answer in (a, b)])
        judge_chunk = functools.partial(_judge_by_nli, model=model, rule=rule)
    judged: list[JudgedPair] = []
    for start in range(0, len(pairs), JUDGE_CHUNK_PAIRS):
        if start and progress:
            progress(start, len(pairs))
        judged += judge_chunk(pairs[start : start + JUDGE_CHUNK_PAIRS])
    return judged, note


def _judge_by_cosine(
    pairs: Sequence[tuple[str, str, str]], similarity: BiEncoderSimilarity, rule: str, threshold: float
) -> list[JudgedPair]:
    """The pairs judged the same where the cosine of their answers reaches `threshold`."""
    cosine = similarity.pair_scores([a for _, a, _ in pairs], [b for _, _, b in pairs])
    return [JudgedPair(*pair, int(value >= threshold), rule, cosine=float(value)) for pair, value in zip(pairs, cosine)]


def _judge_by_nli(pairs: Sequence[tuple[str, str, str]], model: NliModel, rule: str) -> list[JudgedPair]:
    """The pairs judged by the rule's relation on both directions' NLI labels of "question answer" texts."""
    left = [f"{question} {a}" for question, a, _ in pairs]
    right = [f"{question} {b}" for question, _, b in pairs]
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
    return judged


def write_judged(path: str | Path, judged: Sequence[JudgedPair]) -> None:
    columns = list(JudgedPair.__dataclass_fields__)
    with Path(path).open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for pair in judged:
            writer.writerow({key: "" if value is None else f"{value:.6f}" if isinstance(value, float) else spreadsheet_cell(value)
                             for key, value in asdict(pair).items()})
