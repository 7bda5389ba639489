"""The claims table: every sentence claim of every answer with its support, LUQ, token statistics and, when asked,
claim-level CCP (docs/methods.md §13); `uqviz claims` writes it as CSV, `uqviz.claims` returns it."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from uqviz.format.spreadsheet import spreadsheet_cell
from uqviz.measures.ccp import token_ccp
from uqviz.measures.luq import claim_scores
from uqviz.models.loading import ModelLoadError
from uqviz.models.nli import argmax_labels, label_probabilities
from uqviz.statistics.alternatives import TOKEN_ALTERNATIVES
from uqviz.statistics.base import MissingInputError, RunStatistics
from uqviz.statistics.claims import ATOMIC, ATOMIC_CLAIMS, CLAIM_SUPPORT, CLAIMS, SENTENCE, Claim, ClaimSupport, run_claims
from uqviz.statistics.relevance import TOKEN_RELEVANCE

COLUMNS = (
    "sample", "claim", "start", "end", "first_token", "last_token", "support", "contradicting", "luq_uncertainty",
    "ccp_uncertainty", "max_token_entropy", "mean_logprob", "min_logprob", "relevance_weighted_entropy", "sentence",
)


@dataclass(frozen=True)
class ClaimRow:
    """One claim and its scores; None where an input is missing (the table's `reasons` say why)."""

    sample: int
    claim: str
    start: int
    end: int
    first_token: int | None
    last_token: int | None
    support: float | None
    contradicting: int | None
    luq_uncertainty: float | None
    ccp_uncertainty: float | None
    max_token_entropy: float | None
    mean_logprob: float | None
    min_logprob: float | None
    relevance_weighted_entropy: float | None
    sentence: int | None = None  # an atomic claim's sentence (0-based within its answer); None for a sentence claim


@dataclass(frozen=True)
class ClaimsTable:
    """Every claim of a run, with why a column is empty where it is, and the notes (claims left out past the cap)."""

    rows: list[ClaimRow]
    reasons: dict[str, str]
    notes: list[str]
    claims: list[Claim] = field(default_factory=list)  # the claims scored, row for row
    support: ClaimSupport | None = None

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([asdict(row) for row in self.rows], columns=list(COLUMNS))


def relevance_weighted_entropy(entropies: Sequence[float], relevance: Sequence[float]) -> float:
    """Σ_i R_i H_i / Σ_i R_i over a claim's tokens, uniform weights when no token is relevant (docs/methods.md §13.2)."""
    weights = np.asarray(relevance, dtype=np.float64)
    weights = np.full(len(weights), 1.0 / len(weights)) if weights.sum() <= 0 else weights / weights.sum()
    return float(weights @ np.asarray(entropies, dtype=np.float64))


def claim_ccp_uncertainty(token_ccps: Sequence[float]) -> float:
    """1 − Π CCP_i over the claim's tokens only (Fadeeva et al. ACL 2024, claim level; docs/methods.md §13.2)."""
    return 1.0 - float(np.prod(token_ccps))


def _optional(stats: RunStatistics, compute, reasons: dict[str, str], columns: Sequence[str]):
    """compute(stats), or None with the reason recorded for `columns` when an input or model is missing."""
    try:
        return compute(stats)
    except (MissingInputError, ModelLoadError) as error:
        reasons.update(dict.fromkeys(columns, str(error)))
        return None


def claims_table(stats: RunStatistics, with_ccp: bool = False) -> ClaimsTable:
    """The run's claims table; CCP (two NLI pairs per token alternative) only when asked for."""
    fallback = []
    try:
        found = run_claims(stats)
    except (MissingInputError, ModelLoadError) as error:  # no model to decompose with, or it failed: sentences are scored
        if stats.config.claim_unit != ATOMIC:
            raise
        fallback = [f"Atomic claims could not be made ({error}); the sentences are scored instead."]
        stats = stats.with_config(replace(stats.config, claim_unit=SENTENCE))
        found = run_claims(stats)
    claims = found.flat
    reasons: dict[str, str] = {}
    support = _optional(stats, CLAIM_SUPPORT, reasons, ("support", "contradicting", "luq_uncertainty"))
    scores = claim_scores(claims, support) if support is not None else None
    logprobs = _optional(stats, lambda s: s.logprobs, reasons, ("mean_logprob", "min_logprob"))
    entropies = _optional(stats, lambda s: s.token_entropies, reasons, ("max_token_entropy", "relevance_weighted_entropy"))
    relevance = _optional(stats, lambda s: TOKEN_RELEVANCE(s).relevance, reasons, ("relevance_weighted_entropy",)) if entropies else None
    ccps = _claim_ccps(stats, claims, reasons) if with_ccp else None
    if not with_ccp:
        reasons["ccp_uncertainty"] = "computed on demand (--ccp): 2 NLI pairs per alternative of every token"
    if any(claim.first_token is None for claim in claims):
        reasons["first_token"] = "some answers' tokens do not spell their text, so their claims have no token span"
    rows = []
    for row, claim in enumerate(claims):
        span = slice(claim.first_token, None if claim.last_token is None else claim.last_token + 1)
        has_span = claim.first_token is not None
        own_logprobs = logprobs[claim.sample][span] if logprobs and has_span else None
        own_entropies = entropies[claim.sample][span] if entropies and has_span else None
        rows.append(ClaimRow(
            claim.sample, claim.text, claim.start, claim.end, claim.first_token, claim.last_token,
            _finite(scores.support[row]) if scores else None,
            scores.contradicting[row] if scores else None,
            _finite(1.0 - scores.luq_score[row]) if scores else None,
            ccps[row] if ccps else None,
            max(own_entropies) if own_entropies else None,
            float(np.mean(own_logprobs)) if own_logprobs else None,
            min(own_logprobs) if own_logprobs else None,
            relevance_weighted_entropy(own_entropies, relevance[claim.sample][span]) if own_entropies and relevance else None,
            claim.sentence,
        ))
    atomic = stats.config.claim_unit == ATOMIC
    sentences = CLAIMS(stats)
    notes = fallback + [f"S{k + 1} has {count} more sentences than the {len(sentences.claims[k])} kept per answer; they are left out."
                        for k, count in enumerate(sentences.left_out) if count]
    if atomic:
        notes += [f"S{k + 1} has {count} more atomic claims than the {len(found.claims[k])} kept per answer; they are left out."
                  for k, count in enumerate(found.left_out) if count]
        notes += decomposition_notes(stats)
    return ClaimsTable(rows, reasons, notes, claims, support)


def decomposition_notes(stats: RunStatistics) -> list[str]:
    """One note per kind of sentence the model did not decompose (unreadable reply, no fact, not asked), with a count."""
    config = stats.config
    decomposition = ATOMIC_CLAIMS(stats, config.claim_decomposition_prompt, config.claim_decomposition_max_new_tokens)
    counts = Counter(record.note for record in decomposition.sentences if record.note)
    total = len(decomposition.sentences)
    return [f"{count} of {total} sentences: {note}." for note, count in counts.items()]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _claim_ccps(stats: RunStatistics, claims: Sequence[Claim], reasons: dict[str, str]) -> list[float | None] | None:
    """Claim-level CCP uncertainty of every claim from its answer's judged token alternatives."""
    token_values: dict[int, list[float]] = {}
    for sample in sorted({claim.sample for claim in claims if claim.first_token is not None}):
        alternatives = _optional(stats, lambda s, k=sample: TOKEN_ALTERNATIVES(s, k), reasons, ("ccp_uncertainty",))
        if alternatives is None:
            return None
        token_values[sample] = [token_ccp(position).ccp for position in alternatives]
    return [claim_ccp_uncertainty(token_values[claim.sample][claim.first_token : claim.last_token + 1])
            if claim.first_token is not None else None for claim in claims]


@dataclass(frozen=True)
class Evidence:
    """Another answer's sentence that most decisively backs or contradicts a claim, with NLI(sentence → claim)."""

    sample: int
    sentence: str
    label: str
    entailment: float
    contradiction: float


def claim_evidence(stats: RunStatistics, claim: Claim) -> list[Evidence]:
    """For every other answer with a sentence, the one whose entailment or contradiction of the claim is the largest
    (one batched, cached NLI call over the other answers' sentences; docs/methods.md §13.2)."""
    sentences = [other for claims in CLAIMS(stats).claims for other in claims if other.sample != claim.sample]
    if not sentences:
        return []
    logits = stats.nli.pair_logits([other.text for other in sentences], [claim.text] * len(sentences))
    best: dict[int, Evidence] = {}
    for other, probabilities, label in zip(sentences, label_probabilities(logits), argmax_labels(logits)):
        candidate = Evidence(other.sample, other.text, str(label), float(probabilities[2]), float(probabilities[0]))
        held = best.get(other.sample)
        if held is None or max(candidate.entailment, candidate.contradiction) > max(held.entailment, held.contradiction):
            best[other.sample] = candidate
    return [best[k] for k in sorted(best)]


def write_claims_csv(table: ClaimsTable, path: str | Path) -> None:
    """One row per claim, COLUMNS in order; text cells are neutralised for spreadsheets, missing values are empty."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in table.rows:
            writer.writerow(["" if value is None else spreadsheet_cell(value) for value in asdict(row).values()])


LABELLED_CLAIMS = Path(__file__).resolve().parent.parent / "data" / "labelled_claims.csv"
LABELLED_RUNS = "labelled_claims_runs.jsonl.gz"  # beside the labels: the runs whose claims they label
# each claim score as an uncertainty (higher = more likely false)
AS_UNCERTAINTY = {
    "support": lambda value: 1.0 - value,
    "luq_uncertainty": lambda value: value,
    "ccp_uncertainty": lambda value: value,
    "max_token_entropy": lambda value: value,
    "mean_logprob": lambda value: -value,
    "min_logprob": lambda value: -value,
    "relevance_weighted_entropy": lambda value: value,
}


@dataclass(frozen=True)
class ClaimsEvaluation:
    """Claim-level AUROC and PRR of every claim score for telling false claims from true ones."""

    true_claims: int
    false_claims: int
    unverifiable: int
    unmatched: int
    auroc: dict[str, float | None]
    prr: dict[str, float | None]


def evaluate_claims(labels_path: str | Path, table_of: Any) -> ClaimsEvaluation:
    """Score the labelled claims (true = right, false = wrong; unverifiable ones are left out) with the claims table
    `table_of(run)` of each labelled run, matched on (run, sample, start, end) (docs/methods.md §13.5)."""
    import gzip

    from uqviz.format.run import run_from_json
    from uqviz.workflows.evaluation import auroc, prediction_rejection_ratio

    labels_path = Path(labels_path)
    with open(labels_path, newline="", encoding="utf-8") as handle:
        labelled = list(csv.DictReader(handle))
    with gzip.open(labels_path.with_name(LABELLED_RUNS), "rt", encoding="utf-8") as handle:
        runs = [run_from_json(line) for line in handle if line.strip()]
    rows: dict[tuple[int, int, int, int], ClaimRow] = {}
    for index in sorted({int(row["run"]) for row in labelled}):
        for row in table_of(runs[index]).rows:
            rows[index, row.sample, row.start, row.end] = row
    correct, scores, unmatched = [], {name: [] for name in AS_UNCERTAINTY}, 0
    for item in labelled:
        if item["label"] not in ("true", "false"):
            continue
        found = rows.get((int(item["run"]), int(item["sample"]), int(item["start"]), int(item["end"])))
        if found is None:
            unmatched += 1
            continue
        correct.append(1.0 if item["label"] == "true" else 0.0)
        for name, convert in AS_UNCERTAINTY.items():
            value = getattr(found, name)
            scores[name].append(None if value is None else convert(value))
    count = {label: sum(item["label"] == label for item in labelled) for label in ("true", "false", "unverifiable")}
    return ClaimsEvaluation(
        count["true"], count["false"], count["unverifiable"], unmatched,
        {name: auroc(correct, values) for name, values in scores.items()},
        {name: prediction_rejection_ratio(correct, values) for name, values in scores.items()},
    )
