"""Compute every registered measure for a run and write `uqviz.scores/1` (README.md, "Command line")."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uqviz.format.run import Run
from uqviz.measures.base import MeasureResult
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.clustering import MEANING_JUDGE, MeaningJudge
from uqviz.statistics.relevance import TokenRelevance, computed_token_relevance

if TYPE_CHECKING:
    import pandas

SCORES_SCHEMA = "uqviz.scores/1"


@dataclass(frozen=True)
class ScoredMeasure:
    name: str
    result: MeasureResult
    seconds: float
    model_calls: int


@dataclass(frozen=True)
class Scores:
    measures: dict[str, ScoredMeasure]
    similarity: str | None
    token_relevance: TokenRelevance | None = None
    judge: MeaningJudge | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCORES_SCHEMA,
            "similarity": self.similarity,
            "judge": None if self.judge is None else {
                "rule": self.judge.rule, "description": self.judge.description, "note": self.judge.note,
            },
            "measures": {
                name: {
                    "value": _finite_or_none(scored.result.value),
                    "per_sample": None if scored.result.per_sample is None else [_finite_or_none(v) for v in scored.result.per_sample],
                    "reason": scored.result.reason,
                    "seconds": round(scored.seconds, 6),
                    "model_calls": scored.model_calls,
                }
                for name, scored in self.measures.items()
            },
            "token_relevance": None if self.token_relevance is None else self.token_relevance.relevance,
            "token_relevance_precision": None if self.token_relevance is None else self.token_relevance.precision,
        }

    def to_frame(self) -> "pandas.DataFrame":
        """One row per measure, indexed by its registry name: value (U), what higher means, seconds, model calls and the
        reason where it is null."""
        import pandas

        rows = [
            {
                "measure": name,
                "title": REGISTRY[name].title,
                "value": _finite_or_none(scored.result.value),
                "higher means": REGISTRY[name].higher_means,
                "seconds": scored.seconds,
                "model calls": scored.model_calls,
                "reason": scored.result.reason,
            }
            for name, scored in self.measures.items()
        ]
        columns = ["measure", "title", "value", "higher means", "seconds", "model calls", "reason"]
        return pandas.DataFrame(rows, columns=columns).set_index("measure")

    def __getitem__(self, name: str) -> ScoredMeasure:
        return self.measures[name]


def on_demand_reason(name: str) -> str:
    """Why an on-demand measure has no value yet, and how to ask for it."""
    return f"computed on demand ({REGISTRY[name].cost}): use the button on All scores, or --on-demand {name}"


def score_run(
    run: Run, statistics: RunStatistics | None = None, names: list[str] | None = None, on_demand: Sequence[str] = (),
    before_each: Callable[[int, int, str], None] | None = None,
) -> Scores:
    """Every registered measure (or `names`), each timed, sharing one RunStatistics. On-demand measures are computed
    only when named in `names` or `on_demand`; otherwise they are listed with the reason. `before_each(done, total,
    name)` is called before each measure: progress, or a check that raises to stop the work (the app's, once the
    browser session that asked has gone).

    A measure whose model is missing gets value None and the reason, the others are still computed.
    """
    statistics = statistics or RunStatistics(run, ScoreConfig())
    measures = {}
    chosen = names or list(REGISTRY)
    for done, name in enumerate(chosen):
        if before_each is not None:
            before_each(done, len(chosen), name)
        measure = REGISTRY[name]
        before = sum(cost.model_calls for cost in statistics.costs.values())
        started = time.perf_counter()
        if names is None and measure.on_demand and name not in on_demand:
            result = MeasureResult(None, None, reason=on_demand_reason(name))
        elif not run.samples:
            result = MeasureResult(None, None, reason="the run has no samples")
        else:
            try:
                result = measure.compute(statistics)
            except MissingInputError as error:
                result = MeasureResult(None, None, reason=str(error))
            if result.value is not None and not math.isfinite(result.value) and result.reason is None:
                result = replace(result, reason=f"the value is {result.value} (not finite): the inputs overflow a float")
            elif result.value is not None and run.distribution and "token entropies" in measure.needs:
                result = replace(result, reason=f"approximate: entropies from the server's {run.distribution} log-probs only")
        seconds = time.perf_counter() - started
        calls = sum(cost.model_calls for cost in statistics.costs.values()) - before
        measures[name] = ScoredMeasure(name, result, seconds, calls)
    return Scores(
        measures, similarity=statistics.similarity_name, token_relevance=computed_token_relevance(statistics),
        judge=statistics.cached(MEANING_JUDGE),
    )


def write_scores(scores: Scores, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """scores.json, with `extra` top-level fields (a calibration profile's `calibrated` and `profile_differences`)."""
    Path(path).write_text(json.dumps({**scores.to_dict(), **(extra or {})}, indent=1, allow_nan=False), encoding="utf-8")


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
