"""The registry of measures: adding one means its module, one line here, and its test."""

from __future__ import annotations

from uqviz.measures import logprob, self_certainty
from uqviz.measures.base import Measure, MeasureResult

FAMILIES = (
    logprob,
    self_certainty,
)

REGISTRY: dict[str, Measure] = {measure.name: measure for family in FAMILIES for measure in family.MEASURES}

__all__ = ["REGISTRY", "Measure", "MeasureResult"]
