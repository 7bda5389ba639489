"""Figures of kernel language entropy and semantic density: the heat kernel over the answers, its eigenvalue spectrum,
and each answer's semantic density (docs/methods.md §12.2, §12.3)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from uqviz.viz.clusters import hover_text

KERNEL_HOVER_CHARS = 160  # K² cells carry two answers each: keep the figure small
KERNEL_TEXT_MAX = 12
DENSITY_COLOUR = "#2ca02c"
SPECTRUM_COLOUR = "#9467bd"


def answer_labels(count: int) -> list[str]:
    """A1…An, the axis labels the kernel figures share with the semantic-volume page."""
    return [f"A{index}" for index in range(1, count + 1)]


def kernel_heatmap_figure(kernel: np.ndarray, answers: Sequence[str], value_name: str = "K_heat") -> go.Figure:
    """A K × K kernel over the answers in sample order; each cell's hover names both answers (escaped, shortened)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    labels = answer_labels(len(answers))
    hovers = [hover_text(answer, max_chars=KERNEL_HOVER_CHARS) for answer in answers]
    cells = [
        [f"<b>{labels[i]}</b>: {hovers[i]}<br><b>{labels[j]}</b>: {hovers[j]}<br>{value_name} = {kernel[i, j]:.4f}"
         for j in range(len(answers))]
        for i in range(len(answers))
    ]
    figure = go.Figure(
        go.Heatmap(
            z=kernel, x=labels, y=labels, text=cells, hovertemplate="%{text}<extra></extra>",
            texttemplate="%{z:.3f}" if len(answers) <= KERNEL_TEXT_MAX else None,
            colorscale="Viridis", zmin=0.0, colorbar=dict(title=dict(text=value_name, side="right")),
        )
    )
    figure.update_yaxes(autorange="reversed", scaleanchor="x")
    figure.update_layout(margin=dict(l=10, r=10, t=30, b=10), height=420)
    return figure


def kernel_spectrum_figure(eigenvalues: Sequence[float]) -> go.Figure:
    """Eigenvalues of a unit-trace kernel, largest first, each with its share -λ log λ of the von Neumann entropy; the
    dotted line is 1/K, where every eigenvalue sits when the answers share nothing (KLE = 1)."""
    values = sorted((float(value) for value in eigenvalues), reverse=True)
    hovers = [
        f"λ{rank} = {value:.4f}<br>−λ log λ = {-value * math.log(value) if value > 0 else 0.0:.4f} nats"
        for rank, value in enumerate(values, start=1)
    ]
    figure = go.Figure(
        go.Bar(
            x=[f"λ{rank}" for rank in range(1, len(values) + 1)], y=values, hovertext=hovers,
            hovertemplate="%{hovertext}<extra></extra>", marker_color=SPECTRUM_COLOUR,
        )
    )
    if values:
        figure.add_hline(y=1.0 / len(values), line_dash="dot", annotation_text=f"1/K = {1.0 / len(values):.3f} (KLE = 1)",
                         annotation_position="top right")
    figure.update_layout(yaxis=dict(title="eigenvalue λ", range=[0, max([1.0, *values])]),
                         margin=dict(l=10, r=10, t=30, b=10), height=320, showlegend=False)
    return figure


def density_figure(density: Sequence[float], answers: Sequence[str]) -> go.Figure:
    """Semantic density SD(a_j) of each answer, in sample order, with the escaped answer on hover."""
    values = [float(value) for value in density]
    labels = answer_labels(len(values))
    figure = go.Figure(
        go.Bar(
            x=labels, y=values, customdata=list(range(len(values))),
            hovertext=[f"<b>{label}</b> · SD = {value:.3f}<br>{hover_text(answer)}"
                       for label, value, answer in zip(labels, values, answers)],
            hovertemplate="%{hovertext}<extra></extra>", marker_color=DENSITY_COLOUR,
        )
    )
    figure.update_layout(yaxis=dict(title="semantic density SD(a_j)", range=[0, 1]), xaxis=dict(title="answer"),
                         margin=dict(l=10, r=10, t=30, b=10), height=320, showlegend=False)
    return figure
