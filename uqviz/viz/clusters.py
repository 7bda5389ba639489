"""Figures of the semantic-clusters view: the 2-D meaning map, the pairwise matrix ordered by cluster, the Laplacian spectrum."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NLI_LABELS, label_probabilities
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.clustering import ANSWER_NLI_LOGITS, RULES, Clustering

CLUSTER_PALETTE = qualitative.D3 + qualitative.Set2 + qualitative.Pastel1
HOVER_WIDTH = 60
HOVER_MAX_CHARS = 400


def cluster_colour(class_id: int) -> str:
    """One fixed colour per cluster id, shared by every figure of the view."""
    return CLUSTER_PALETTE[class_id % len(CLUSTER_PALETTE)]


def hover_text(text: str, width: int = HOVER_WIDTH, max_chars: int = HOVER_MAX_CHARS) -> str:
    """An answer for a plotly hover label: shortened, wrapped with <br>, every line escaped."""
    shortened = text if len(text) <= max_chars else text[: max_chars - 1] + "…"
    lines = textwrap.wrap(shortened, width=width, replace_whitespace=True) or ["∅ (empty answer)"]
    return "<br>".join(html.escape(line) for line in lines)


def cluster_order(ids: Sequence[int]) -> list[int]:
    """Sample indices sorted by cluster id, then by sample index."""
    return sorted(range(len(ids)), key=lambda index: (ids[index], index))


def meaning_map_figure(coordinates: np.ndarray, answers: Sequence[str], ids: Sequence[int], method: str) -> go.Figure:
    """The samples in 2-D, one trace per cluster, sample ids in customdata, the escaped answer on hover."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    figure = go.Figure()
    for class_id in range(max(ids, default=-1) + 1):
        members = [index for index, own in enumerate(ids) if own == class_id]
        figure.add_trace(
            go.Scatter(
                x=coordinates[members, 0], y=coordinates[members, 1], mode="markers+text",
                name=f"cluster {class_id + 1} ({len(members)})",
                text=[str(index + 1) for index in members], textposition="top center",
                marker=dict(size=14, color=cluster_colour(class_id), line=dict(width=1, color="white")),
                customdata=members,
                hovertext=[f"<b>Sample {index + 1}</b> · cluster {class_id + 1}<br>{hover_text(answers[index])}" for index in members],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    label = method.upper()
    figure.update_layout(
        xaxis=dict(title=f"{label} 1", zeroline=False, showticklabels=False),
        yaxis=dict(title=f"{label} 2", zeroline=False, showticklabels=False),
        legend=dict(title="meaning class"), margin=dict(l=10, r=10, t=30, b=10), height=420, clickmode="event+select",
    )
    return figure


def pairwise_heatmap_figure(
    matrix: np.ndarray, ids: Sequence[int], value_name: str, zmin: float = 0.0, zmax: float = 1.0,
    hover: np.ndarray | None = None,
) -> go.Figure:
    """A K × K pairwise matrix with rows and columns ordered by cluster and each cluster's block outlined; `hover` adds
    lines per cell, separated by newlines and escaped here (the NLI labels and probabilities of both directions)."""
    order = cluster_order(ids)
    matrix = np.asarray(matrix, dtype=np.float64)[np.ix_(order, order)]
    labels = [f"S{index + 1} · c{ids[index] + 1}" for index in order]
    extra = None if hover is None else np.vectorize(lambda cell: "<br>".join(map(html.escape, cell.split("\n"))))(
        np.asarray(hover, dtype=object)[np.ix_(order, order)]
    )
    figure = go.Figure(
        go.Heatmap(
            z=matrix, x=labels, y=labels, zmin=zmin, zmax=zmax, colorscale="Viridis", customdata=extra,
            colorbar=dict(title=dict(text=value_name, side="right")),
            hovertemplate="%{y} → %{x}<br>" + html.escape(value_name) + " = %{z:.3f}"
            + ("" if extra is None else "<br>%{customdata}") + "<extra></extra>",
            texttemplate="%{z:.2f}" if len(order) <= 12 else None,
        )
    )
    start = 0
    for class_id in range(max(ids, default=-1) + 1):
        size = sum(1 for own in ids if own == class_id)
        figure.add_shape(
            type="rect", x0=start - 0.5, x1=start + size - 0.5, y0=start - 0.5, y1=start + size - 0.5,
            line=dict(color=cluster_colour(class_id), width=3),
        )
        start += size
    figure.update_layout(yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=30, b=10), height=460)
    return figure


def laplacian_spectrum_figure(eigenvalues: Sequence[float], threshold: float) -> go.Figure:
    """Eigenvalues of the normalised Laplacian; bars below the eccentricity threshold are the kept eigenvectors."""
    eigenvalues = list(eigenvalues)
    figure = go.Figure(
        go.Bar(
            x=[f"λ{k + 1}" for k in range(len(eigenvalues))], y=eigenvalues,
            marker_color=["#1f77b4" if value < threshold else "#c7c7c7" for value in eigenvalues],
            hovertemplate="%{x} = %{y:.4f}<extra></extra>",
        )
    )
    figure.add_hline(y=1.0, line_dash="dot", annotation_text="1 (EigV adds 1 − λ below this)", annotation_position="top left")
    figure.add_hline(y=threshold, line_dash="dash", line_color="#d62728",
                     annotation_text=f"Ecc threshold {threshold:g}", annotation_position="bottom right")
    figure.update_layout(yaxis=dict(title="eigenvalue λ", range=[0, max([2.0, *eigenvalues])]), margin=dict(l=10, r=10, t=30, b=10), height=320)
    return figure


def cluster_rows(
    ids: Sequence[int], answers: Sequence[str], frequency: Sequence[float], probability: Sequence[float] | None
) -> list[dict[str, Any]]:
    """One row per cluster: its members (1-based), an example answer, frequency |c|/K and probability mass p(c) (None without log-probs)."""
    rows = []
    for class_id in range(max(ids, default=-1) + 1):
        members = [index for index, own in enumerate(ids) if own == class_id]
        rows.append(
            {
                "cluster": class_id + 1,
                "size": len(members),
                "frequency |c|/K": float(frequency[class_id]),
                "probability mass p(c)": None if probability is None else float(probability[class_id]),
                "members": ", ".join(str(index + 1) for index in members),
                "first answer": answers[members[0]],
            }
        )
    return rows


def selected_sample_id(selection: Mapping[str, Any] | None, count: int) -> int | None:
    """The sample id (customdata) of the first selected point, or None when nothing valid is selected."""
    for point in (selection or {}).get("points") or []:
        value = point.get("customdata")
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() and 0 <= value < count:
            return int(value)
    return None


def pairwise_matrix(stats: RunStatistics, clustering: Clustering) -> tuple[np.ndarray, str, float, np.ndarray | None]:
    """The matrix the rule judged, over samples: entailment probability (NLI rules, with both directions' labels and
    probabilities for the hover) or cosine similarity."""
    if RULES[clustering.rule].needs_nli:
        index = clustering.unique_index
        probability = label_probabilities(ANSWER_NLI_LOGITS(stats))[np.ix_(index, index)]
        labels = np.asarray(NLI_LABELS)[np.argmax(probability, axis=-1)]
        entail, contra = NLI_LABELS.index(ENTAILMENT), NLI_LABELS.index(CONTRADICTION)

        def direction(i: int, j: int) -> str:
            return f"{labels[i, j]} (entailment {probability[i, j, entail]:.2f}, contradiction {probability[i, j, contra]:.2f})"

        count = len(index)
        hover = np.array([[f"row→column: {direction(i, j)}\ncolumn→row: {direction(j, i)}" for j in range(count)]
                          for i in range(count)], dtype=object)
        return probability[..., entail], "P(row entails column)", 0.0, hover
    vectors = stats.answer_embeddings
    cosine = vectors @ vectors.T
    return cosine, "cosine similarity", min(0.0, float(cosine.min())), None
