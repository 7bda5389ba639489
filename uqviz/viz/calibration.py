"""Calibration views: a measure's reliability diagram (the profile's predicted P(wrong) per bin of U against the observed
error rate, with the bin's bootstrap interval) and the measures ranked by held-out quality (docs/methods.md §14)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from uqviz.measures.registry import REGISTRY
from uqviz.workflows.calibration import apply_map

DIAGONAL_COLOUR = "#868e96"
BIN_COLOUR = "#3b5bdb"
ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of U: its range, its rows, the map's mean P(wrong) there with the bootstrap interval, the observed error rate."""

    lower: float
    upper: float
    count: int
    wrong: int
    predicted: float
    low: float
    high: float

    @property
    def observed(self) -> float:
        """The share of wrong answers among the bin's rows."""
        return self.wrong / self.count


def reliability_bins(u: np.ndarray, wrong: np.ndarray, fitted: Mapping[str, Any]) -> list[ReliabilityBin]:
    """The profile's bins of U (deciles of the data) with their rows: a row falls in the bin `calibrate` would give its U."""
    bins = fitted["bins"]
    edges = np.asarray(bins["edges"], dtype=float)
    index = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(bins["low"]) - 1)
    predicted = apply_map(fitted["method"], fitted["map"], u)
    result = []
    for b in range(len(bins["low"])):
        inside = index == b
        if not inside.any():
            continue
        mean = float(predicted[inside].mean())
        result.append(ReliabilityBin(float(edges[b]), float(edges[min(b + 1, len(edges) - 1)]), int(inside.sum()),
                                     int(wrong[inside].sum()), mean, min(bins["low"][b], mean), max(bins["high"][b], mean)))
    return result


def reliability_figure(title: str, bins: Sequence[ReliabilityBin]) -> go.Figure:
    """Predicted P(wrong) per bin (x, with its 95 % bootstrap interval) against the observed error rate (y), and the diagonal."""
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color=DIAGONAL_COLOUR),
                                  name="perfectly calibrated", hoverinfo="skip"))
    figure.add_trace(go.Scatter(
        x=[entry.predicted for entry in bins], y=[entry.observed for entry in bins], mode="markers+lines", name="bins of U",
        marker=dict(color=BIN_COLOUR, size=[8 + 12 * entry.count / max(entry.count for entry in bins) for entry in bins]),
        line=dict(color=BIN_COLOUR, width=1),
        error_x=dict(type="data", symmetric=False, array=[entry.high - entry.predicted for entry in bins],
                     arrayminus=[entry.predicted - entry.low for entry in bins], color=BIN_COLOUR, thickness=1.5),
        hovertext=[bin_hover(entry) for entry in bins], hoverinfo="text",
    ))
    figure.update_layout(title=html.escape(title), xaxis_title="predicted P(wrong) (the profile's map)",
                         yaxis_title="observed error rate", xaxis_range=[-0.02, 1.02], yaxis_range=[-0.02, 1.02],
                         height=420, margin=dict(t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return figure


def bin_hover(entry: ReliabilityBin) -> str:
    """A bin's hover: its range of U, its questions, the predicted P(wrong) with the interval and the observed rate."""
    return (f"U in [{entry.lower:.4g}, {entry.upper:.4g}]<br>{entry.count} questions, {entry.wrong} wrong<br>"
            f"predicted P(wrong) {entry.predicted:.3f} (95 % interval {entry.low:.3f}–{entry.high:.3f})<br>"
            f"observed error rate {entry.observed:.3f}")


def ranked_names(profile: Mapping[str, Any]) -> list[str]:
    """The profile's fitted measures by the held-out Brier score of their chosen map, best first."""
    measures = profile["measures"]
    return sorted(measures, key=lambda name: measures[name]["held_out"][measures[name]["method"]]["brier"])


def measure_title(name: str) -> str:
    """The registry's title of a measure (its name when the registry has none)."""
    return REGISTRY[name].title if name in REGISTRY else name


def ranking_frame(profile: Mapping[str, Any]) -> pd.DataFrame:
    """Every measure of the profile by held-out Brier score (the ensemble among them), then those not fitted and why."""
    records = []
    for name in ranked_names(profile):
        fitted = profile["measures"][name]
        scores = fitted["held_out"][fitted["method"]]
        records.append({"name": name, "measure": measure_title(name), "calibrator": fitted["method"],
                        "held-out Brier": scores["brier"], "held-out ECE": scores["ece"], "held-out AUROC": scores["auroc"],
                        "rows": fitted["rows"], "note": ""})
    ensemble = profile.get("ensemble")
    if ensemble:
        records.append({"name": ENSEMBLE, "measure": f"logistic regression over {len(ensemble['measures'])} measures",
                        "calibrator": "logistic", "held-out Brier": ensemble["held_out"]["brier"], "held-out ECE": None,
                        "held-out AUROC": ensemble["held_out"]["auroc"], "rows": None,
                        "note": f"best single measure: {ensemble['best_single']['measure']}, AUROC {ensemble['best_single']['auroc']:.3f}"})
    records.sort(key=lambda record: record["held-out Brier"])
    records += [{"name": name, "measure": measure_title(name), "calibrator": None, "held-out Brier": None, "held-out ECE": None,
                 "held-out AUROC": None, "rows": None, "note": f"not fitted: {reason}"} for name, reason in profile["unfit"].items()]
    return pd.DataFrame.from_records(records, columns=["name", "measure", "calibrator", "held-out Brier", "held-out ECE",
                                                       "held-out AUROC", "rows", "note"])
