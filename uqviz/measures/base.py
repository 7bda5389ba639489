"""What every measure is: a named pure function from run statistics to a result holding its detail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uqviz.statistics.base import RunStatistics


@dataclass(frozen=True)
class MeasureResult:
    """U (higher = more uncertain), per-sample U where the method has one, and the method's own detail."""

    value: float | None
    per_sample: list[float] | None = None
    detail: Any = None
    reason: str | None = None


@dataclass(frozen=True)
class Measure:
    """A registered measure: how to compute it from RunStatistics and how to explain it."""

    name: str
    title: str
    compute: Callable[[RunStatistics], MeasureResult]
    formula: str
    higher_means: str
    reference: str
    needs: tuple[str, ...] = ("logprobs",)
    on_demand: bool = False  # costly: computed when asked for, never among a run's default analyses
    cost: str = ""  # what it costs beyond the shared statistics, where that is more than arithmetic
