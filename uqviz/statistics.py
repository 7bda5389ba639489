"""Heavy, shared statistics of a run, computed once and read by every measure (the lm-polygraph split)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

from uqviz.measures.logprob import DEFAULT_CHOW_QUANTILE
from uqviz.run import Run


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of the measures that have any; defaults follow ALGORITHMS.md."""

    chow_alpha: float = DEFAULT_CHOW_QUANTILE


@dataclass
class Cost:
    seconds: float = 0.0
    model_calls: int = 0


class RunStatistics:
    """Lazily computed views of a run; `costs` records what each expensive statistic took."""

    def __init__(self, run: Run, config: ScoreConfig | None = None) -> None:
        self.run = run
        self.config = config or ScoreConfig()
        self.costs: dict[str, Cost] = {}

    @cached_property
    def logprobs(self) -> list[list[float]]:
        return [sample.logprobs for sample in self.run.samples]

    @cached_property
    def token_kl_from_uniform(self) -> list[list[float]]:
        return [sample.kl_from_uniform for sample in self.run.samples]

    def timed(self, name: str):
        """Context manager that adds elapsed seconds to costs[name]."""
        return _Timer(self.costs.setdefault(name, Cost()))


@dataclass
class _Timer:
    cost: Cost
    started: float = field(default=0.0)

    def __enter__(self) -> Cost:
        self.started = time.perf_counter()
        return self.cost

    def __exit__(self, *exc) -> None:
        self.cost.seconds += time.perf_counter() - self.started
