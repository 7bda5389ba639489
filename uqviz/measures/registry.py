"""The registry of measures: adding one means its module, one line here, and its test."""

from __future__ import annotations

from uqviz.measures import graph, lexical, logprob, sar, self_certainty, semantic, uqac, volume
from uqviz.measures.base import Measure

FAMILIES = (
    logprob,
    self_certainty,
    sar,
    semantic,
    lexical,
    graph,
    volume,
    uqac,
)

REGISTRY: dict[str, Measure] = {measure.name: measure for family in FAMILIES for measure in family.MEASURES}
