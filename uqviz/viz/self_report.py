"""Figures and tables of the Ask the model page: p(True) per answer, the verbalized-confidence replies and the judge's
replies (docs/methods.md §12.6, §12.7, §12.15)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from uqviz.measures.judge import JudgeDetail
from uqviz.measures.self_report import VerbalizedDetail
from uqviz.viz.clusters import hover_text

P_TRUE_SCALE = "RdYlGn"


def answer_label(index: int, text: str, width: int = 60) -> str:
    """A plain-text choice label for answer `index` (0-based): its number and the start of its text."""
    shortened = " ".join(text.split())
    shortened = shortened if len(shortened) <= width else shortened[: width - 1] + "…"
    return f"A{index + 1}: {shortened or '∅ (empty answer)'}"


def p_true_figure(probabilities: Sequence[float], answers: Sequence[str], token: str = "True") -> go.Figure:
    """p(token) after the P(True) prompt of each answer, one bar per answer (red = the model doubts it), the escaped
    answer on hover."""
    values = [float(value) for value in probabilities]
    read = html.escape(token.strip())
    labels = [f"A{index}" for index in range(1, len(values) + 1)]
    figure = go.Figure(
        go.Bar(
            x=labels, y=values, customdata=list(range(len(values))),
            marker_color=sample_colorscale(P_TRUE_SCALE, [min(max(value, 0.0), 1.0) for value in values]) if values else [],
            hovertext=[f"<b>{label}</b> · p({read}) = {value:.3f}<br>{hover_text(answer)}"
                       for label, value, answer in zip(labels, values, answers)],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    figure.update_layout(
        yaxis=dict(title=f"p({read} | prompt)", range=[0, 1]), xaxis=dict(title="answer"),
        margin=dict(l=10, r=10, t=30, b=10), height=320, showlegend=False,
    )
    return figure


def verbalized_rows(detail: VerbalizedDetail, answers: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per reply: what was asked about (the answer, for 2-stage), the raw reply, the confidence read from it,
    and why none could be read. Every string is the raw text: a table cell shows it as plain text."""
    rows = []
    for index, stated in enumerate(detail.stated):
        row: dict[str, Any] = {}
        if answers is not None:
            row["answer"] = f"A{index + 1}"
            row["answer text"] = answers[index]
        row["reply"] = stated.reply
        row["confidence"] = stated.confidence
        row["why not read"] = stated.reason or ""
        rows.append(row)
    return rows


def judge_rows(detail: JudgeDetail, answers: Sequence[str]) -> list[dict[str, Any]]:
    """One row per answer: its text, the judge's raw reply, what was read from it (a keyword or the digits), the score
    J and U = 1 − J, and why nothing could be read. Every string is the raw text: a table cell shows it as plain text."""
    return [
        {"answer": f"A{index + 1}", "answer text": answer, "reply": judged.reply, "read": judged.read or "",
         "J": judged.score, "U": None if judged.score is None else 1.0 - judged.score, "why not read": judged.reason or ""}
        for index, (answer, judged) in enumerate(zip(answers, detail.judged, strict=True))
    ]
