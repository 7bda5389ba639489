"""Dataset evaluation: every registered measure per question, correctness of the greedy answer, and a report (docs/methods.md §0.3).

Input is CSV or JSONL with `question` and an optional `answer`; several gold answers are separated by `|`
(MAQA-style, any match counts). Each finished question is appended to the results CSV at once, so an
interrupted batch keeps its rows and a rerun on the same file skips the questions already there (matched by
question text; a results file written under other settings is reused as it is, so start a new file then).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from uqviz.engine.sampling import sample
from uqviz.engine.server import ServerModel
from uqviz.format.run import Run, SamplingSettings
from uqviz.format.spreadsheet import read_spreadsheet_text, spreadsheet_text
from uqviz.measures.lexical import rouge_l
from uqviz.measures.registry import REGISTRY
from uqviz.models.loading import Embedder, LanguageModel, ModelLoadError
from uqviz.models.nli import ENTAILMENT, NLI_LABELS, NliModel, label_probabilities
from uqviz.models.similarity import BiEncoderSimilarity
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.uqac import GREEDY, use_greedy_answer
from uqviz.workflows.adaptive import AdaptiveRule, sample_answers
from uqviz.workflows.evaluation import (
    auroc,
    calibration_bins,
    labelled_pairs,
    prediction_rejection_ratio,
    risk_coverage_curve,
    roc_points,
)

REPORT_SCHEMA = "uqviz.batch-report/1"
DEMO_QUESTIONS = Path(__file__).resolve().parent.parent / "data" / "demo_qa.csv"
MAX_INPUT_BYTES = 2 * 1024 * 1024
MAX_QUESTIONS = 5000
GOLD_SEPARATOR = "|"
SUPPORTED_SUFFIXES = (".csv", ".jsonl")
ROUGE = "rouge"
ROUGE_RECALL = "rouge-recall"
EMBEDDING = "embedding"
JUDGE = "judge"
DEFAULT_THRESHOLDS = {ROUGE: 0.3, ROUGE_RECALL: 1.0, EMBEDDING: 0.75, JUDGE: 0.5}
HEAD_COLUMNS = ("question", "gold", "greedy_answer", "match_score", "correct")
TAIL_COLUMNS = ("samples", "judge", "reasons", "seconds")
DEFAULT_BATCH_SAMPLING = SamplingSettings(n=5, max_new_tokens=32)


class BatchInputError(ValueError):
    """A question file or results file cannot be used; the message is one line naming the file and the line."""


@dataclass(frozen=True)
class Question:
    text: str
    answers: tuple[str, ...] = ()


def gold_answers(value: Any, where: str) -> tuple[str, ...]:
    """Gold answers from a `a|b|c` string or a JSON list of strings; empty parts are dropped."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split(GOLD_SEPARATOR)
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        parts = value
    else:
        raise BatchInputError(f"{where}: 'answer' must be a string (gold answers separated by '|') or a list of strings")
    return tuple(part.strip() for part in parts if part.strip())


def parse_questions(data: bytes, name: str) -> list[Question]:
    """Questions from the bytes of a .csv or .jsonl file; duplicates are kept once, in first-occurrence order."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise BatchInputError(f"{name}: unsupported file type {suffix or '(none)'!r}; expected a .csv or .jsonl file")
    if len(data) > MAX_INPUT_BYTES:
        raise BatchInputError(f"{name}: {len(data)} bytes, more than the {MAX_INPUT_BYTES} allowed")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BatchInputError(f"{name}: not UTF-8 text") from None
    questions = _csv_questions(text, name) if suffix == ".csv" else _jsonl_questions(text, name)
    if not questions:
        raise BatchInputError(f"{name}: no questions found")
    if len(questions) > MAX_QUESTIONS:
        raise BatchInputError(f"{name}: {len(questions)} questions, more than the {MAX_QUESTIONS} allowed")
    unique: dict[str, Question] = {}
    for question in questions:
        unique.setdefault(question.text, question)
    return list(unique.values())


def _question(text: Any, answer: Any, where: str) -> Question:
    if not isinstance(text, str) or not text.strip():
        raise BatchInputError(f"{where}: the question is empty or not text")
    return Question(text.strip(), gold_answers(answer, where))


def _csv_questions(text: str, name: str) -> list[Question]:
    reader = csv.DictReader(io.StringIO(text))
    header = [column.strip().lower() for column in reader.fieldnames or []]
    if "question" not in header:
        raise BatchInputError(f"{name}: the first line must be a header with a 'question' column (and optionally 'answer')")
    reader.fieldnames = header
    questions = []
    try:
        for row in reader:
            if None in row:
                raise BatchInputError(f"{name} line {reader.line_num}: more fields than header columns")
            questions.append(_question(row["question"], row.get("answer") or None, f"{name} line {reader.line_num}"))
    except csv.Error as error:
        raise BatchInputError(f"{name} line {reader.line_num}: {error}") from None
    return questions


def _jsonl_questions(text: str, name: str) -> list[Question]:
    questions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise BatchInputError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(item, dict) or "question" not in item:
            raise BatchInputError(f"{where}: expected an object with a 'question' field")
        questions.append(_question(item["question"], item.get("answer"), where))
    return questions


def read_questions(path: str | Path) -> list[Question]:
    path = Path(path)
    if not path.is_file():
        raise BatchInputError(f"{path}: no such file")
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise BatchInputError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_INPUT_BYTES} allowed")
    return parse_questions(path.read_bytes(), str(path))


def demo_questions() -> list[Question]:
    """The demo set shipped with uqviz: short factual questions with gold answers."""
    return read_questions(DEMO_QUESTIONS)


@dataclass(frozen=True)
class CorrectnessRule:
    """The greedy answer is right when its best match with any gold answer reaches the threshold."""

    method: str = ROUGE_RECALL
    threshold: float = DEFAULT_THRESHOLDS[ROUGE_RECALL]

    def __post_init__(self) -> None:
        if self.method not in DEFAULT_THRESHOLDS:
            raise BatchInputError(f"correctness method must be one of {', '.join(DEFAULT_THRESHOLDS)}, got {self.method!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise BatchInputError(f"the correctness threshold must be between 0 and 1, got {self.threshold}")


def match_score(answer: str, golds: Sequence[str], rule: CorrectnessRule, similarity: BiEncoderSimilarity | None = None,
                question: str = "", nli: NliModel | None = None) -> float | None:
    """The best match of the answer with any gold: ROUGE-L F or recall, max(0, cosine) of embeddings, or the meaning
    judge's P(entailment) of "question gold" given "question answer" (docs/methods.md §0.3); None without golds."""
    if not golds:
        return None
    if rule.method in (ROUGE, ROUGE_RECALL):
        part = "fmeasure" if rule.method == ROUGE else "recall"
        return max(rouge_l(answer, gold, part) for gold in golds)
    if rule.method == JUDGE:
        if nli is None:
            raise ValueError("grading by the meaning judge needs an NLI model")
        logits = nli.pair_logits([f"{question} {answer}"] * len(golds), [f"{question} {gold}" for gold in golds])
        return float(label_probabilities(logits)[:, NLI_LABELS.index(ENTAILMENT)].max())
    if similarity is None:
        raise ValueError("embedding match needs a similarity backend")
    return float(similarity.pair_scores([answer] * len(golds), list(golds)).max())


@dataclass(frozen=True)
class BatchSettings:
    """How each question is answered and graded; the greedy answer shares max_new_tokens and seed."""

    sampling: SamplingSettings = DEFAULT_BATCH_SAMPLING
    correctness: CorrectnessRule = field(default_factory=CorrectnessRule)
    chat: bool = True
    system_prompt: str | None = None
    on_demand: tuple[str, ...] = ()  # costly measures to compute as well (docs/architecture.md, "Adding a measure")
    adaptive: AdaptiveRule | None = None  # draw in rounds until semantic entropy settles, at most sampling.n answers


@dataclass(frozen=True)
class BatchProgress:
    """After each question: how many are done (resumed rows included), and the time left at the pace so far."""

    done: int
    total: int
    resumed: int
    elapsed_seconds: float
    seconds_left: float | None
    question: str | None


ProgressCallback = Callable[[BatchProgress], None]


def result_columns(names: Sequence[str]) -> list[str]:
    """Results CSV columns: the question and its grading, one column per measure, then samples, meaning judge, reasons, seconds."""
    return [*HEAD_COLUMNS, *names, *TAIL_COLUMNS]


def grade(
    answer: str, golds: Sequence[str], rule: CorrectnessRule, similarity: Callable[[], BiEncoderSimilarity] | None,
    question: str = "", nli: Callable[[], NliModel] | None = None,
) -> dict[str, Any]:
    """The grading columns of a results row: the golds, the best match and whether it reaches the threshold."""
    backend = similarity() if rule.method == EMBEDDING and golds and similarity is not None else None
    judge = nli() if rule.method == JUDGE and golds and nli is not None else None
    score = match_score(answer, golds, rule, backend, question, judge)
    return {
        "gold": GOLD_SEPARATOR.join(golds),
        "match_score": score,
        "correct": None if score is None else int(score >= rule.threshold),
    }


def score_question(
    question: Question,
    lm: LanguageModel | ServerModel,
    settings: BatchSettings,
    config: ScoreConfig,
    embedder: Embedder | Callable[[], Embedder] | None,
    nli: NliModel | Callable[[], NliModel] | None = None,
) -> dict[str, Any]:
    """One results row: N samples scored by every registered measure, the greedy answer graded against the golds."""
    started = time.perf_counter()
    options = {"chat": settings.chat, "system_prompt": settings.system_prompt}
    greedy_run = sample(lm, question.text, replace(settings.sampling, n=1, temperature=0.0), **options)
    greedy = greedy_run.samples[0].text
    local = isinstance(lm, LanguageModel)  # a server gives no attention, hidden states or next-token passes

    def statistics_of(run: Run) -> RunStatistics:
        return RunStatistics(run, config, embedder=embedder, nli=nli, language_model=lm if local else None,
                             reply_model=None if local else lm)

    run = sample_answers(lm, question.text, settings.sampling, statistics_of, settings.adaptive, **options)
    statistics = statistics_of(run)
    if local:
        use_greedy_answer(statistics, greedy_run.prompt_token_ids, greedy_run.samples[0])
    scores = score_run(run, statistics, on_demand=settings.on_demand)
    row: dict[str, Any] = {
        "question": question.text,
        "greedy_answer": greedy,
        **grade(greedy, question.answers, settings.correctness, lambda: statistics.similarity, question.text, lambda: statistics.nli),
    }
    for name, scored in scores.measures.items():
        value = scored.result.value
        row[name] = float(value) if value is not None and math.isfinite(value) else None
    row["samples"] = [s.text for s in run.samples]
    row["judge"] = scores.judge and scores.judge.description
    row["reasons"] = {name: scored.result.reason for name, scored in scores.measures.items() if scored.result.reason}
    row["seconds"] = time.perf_counter() - started
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return spreadsheet_text(value)
    return repr(value) if isinstance(value, float) else str(value)


def _float_or_none(text: str) -> float | None:
    if not text:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _typed_row(raw: dict[str, str], where: str) -> dict[str, Any]:
    """A results row read back: numbers as floats, `correct` as 0/1/None, samples and reasons decoded."""
    try:
        row: dict[str, Any] = {column: _float_or_none(text) for column, text in raw.items() if column not in HEAD_COLUMNS + TAIL_COLUMNS}
        row.update({column: read_spreadsheet_text(raw.get(column) or "") for column in ("question", "gold", "greedy_answer")})
        row["match_score"] = _float_or_none(raw.get("match_score", ""))
        row["correct"] = None if not raw.get("correct") else int(float(raw["correct"]))
        row["samples"] = json.loads(raw["samples"]) if raw.get("samples") else []
        row["judge"] = read_spreadsheet_text(raw.get("judge") or "") or None
        row["reasons"] = json.loads(raw["reasons"]) if raw.get("reasons") else {}
        row["seconds"] = float(raw["seconds"])
    except (ValueError, KeyError, OverflowError, RecursionError) as error:
        raise BatchInputError(f"{where}: not a uqviz results row ({error})") from None
    return row


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The finished rows of a results CSV; a last row cut short by an interruption (no seconds) is left out."""
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            columns = reader.fieldnames or []
            raw_rows = list(reader)
        except (csv.Error, UnicodeDecodeError) as error:
            raise BatchInputError(f"{path} line {reader.line_num}: not a readable results file ({error})") from None
    if "question" not in columns or "seconds" not in columns:
        raise BatchInputError(f"{path}: not a uqviz results file (no 'question' and 'seconds' columns)")
    complete = [raw for raw in raw_rows if raw.get("seconds")]
    return [_typed_row({k: v or "" for k, v in raw.items() if k is not None}, f"{path} row {index + 1}") for index, raw in enumerate(complete)]


def write_results(path: str | Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Write the whole results file (header and rows) beside it, then swap it in: an interruption keeps the old file."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows({column: _cell(row.get(column)) for column in columns} for row in rows)
    os.replace(partial, path)


def append_result(path: str | Path, row: dict[str, Any], columns: Sequence[str]) -> None:
    """Append one finished row and close the file, so an interruption never loses it."""
    with Path(path).open("a", encoding="utf-8", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore").writerow(
            {column: _cell(row.get(column)) for column in columns}
        )


def run_batch(
    questions: Sequence[Question],
    lm: LanguageModel | ServerModel,
    out: str | Path,
    settings: BatchSettings = BatchSettings(),
    *,
    config: ScoreConfig | None = None,
    embedder: Embedder | Callable[[], Embedder] | None = None,
    nli: NliModel | Callable[[], NliModel] | None = None,
    progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Score every question not already in `out`, appending each row as it finishes; returns the rows in input order.

    By default UQAC analyses the greedy answer, the one that is graded (as in the paper, §5.1).
    Rows already in `out` keep their samples and scores but are graded again under the current rule and gold answers
    (no model call, except the embedder for embedding grading). The file is rewritten first only when a grade
    changed, its columns differ from the registry's (a measure was added) or its last row was cut short.
    """
    config = config or ScoreConfig(uqac_sample=GREEDY, relevance_budget=None)  # a batch scores everything it is asked
    if settings.correctness.method == EMBEDDING and embedder is None:
        raise BatchInputError("grading by embedding cosine needs an embedder")
    if settings.correctness.method == JUDGE and nli is None:
        raise BatchInputError("grading by the meaning judge needs an NLI model (--nli)")
    out = Path(out)
    columns = result_columns(list(REGISTRY))
    existing = read_results(out) if out.is_file() and out.stat().st_size else []
    golds = {question.text: question.answers for question in questions}
    similarity, judge = grading_models(embedder, nli)
    regraded = [
        {**row, **grade(row["greedy_answer"], golds[row["question"]], settings.correctness, similarity, row["question"], judge)}
        if row["question"] in golds else row
        for row in existing
    ]
    done = {row["question"]: row for row in regraded}
    if regraded != existing or not existing or _header(out) != columns or _line_count(out) != len(existing) + 1:
        kept_columns = columns + [c for c in _header(out) if c not in columns] if existing else columns
        write_results(out, regraded, kept_columns)
        columns = kept_columns
    total = len(questions)
    resumed = sum(question.text in done for question in questions)
    started = time.perf_counter()
    computed = 0
    if progress:
        progress(BatchProgress(resumed, total, resumed, 0.0, None, None))
    rows = []
    for question in questions:
        if question.text in done:
            rows.append(done[question.text])
            continue
        row = score_question(question, lm, settings, config, embedder, nli)
        append_result(out, row, columns)
        done[question.text] = row
        rows.append(row)
        computed += 1
        if progress:
            elapsed = time.perf_counter() - started
            finished = resumed + computed
            progress(BatchProgress(finished, total, resumed, elapsed, elapsed / computed * (total - finished), question.text))
    return rows


def _header(path: Path) -> list[str]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def _line_count(path: Path) -> int:
    """Physical CSV records in the file (header included); quoted newlines inside a cell do not count."""
    with path.open(encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.reader(handle))


def evaluate_measure(name: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """AUROC, PRR, ROC and risk-coverage curves and calibration bins of one measure over the labelled rows."""
    correct = [row["correct"] for row in rows]
    values = [row.get(name) for row in rows]
    labels, _ = labelled_pairs(correct, values)
    roc, curve, calibration = roc_points(correct, values), risk_coverage_curve(correct, values), calibration_bins(correct, values)
    reason = None
    if labels.size == 0:
        reasons = Counter(row["reasons"].get(name) for row in rows if row["reasons"].get(name))
        reason = reasons.most_common(1)[0][0] if reasons else "no labelled question has a value for this measure"
    elif roc is None:
        reason = "AUROC and PRR need both right and wrong answers"
    measure = REGISTRY.get(name)
    return {
        "title": measure.title if measure else name,
        "higher_means": measure.higher_means if measure else None,
        "count": int(labels.size),
        "auroc": auroc(correct, values),
        "prr": prediction_rejection_ratio(correct, values),
        "aurc": None if curve is None else curve.area,
        "ece": None if calibration is None else calibration.expected_calibration_error,
        "roc": None if roc is None else asdict(roc),
        "risk_coverage": None if curve is None else {"coverage": curve.coverage, "risk": curve.risk},
        "calibration": None if calibration is None else [asdict(bin_) for bin_ in calibration.bins],
        "reason": reason,
    }


def grading_models(
    embedder: Embedder | Callable[[], Embedder] | None, nli: NliModel | Callable[[], NliModel] | None,
) -> tuple[Callable[[], BiEncoderSimilarity], Callable[[], NliModel]]:
    """What embedding and judge grading read, each loaded once and only when a grade needs it."""
    similarity = functools.cache(lambda: BiEncoderSimilarity(embedder() if callable(embedder) else embedder))
    judge = functools.cache(lambda: nli() if callable(nli) else nli)
    return similarity, judge


def grader_agreement(
    rows: Sequence[dict[str, Any]], questions: Sequence[Question], chosen: CorrectnessRule,
    embedder: Embedder | Callable[[], Embedder] | None = None, nli: NliModel | Callable[[], NliModel] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every grader that can run here (ROUGE-L F and recall; embedding cosine with an embedder; the meaning judge with an
    NLI model), the chosen one at its threshold and the others at their defaults: how many labelled greedy answers it
    calls correct, and how many labels differ from the chosen grader's (docs/methods.md §0.3); a grader whose model does
    not load is skipped with the reason."""
    golds = {question.text: question.answers for question in questions}
    labelled = [row for row in rows if row["correct"] is not None and golds.get(row["question"])]
    similarity, judge = grading_models(embedder, nli)
    agreement = {}
    for method, threshold in DEFAULT_THRESHOLDS.items():
        if (method == EMBEDDING and embedder is None) or (method == JUDGE and nli is None):
            continue
        rule = chosen if method == chosen.method else CorrectnessRule(method, threshold)
        try:
            labels = [grade(row["greedy_answer"], golds[row["question"]], rule, similarity, row["question"], judge)["correct"]
                      for row in labelled]
        except (ModelLoadError, MissingInputError) as error:  # a judge or embedder that does not load: that grader only
            agreement[method] = {"threshold": rule.threshold, "skipped": str(error)}
            continue
        agreement[method] = {"threshold": rule.threshold, "labelled": len(labels), "correct": sum(labels),
                             "changed": sum(label != row["correct"] for label, row in zip(labels, labelled))}
    return agreement


def build_report(rows: Sequence[dict[str, Any]], settings: BatchSettings, model: str | None = None, chat_template: bool = True,
                 graders: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """report.json: per registered measure AUROC (sklearn), normalised PRR, risk-coverage curve and calibration bins.
    `chat` is the setting the runs used: off for a model without a chat template, whatever was asked; `judges` the
    meaning judges the rows were scored under, in row order (one, unless a resumed file mixes them)."""
    labelled = [row["correct"] for row in rows if row["correct"] is not None]
    return {
        "schema": REPORT_SCHEMA,
        "model": model,
        "settings": {
            "sampling": asdict(settings.sampling),
            "correctness": asdict(settings.correctness),
            "chat": settings.chat and chat_template,
            "system_prompt": settings.system_prompt if settings.chat and chat_template else None,
            "judges": list(dict.fromkeys(row["judge"] for row in rows if row.get("judge"))),
            "adaptive": None if settings.adaptive is None else asdict(settings.adaptive),
        },
        "mean_samples": sum(len(row["samples"]) for row in rows) / len(rows) if rows else None,
        "questions": len(rows),
        "labelled": len(labelled),
        "accuracy": sum(labelled) / len(labelled) if labelled else None,
        "measures": {name: evaluate_measure(name, rows) for name in REGISTRY},
        "graders": graders,
    }


def batch_key(questions: Sequence[Question], settings: BatchSettings, model: str, judge: str = "auto") -> str:
    """A short digest naming one batch: the same questions, sampling settings, model, meaning judge and measures resume
    the same results file. The gold answers and the grading rule are left out: resuming grades the kept answers again."""
    identity = {
        "questions": [question.text for question in questions],
        "settings": {key: value for key, value in asdict(settings).items()
                     if key != "correctness" and not (key == "adaptive" and value is None)},  # keys of batches before it
        "model": model,
        "measures": list(REGISTRY),
        **({} if judge == "auto" else {"judge": judge}),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class BatchResult:
    """A finished batch: its rows in input order, its report, and the results CSV they were written to."""

    rows: list[dict[str, Any]]
    report: dict[str, Any]
    results_path: Path


def ranked_measures(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Measures by AUROC, best first; those without an AUROC last, in registry order."""
    items = list(report["measures"].items())
    return sorted(items, key=lambda item: (item[1]["auroc"] is None, -(item[1]["auroc"] or 0.0)))


def write_report(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=1, allow_nan=False, ensure_ascii=False), encoding="utf-8")
