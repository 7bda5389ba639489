"""The registry of measures: adding one means its module, one line here, and its test."""

from __future__ import annotations

from uqviz.measures import (
    bayesian_entropy,
    ccp,
    cocoa,
    consistency,
    distribution,
    eigenscore,
    graph,
    judge,
    kernel_entropy,
    lexical,
    logprob,
    luq,
    pmi,
    rauq,
    reweighted,
    sar,
    self_certainty,
    self_report,
    semantic,
    semantic_density,
    token_entropy,
    top_k,
    uqac,
    volume,
)
from uqviz.measures.base import Measure

FAMILIES = (
    logprob,
    self_certainty,
    sar,
    semantic,
    bayesian_entropy,
    lexical,
    graph,
    volume,
    uqac,
    rauq,
    token_entropy,
    top_k,
    distribution,
    eigenscore,
    kernel_entropy,
    semantic_density,
    cocoa,
    consistency,
    self_report,
    judge,
    ccp,
    luq,
    pmi,
    reweighted,
)

REGISTRY: dict[str, Measure] = {measure.name: measure for family in FAMILIES for measure in family.MEASURES}

ON_DEMAND: tuple[str, ...] = tuple(name for name, measure in REGISTRY.items() if measure.on_demand)
