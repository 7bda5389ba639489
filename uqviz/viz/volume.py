"""Figures for semantic volume: Gram heatmap, eigenvalue spectrum, 2-D PCA scatter, volume over n (docs/methods.md §6)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from uqviz.measures.volume import equivalent_cosine, log_volume_bounds
from uqviz.viz.clusters import hover_text

GRAM_SCALE = "RdBu_r"
GRAM_TEXT_MAX = 20
GRAM_HOVER_CHARS = 200  # n² cells carry two texts each: keep a 64 × 64 figure small
SERIES_COLOURS = {"answers": "#1f77b4", "perturbations": "#d62728"}


def text_labels(prefix: str, count: int) -> list[str]:
    """Short axis labels: A1…An for answers, P1…Pn for perturbations."""
    return [f"{prefix}{index}" for index in range(1, count + 1)]


def gram_figure(gram: np.ndarray, texts: Sequence[str], labels: Sequence[str]) -> go.Figure:
    """The Gram matrix of unit embeddings (cosines) with both texts of each cell on hover."""
    hovers = [hover_text(text, max_chars=GRAM_HOVER_CHARS) for text in texts]
    cells = [
        [f"<b>{labels[i]}</b>: {hovers[i]}<br><b>{labels[j]}</b>: {hovers[j]}<br>cos = {gram[i, j]:.3f}" for j in range(len(texts))]
        for i in range(len(texts))
    ]
    figure = go.Figure(
        go.Heatmap(
            z=np.asarray(gram, dtype=np.float64),
            x=list(labels),
            y=list(labels),
            text=cells,
            hovertemplate="%{text}<extra></extra>",
            texttemplate="%{z:.2f}" if len(texts) <= GRAM_TEXT_MAX else None,
            colorscale=GRAM_SCALE,
            zmin=-1.0,
            zmax=1.0,
            zmid=0.0,
            colorbar=dict(title=dict(text="cosine", side="right")),
        )
    )
    figure.update_yaxes(autorange="reversed", scaleanchor="x")
    figure.update_layout(margin=dict(l=10, r=10, t=30, b=10), height=420)
    return figure


def spectrum_figure(eigenvalues: np.ndarray, epsilon: float) -> go.Figure:
    """Eigenvalues λ_i of the Gram matrix, as λ_i + ε on a log axis: log det = Σ log(λ_i + ε)."""
    shifted = np.asarray(eigenvalues, dtype=np.float64) + epsilon
    heights = [value if value > 0 else None for value in shifted]
    hovers = [
        f"λ{rank} = {value:.4g}<br>log(λ + ε) = {math.log(value + epsilon) if value + epsilon > 0 else -math.inf:.3f} nats"
        for rank, value in enumerate(np.asarray(eigenvalues, dtype=np.float64), start=1)
    ]
    figure = go.Figure(
        go.Bar(
            x=list(range(1, len(shifted) + 1)),
            y=heights,
            hovertext=hovers,
            hovertemplate="%{hovertext}<extra></extra>",
            marker_color="#4c78a8",
        )
    )
    if epsilon > 0:
        figure.add_hline(y=epsilon, line_dash="dot", annotation_text=f"ε = {epsilon:g}", annotation_position="top right")
    figure.update_yaxes(type="log", title="λ + ε", dtick=1, exponentformat="power")
    figure.update_xaxes(title="eigenvalue rank", dtick=1 if len(shifted) <= 20 else None)
    figure.update_layout(margin=dict(l=10, r=10, t=30, b=10), height=300, showlegend=False)
    return figure


def eigenscore_spectrum_figure(
    eigenscore_eigenvalues: Sequence[float], alpha: float, volume_eigenvalues: Sequence[float] | None = None, epsilon: float = 0.0
) -> go.Figure:
    """EigenScore's eigenvalues λ(Σ + αI) of the answers' hidden-state covariance beside the semantic volume's λ(G) + ε
    of their unit embeddings, each sorted largest first on one log axis: both measures average or sum the logs of
    these numbers. Values that are not positive have no place on a log axis and are left out (None)."""
    figure = go.Figure()
    series = [("EigenScore: λ(Σ + αI), hidden states", np.asarray(eigenscore_eigenvalues, dtype=np.float64), "#ff7f0e",
               f"α = {alpha:g}")]
    if volume_eigenvalues is not None:
        shifted = np.asarray(volume_eigenvalues, dtype=np.float64) + epsilon
        series.append(("Semantic volume: λ(G) + ε, embeddings", shifted, SERIES_COLOURS["answers"], f"ε = {epsilon:g}"))
    for name, values, colour, shift in series:
        ordered = sorted(values.tolist(), reverse=True)
        figure.add_trace(
            go.Scatter(
                x=list(range(1, len(ordered) + 1)), y=[value if value > 0 else None for value in ordered],
                mode="lines+markers", name=name, line=dict(color=colour),
                hovertemplate="rank %{x}: %{y:.4g}<extra>" + html.escape(shift) + "</extra>",
            )
        )
    longest = max((len(trace.x) for trace in figure.data), default=0)
    figure.update_yaxes(type="log", title="eigenvalue (log scale)", exponentformat="power")
    figure.update_xaxes(title="eigenvalue rank (largest first)", dtick=1 if longest <= 20 else None)
    figure.update_layout(margin=dict(l=10, r=10, t=30, b=10), height=340, legend=dict(orientation="h", y=-0.25))
    return figure


def scatter_figure(coordinates: np.ndarray, texts: Sequence[str], labels: Sequence[str], colour: str) -> go.Figure:
    """Texts at their 2-D PCA coordinates; customdata holds each text's index for click-to-inspect."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    figure = go.Figure(
        go.Scatter(
            x=coordinates[:, 0],
            y=coordinates[:, 1],
            mode="markers+text",
            text=list(labels),
            textposition="top center",
            customdata=list(range(len(texts))),
            hovertext=[hover_text(text) for text in texts],
            hovertemplate="<b>%{text}</b>: %{hovertext}<extra></extra>",
            marker=dict(size=11, color=colour),
        )
    )
    figure.update_xaxes(title="PC 1")
    figure.update_yaxes(title="PC 2", scaleanchor="x")
    figure.update_layout(margin=dict(l=10, r=10, t=30, b=10), height=360, showlegend=False, clickmode="event+select")
    return figure


def curve_figure(curves: Mapping[str, Sequence[float | None]], epsilon: float) -> go.Figure:
    """log det of the first k texts for k = 1..n, one line per series, between the identical and orthonormal bounds."""
    longest = max((len(curve) for curve in curves.values()), default=0)
    counts = list(range(1, longest + 1))
    figure = go.Figure()
    bounds = [log_volume_bounds(k, epsilon) for k in counts]
    figure.add_trace(
        go.Scatter(x=counts, y=[high for _, high in bounds], mode="lines", name="all unrelated (orthonormal)",
                   line=dict(color="#999999", dash="dot"))
    )
    figure.add_trace(
        go.Scatter(x=counts, y=[low for low, _ in bounds], mode="lines", name="all identical",
                   line=dict(color="#999999", dash="dash"))
    )
    for name, curve in curves.items():
        figure.add_trace(
            go.Scatter(
                x=list(range(1, len(curve) + 1)), y=list(curve), mode="lines+markers", name=name,
                line=dict(color=SERIES_COLOURS.get(name)),
                hovertemplate="first %{x}: log det = %{y:.3f}<extra>" + html.escape(name) + "</extra>",
            )
        )
    figure.update_xaxes(title="number of texts included (k)", dtick=1 if longest <= 20 else None)
    figure.update_yaxes(title="log det(G_k + εI)")
    figure.update_layout(margin=dict(l=10, r=10, t=30, b=10), height=340, legend=dict(orientation="h", y=-0.25))
    return figure


def volume_reading(value: float, count: int, epsilon: float, what: str) -> str:
    """A plain-language reading: the pairwise cosine of equally spread texts that would span the same volume.

    The verdict thresholds are a reading aid for MiniLM-like encoders, not part of the method.
    """
    cosine = equivalent_cosine(value, count, epsilon)
    if cosine is None:
        return f"log det = {value:.3f} nats for a single text: a volume needs at least two {what}."
    if cosine >= 0.9:
        verdict = f"the {what} essentially say the same thing (low uncertainty)"
    elif cosine >= 0.6:
        verdict = f"the {what} are close variants of one meaning (fairly low uncertainty)"
    elif cosine >= 0.3:
        verdict = f"the {what} partly differ in meaning (moderate uncertainty)"
    else:
        verdict = f"the {what} are largely unrelated in meaning (high uncertainty)"
    angle = math.degrees(math.acos(cosine))
    return (
        f"log det = {value:.3f} nats for {count} {what}: the same volume as {count} texts that all sit at "
        f"cosine {cosine:.2f} (about {angle:.0f}°) to each other, so {verdict}. A larger volume means the {what} "
        f"point in more different directions of meaning; a smaller one that they agree."
    )
