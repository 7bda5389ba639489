"""Figures and tables of scored runs: one run's scores, two runs' deltas, every measure across what-if runs."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.measures.registry import REGISTRY
from uqviz.workflows.store import MeasureDelta

PANEL_COLUMNS = 3
PANEL_HEIGHT = 190
TABLE_HEADER_HEIGHT = 70
TABLE_ROW_HEIGHT = 46  # room for a wrapped line of "higher means"


def measure_title(name: str) -> str:
    measure = REGISTRY.get(name)
    return measure.title if measure is not None else name


def scores_table_figure(scores: dict[str, Any]) -> go.Figure:
    """Every measure of one `uqviz.scores/1` dict: title, U, what higher means, cost, and why a value is missing."""
    rows = []
    for name, entry in scores.get("measures", {}).items():
        measure = REGISTRY.get(name)
        value = entry.get("value")
        rows.append(
            (
                measure_title(name),
                "—" if value is None else f"{value:.4g}",
                measure.higher_means if measure is not None else "",
                f"{entry.get('seconds', 0.0):.3f} s · {entry.get('model_calls', 0)} calls",
                entry.get("reason") or "",
            )
        )
    columns = ["measure", "U (higher = more uncertain)", "higher means", "cost", "why missing"]
    cells = [[html.escape(row[i]) for row in rows] for i in range(len(columns))]
    figure = go.Figure(
        go.Table(
            header={"values": [f"<b>{column}</b>" for column in columns], "align": "left"},
            cells={"values": cells, "align": "left"},
            columnwidth=[2, 1.2, 3, 1.4, 3],
        )
    )
    figure.update_layout(height=TABLE_HEADER_HEIGHT + TABLE_ROW_HEIGHT * max(len(rows), 1), margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def comparison_frame(deltas: Sequence[MeasureDelta], label_a: str, label_b: str) -> pd.DataFrame:
    """A table of both runs' U values and the delta b − a, one row per measure (labels are column names)."""
    return pd.DataFrame(
        {
            "measure": [measure_title(delta.name) for delta in deltas],
            label_a: [delta.a for delta in deltas],
            label_b: [delta.b for delta in deltas],
            "Δ (B − A)": [delta.delta for delta in deltas],
            "note": [delta.reason or "" for delta in deltas],
        }
    )


def comparison_figure(deltas: Sequence[MeasureDelta], label_a: str, label_b: str) -> go.Figure:
    """One bar per measure with both values: each measure on its own scale, so panels do not share a y axis."""
    shown = [delta for delta in deltas if delta.delta is not None]
    figure = _panels([measure_title(delta.name) for delta in shown])
    names = [html.escape(label_a), html.escape(label_b)]
    for index, delta in enumerate(shown):
        row, column = divmod(index, PANEL_COLUMNS)
        figure.add_trace(
            go.Bar(
                x=["A", "B"], y=[delta.a, delta.b], marker_color=["#4C78A8", "#F58518"], customdata=names,
                hovertemplate="%{customdata}<br>U = %{y:.4g}<extra></extra>", showlegend=False,
            ),
            row=row + 1, col=column + 1,
        )
        sign = "+" if delta.delta >= 0 else "−"
        figure.layout.annotations[index].text += f"<br>Δ = {sign}{abs(delta.delta):.3g}"
    figure.update_layout(title=f"A = {names[0]} · B = {names[1]}")
    return figure


def measures_figure(labels: Sequence[Any], values: dict[str, Sequence[float | None]], x_title: str) -> go.Figure:
    """Small multiples, one panel per measure, of U across runs (numeric labels such as temperatures draw lines)."""
    figure = _panels([measure_title(name) for name in values])
    numeric = all(isinstance(label, (int, float)) for label in labels)
    x = list(labels) if numeric else [html.escape(str(label)) for label in labels]
    for index, (name, series) in enumerate(values.items()):
        row, column = divmod(index, PANEL_COLUMNS)
        y = [None if value is None or not math.isfinite(value) else value for value in series]
        figure.add_trace(
            go.Scatter(
                x=x, y=y, mode="lines+markers" if numeric else "markers", name=html.escape(measure_title(name)),
                hovertemplate=f"{html.escape(x_title)} = %{{x}}<br>U = %{{y:.4g}}<extra></extra>", showlegend=False,
                marker={"size": 9},
            ),
            row=row + 1, col=column + 1,
        )
    figure.update_layout(title=f"U of every measure against {html.escape(x_title)}")
    return figure


def _panels(titles: Sequence[str]) -> go.Figure:
    rows = max(1, -(-len(titles) // PANEL_COLUMNS))
    figure = make_subplots(
        rows=rows, cols=PANEL_COLUMNS, subplot_titles=[html.escape(title) for title in titles] or None,
        # plotly allows at most 1 / (rows − 1) between rows; keep under it however many measures there are
        vertical_spacing=min(0.3 / rows + 0.05, 0.25, 0.9 / max(rows - 1, 1)), horizontal_spacing=0.08,
    )
    figure.update_layout(height=80 + PANEL_HEIGHT * rows, margin={"l": 40, "r": 10, "t": 70, "b": 30})
    return figure
