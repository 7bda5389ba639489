"""Token alternatives (CCP) views: each token's 1 − CCP next to its −log p, its alternatives as a table and as
coloured, escaped token spans (Fadeeva et al. ACL 2024; docs/methods.md §12.5). Pure builders, every text escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqviz.measures.ccp import TokenCcp
from uqviz.viz.tokens import coloured_tokens_html, legend_html

CHANGE_ROW = "1 − CCP"
SURPRISAL_ROW = "−log p"
# Light halves of Reds and OrRd, so the cell text and black token text stay readable on the strongest colour.
CHANGE_SCALE = [[0.0, "#fff5f0"], [1.0, "#ef3b2c"]]
SURPRISAL_SCALE = [[0.0, "#fff7ec"], [1.0, "#ef6548"]]
CELL_TEXT_LIMIT = 40  # above this many tokens the cells carry no numbers
TICK_LENGTH = 14


def token_label(token: str, length: int = TICK_LENGTH) -> str:
    """An escaped axis tick for a token: a newline shows as ↵, an empty token as ∅, long tokens are shortened."""
    text = token.replace("\n", "↵") or "∅"
    return html.escape(text if len(text) <= length else text[: length - 1] + "…")


def alternatives_lines(token: TokenCcp) -> list[str]:
    """One plain line per alternative: its text, probability and combined NLI label (not escaped)."""
    return [
        f"{alternative!r}: p={math.exp(logprob):.3f}, {label}"
        for alternative, logprob, label in zip(token.tokens[1:], token.logprobs[1:], token.labels[1:])
    ]


def token_hover(token: TokenCcp) -> str:
    """A plotly hover label for one token (escaped; hover labels read HTML): the token, its CCP and −log p, then the
    alternatives with their probabilities and combined labels."""
    head = (
        f"<b>{html.escape(repr(token.tokens[0]))}</b> (position {token.position + 1})<br>"
        f"CCP = {token.ccp:.3f}, 1 − CCP = {1 - token.ccp:.3f}<br>−log p = {-token.logprobs[0]:.3f} nats"
    )
    lines = alternatives_lines(token)
    if not lines:
        return head + "<br>no other likely token"
    return head + "<br>alternatives:<br>" + "<br>".join(html.escape(line) for line in lines)


def ccp_figure(tokens: Sequence[TokenCcp]) -> go.Figure:
    """Two heatmap rows over the answer's tokens: 1 − CCP (does a likely alternative change what the answer says?)
    above −log p (was the token unlikely at all?), each on its own colour scale, x = token position."""
    positions = list(range(1, len(tokens) + 1))
    change = [1.0 - token.ccp for token in tokens]
    surprisal = [-token.logprobs[0] for token in tokens]
    hover = [[token_hover(token) for token in tokens]]
    cell_text = "%{z:.2f}" if len(tokens) <= CELL_TEXT_LIMIT else None
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    figure.add_trace(
        go.Heatmap(
            z=[change], x=positions, y=[CHANGE_ROW], zmin=0.0, zmax=1.0, colorscale=CHANGE_SCALE, text=hover,
            hovertemplate="%{text}<extra>1 − CCP</extra>", texttemplate=cell_text, name=CHANGE_ROW,
            colorbar={"title": {"text": CHANGE_ROW, "side": "right"}, "y": 0.78, "len": 0.45},
        ),
        row=1, col=1,
    )
    figure.add_trace(
        go.Heatmap(
            z=[surprisal], x=positions, y=[SURPRISAL_ROW], zmin=0.0, zmax=max(surprisal, default=0.0) or 1.0,
            colorscale=SURPRISAL_SCALE, text=hover, hovertemplate="%{text}<extra>−log p</extra>", texttemplate=cell_text,
            name=SURPRISAL_ROW, colorbar={"title": {"text": "nats", "side": "right"}, "y": 0.22, "len": 0.45},
        ),
        row=2, col=1,
    )
    ticks = {"tickmode": "array", "tickvals": positions, "ticktext": [token_label(token.tokens[0]) for token in tokens]}
    figure.update_xaxes(showgrid=False, **ticks)
    figure.update_xaxes(title_text="token of the answer", row=2, col=1)
    figure.update_yaxes(showgrid=False)
    figure.update_layout(height=300, margin={"l": 60, "r": 20, "t": 20, "b": 60})
    return figure


def ccp_title(token: TokenCcp) -> str:
    """Plain hover text of a token span (escaped by token_span): the token, CCP, −log p and its alternatives."""
    head = f"{token.tokens[0]!r}  CCP={token.ccp:.3f}  −log p={-token.logprobs[0]:.3f}"
    lines = alternatives_lines(token)
    return head + ("\nalternatives:\n  " + "\n  ".join(lines) if lines else "\nno other likely token")


def ccp_tokens_html(tokens: Sequence[TokenCcp]) -> str:
    """The answer's tokens as escaped spans coloured by 1 − CCP on [0, 1], the alternatives in each hover title."""
    return coloured_tokens_html(
        [token.tokens[0] for token in tokens], [1.0 - token.ccp for token in tokens], [ccp_title(token) for token in tokens],
        0.0, 1.0, CHANGE_SCALE,
    )


def ccp_legend_html() -> str:
    return legend_html("1 − CCP = 0: no likely alternative changes the meaning", "1: every judged alternative does", CHANGE_SCALE)


def alternatives_rows(tokens: Sequence[TokenCcp]) -> list[dict[str, Any]]:
    """The table: one row per alternative of every token, with the sampled token, its probability and CCP."""
    return [
        {
            "position": token.position + 1,
            "token": repr(token.tokens[0]),
            "token p": math.exp(token.logprobs[0]),
            "alternative": repr(alternative),
            "probability": math.exp(logprob),
            "label": label,
            "CCP of the token": token.ccp,
        }
        for token in tokens
        for alternative, logprob, label in zip(token.tokens[1:], token.logprobs[1:], token.labels[1:])
    ]


ALTERNATIVE_COLUMNS = ("position", "token", "token p", "alternative", "probability", "label", "CCP of the token")
