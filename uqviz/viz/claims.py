"""Claims views: answers with their claims tinted by support, the claim × sample matrix of NLI labels, a claim's kind and
its tokens (LUQ, Zhang et al. EMNLP 2024; docs/methods.md §13). Pure builders; every text is escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import plotly.graph_objects as go

from uqviz.format.run import Sample
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL
from uqviz.statistics.claims import Claim, ClaimSupport
from uqviz.viz.tokens import PROBABILITY_SCALE, coloured_tokens_html, colour_for, legend_html, token_title

SUPPORT_SCALE = [[0.0, "#fcbba1"], [1.0, "#a1d99b"]]  # light red (no other answer backs it) to light green
LABEL_COLOURS = {ENTAILMENT: "#31a354", NEUTRAL: "#bdbdbd", CONTRADICTION: "#de2d26"}
LABEL_WORDS = {ENTAILMENT: "backs it", NEUTRAL: "says nothing about it", CONTRADICTION: "contradicts it"}
CONSENSUS, SOME, LONELY = "consensus", "some support", "lonely"
LABEL_LENGTH = 48


def claim_kind(labels: Sequence[str]) -> str:
    """consensus: most other answers entail it; lonely: none does; else some support (the other answers' labels)."""
    others = [label for label in labels if label]
    backing = sum(label == ENTAILMENT for label in others)
    if others and backing > len(others) / 2:
        return CONSENSUS
    return LONELY if backing == 0 else SOME


def claim_label(claim: Claim, length: int = LABEL_LENGTH) -> str:
    """S{k}·{i} and the claim's beginning, for axes and choices (not escaped)."""
    text = " ".join(claim.text.split())
    return f"S{claim.sample + 1}·{claim.index + 1} {text if len(text) <= length else text[: length - 1] + '…'}"


def tinted_answer_html(text: str, claims: Sequence[Claim], support: Sequence[float | None], kinds: Sequence[str]) -> str:
    """An answer with each claim's span tinted by its support (grey where unknown) and its support, contradictions and
    kind in the hover title; text between claims is shown plain."""
    parts, cursor = [], 0
    for claim, value, kind in zip(claims, support, kinds):
        parts.append(html.escape(text[cursor : claim.start]))
        colour = "#eeeeee" if value is None else colour_for(value, 0.0, 1.0, SUPPORT_SCALE)
        title = f"S{claim.sample + 1}·{claim.index + 1}: {kind}" + ("" if value is None else f", support {value:.3f}")
        parts.append(f'<span class="uqviz-claim" style="background:{colour};border-radius:3px;padding:1px 2px" '
                     f'title="{html.escape(title, quote=True)}">{html.escape(text[claim.start : claim.end])}</span>')
        cursor = claim.end
    parts.append(html.escape(text[cursor:]))
    return '<div style="white-space:pre-wrap;line-height:1.8">' + "".join(parts) + "</div>"


def support_legend_html() -> str:
    return legend_html("support 0: no other answer entails the claim", "1: every other answer does", SUPPORT_SCALE)


def claim_matrix_figure(claims: Sequence[Claim], support: ClaimSupport, answers: Sequence[str]) -> go.Figure:
    """One square per claim (row) and answer (column), coloured by the NLI label of the claim given that answer; the
    claim's own answer is an empty square. Each point's customdata is the claim's row, so a click selects the claim."""
    figure = go.Figure()
    rows = [claim_label(claim) for claim in claims]
    for label, colour in LABEL_COLOURS.items():
        cells = [(row, k) for row in range(len(claims)) for k in range(len(answers)) if support.labels[row, k] == label]
        figure.add_trace(go.Scatter(
            x=[f"S{k + 1}" for _, k in cells], y=[rows[row] for row, _ in cells], mode="markers", name=LABEL_WORDS[label],
            marker={"symbol": "square", "size": 18, "color": colour, "line": {"width": 1, "color": "#555"}},
            customdata=[[row] for row, _ in cells],
            hovertext=[_cell_hover(claims[row], k, answers[k], support.probabilities[row, k], label) for row, k in cells],
            hovertemplate="%{hovertext}<extra></extra>",
        ))
    figure.add_trace(go.Scatter(
        x=[f"S{claim.sample + 1}" for claim in claims], y=rows, mode="markers", name="its own answer",
        marker={"symbol": "square-open", "size": 18, "color": "#777"}, customdata=[[row] for row in range(len(claims))],
        hovertext=[f"{html.escape(claim_label(claim))}<br>its own answer" for claim in claims], hovertemplate="%{hovertext}<extra></extra>",
    ))
    figure.update_xaxes(categoryorder="array", categoryarray=[f"S{k + 1}" for k in range(len(answers))], side="top", title_text="answer")
    figure.update_yaxes(categoryorder="array", categoryarray=rows[::-1], title_text=None)
    figure.update_layout(height=120 + 26 * len(claims), margin={"l": 20, "r": 20, "t": 60, "b": 20},
                         legend={"orientation": "h", "y": -0.02, "yanchor": "top"}, clickmode="event+select")
    return figure


def _cell_hover(claim: Claim, sample: int, answer: str, probabilities: Sequence[float], label: str) -> str:
    contradiction, neutral, entailment = probabilities
    shown = " ".join(answer.split())
    return (f"<b>{html.escape(claim_label(claim))}</b><br>S{sample + 1} {LABEL_WORDS[label]}<br>"
            f"P(entailment) = {entailment:.3f}, P(neutral) = {neutral:.3f}, P(contradiction) = {contradiction:.3f}<br>"
            f"S{sample + 1}: {html.escape(shown[:120] + ('…' if len(shown) > 120 else ''))}")


def claim_tokens_html(sample: Sample, first: int, last: int) -> str:
    """The claim's tokens coloured by probability, each with its probability, entropy and alternatives on hover."""
    indices = range(first, last + 1)
    return coloured_tokens_html([sample.tokens[i] for i in indices], [math.exp(sample.logprobs[i]) for i in indices],
                                [token_title(sample, i) for i in indices], 0.0, 1.0, PROBABILITY_SCALE)
