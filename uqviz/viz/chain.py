"""Figures of the attention-chain view: the UQAC chain graph, the answer with chain tokens marked, the expansions, and RAUQ's heads."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from uqviz.measures.rauq import RauqDetail
from uqviz.measures.uqac import UqacChain, UqacDetail
from uqviz.viz.tokens import PROBABILITY_SCALE, token_span

EDGE_BUCKETS = ((0.0, 1.0), (0.1, 2.0), (0.25, 3.5), (0.5, 5.0))
"""(lowest reduced attention, line width): edges are drawn in a few traces, one per weight bucket."""
EDGE_COLOURS = sample_colorscale("Blues", [0.4, 0.6, 0.8, 1.0])
ANSWER_COLOUR = "#f46d43"
SIMILAR_COLOUR = "#74add1"
CHAIN_COLOUR = "#e0f3f8"
LABEL_CHARS = 12
ANSWER_LABELS = 4
"""Answer spans longer than this are drawn without node labels (they would overlap on one row); hover still names them."""


def label(token: str) -> str:
    """A short, escaped node label; whitespace-only tokens show as their repr."""
    text = token.strip() or repr(token)
    return html.escape(text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…")


def node_hover(chain: UqacChain, source: int) -> str:
    """Token, position, step, probability, backtracking score and similarity, escaped for a plotly hover label."""
    index = chain.backtrack.sources.index(source)
    position = source + 1
    lines = [
        f"<b>{html.escape(repr(chain.attention.tokens[position]))}</b>",
        f"position {position} · step {chain.backtrack.steps[index]}",
        f"p(token) = {chain.probability(source):.4f}",
    ]
    if source in chain.answer_sources:
        lines.append("answer token")
    else:
        lines.append(f"backtracking score {chain.backtrack.scores[index]:.3f}")
        in_sim = " · kept by the similarity filter" if source in chain.similarity_sources else ""
        lines.append(f"similarity to the answer {chain.similarities[source]:.3f}{in_sim}")
    return "<br>".join(lines)


def edge_bucket(weight: float) -> int:
    return max(i for i, (low, _) in enumerate(EDGE_BUCKETS) if weight >= low)


def chain_figure(chain: UqacChain) -> go.Figure:
    """x = token position over prompt and answer, y = backtracking step; edges bucketed by reduced attention.

    Nodes carry their position in customdata, so a click can select a token.
    """
    attention, sources = chain.attention, chain.backtrack.sources
    step_of = dict(zip(sources, chain.backtrack.steps))
    figure = go.Figure()
    buckets: list[tuple[list, list]] = [([], []) for _ in EDGE_BUCKETS]
    middles: tuple[list, list, list] = ([], [], [])
    for source, key, weight in chain.backtrack.edges:
        x0, y0, x1, y1 = source + 1, -step_of[source], key, -step_of[key - 1]
        xs, ys = buckets[edge_bucket(weight)]
        xs.extend((x0, x1, None))
        ys.extend((y0, y1, None))
        middles[0].append((x0 + x1) / 2)
        middles[1].append((y0 + y1) / 2)
        middles[2].append(
            f"{html.escape(repr(attention.tokens[x0]))} attends to {html.escape(repr(attention.tokens[x1]))}"
            f"<br>reduced attention {weight:.3f}"
        )
    for index, ((low, width), colour, (xs, ys)) in enumerate(zip(EDGE_BUCKETS, EDGE_COLOURS, buckets)):
        if xs:
            high = EDGE_BUCKETS[index + 1][0] if index + 1 < len(EDGE_BUCKETS) else None
            figure.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", line={"width": width, "color": colour}, hoverinfo="skip",
                name=f"attention ≥ {low:g}" if high is None else f"attention {low:g}–{high:g}", legendgroup="edges",
            ))
    if middles[0]:
        figure.add_trace(go.Scatter(
            x=middles[0], y=middles[1], mode="markers", marker={"size": 8, "opacity": 0}, showlegend=False,
            hovertemplate="%{text}<extra></extra>", text=middles[2], name="edge",
        ))
    answer = set(chain.answer_sources)
    scale_shown = False
    for name, members, symbol, outline in (
        ("chain token", [s for s in sources if s not in answer], "circle", SIMILAR_COLOUR),
        ("answer token", [s for s in sources if s in answer], "star", ANSWER_COLOUR),
    ):
        if not members:
            continue
        figure.add_trace(go.Scatter(
            x=[s + 1 for s in members],
            y=[-step_of[s] for s in members],
            mode="markers+text" if symbol == "circle" or len(members) <= ANSWER_LABELS else "markers",
            text=[label(attention.tokens[s + 1]) for s in members],
            textposition="top center",
            customdata=[[s + 1] for s in members],
            hovertext=[node_hover(chain, s) for s in members],
            hovertemplate="%{hovertext}<extra></extra>",
            marker={
                "size": [18 if s in answer else 14 for s in members],
                "symbol": symbol,
                "color": [chain.probability(s) for s in members],
                "colorscale": PROBABILITY_SCALE, "cmin": 0.0, "cmax": 1.0,
                "showscale": not scale_shown,
                "colorbar": {"title": {"text": "p(token)", "side": "right"}, "len": 0.8},
                "line": {
                    "width": [3 if s in answer or s in chain.similarity_sources else 1 for s in members],
                    "color": outline,
                },
            },
            name=name,
        ))
        scale_shown = True
    deepest = max(chain.backtrack.steps, default=0)
    figure.add_vrect(x0=-0.5, x1=attention.prompt_length - 0.5, fillcolor="#eeeeee", opacity=0.6, line_width=0,
                     annotation_text="prompt", annotation_position="top left")
    figure.add_vrect(x0=attention.prompt_length - 0.5, x1=attention.length - 0.5, fillcolor="#fff7ec", opacity=0.4,
                     line_width=0, annotation_text="answer", annotation_position="top left")
    figure.update_layout(
        height=280 + 45 * deepest,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": {"text": "token position (prompt, then answer)"}, "range": [-0.5, attention.length - 0.5],
               "zeroline": False},
        yaxis={"title": {"text": "backtracking step"}, "tickvals": [-s for s in range(deepest + 1)],
               "ticktext": [str(s) for s in range(deepest + 1)], "range": [-deepest - 0.7, 0.9], "zeroline": False},
        legend={"orientation": "h", "y": -0.2},
        clickmode="event+select",
    )
    return figure


def selected_position(selection: Mapping[str, Any] | None, length: int) -> int | None:
    """The token position (customdata) of the first selected node, or None when no node is selected."""
    for point in (selection or {}).get("points") or []:
        value = point.get("customdata")
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() and 0 <= value < length:
            return int(value)
    return None


def token_detail_html(chain: UqacChain, position: int) -> str:
    """A selected answer token: its probability, top alternatives and the chain tokens it led to, escaped."""
    attention = chain.attention
    index = position - attention.prompt_length
    if not 0 <= index < attention.answer_length:
        return f'<div class="uqviz-token-detail">Position {position} is in the prompt.</div>'
    alternatives = ", ".join(
        f"{html.escape(repr(token))} {math.exp(logprob):.3f}"
        for token, logprob in zip(attention.top_tokens[index], attention.top_logprobs[index])
    )
    led = [f"{html.escape(repr(attention.tokens[key]))} ({weight:.2f})" for source, key, weight in chain.backtrack.edges if source == position - 1]
    return (
        '<div class="uqviz-token-detail" style="padding:8px;border-left:4px solid #74add1;background:#f5f9fc">'
        f"<b>{html.escape(repr(attention.tokens[position]))}</b> at position {position}, "
        f"p = {chain.probability(position - 1):.4f}<br>top alternatives: {alternatives}<br>"
        + (f"led the chain to {', '.join(led)}" if led else "no chain token was picked from it")
        + "</div>"
    )


def chain_text_html(chain: UqacChain) -> str:
    """The answer as escaped token spans: answer span, similarity-chain and other chain tokens marked, details on hover."""
    attention = chain.attention
    members = set(chain.backtrack.sources)
    spans = []
    for position in range(attention.prompt_length, attention.length):
        source = position - 1
        if source in chain.answer_sources:
            colour, role = ANSWER_COLOUR, "answer token"
        elif source in chain.similarity_sources:
            colour, role = SIMILAR_COLOUR, "chain token kept by the similarity filter"
        elif source in members:
            colour, role = CHAIN_COLOUR, "chain token"
        else:
            colour, role = "transparent", "not in the chain"
        title = f"{attention.tokens[position]!r}  position {position}  p={chain.probability(source):.4f}\n{role}"
        spans.append(token_span(attention.tokens[position], colour, title))
    return '<div style="white-space:pre-wrap;line-height:1.9;font-family:monospace">' + "".join(spans) + "</div>"


def roles_legend_html() -> str:
    items = (
        (ANSWER_COLOUR, "answer span"),
        (SIMILAR_COLOUR, "chain, kept by the similarity filter (T_sim)"),
        (CHAIN_COLOUR, "chain, filtered out"),
    )
    return '<div style="display:flex;gap:14px;font-size:0.8em">' + "".join(
        f'<span><span style="display:inline-block;width:12px;height:12px;background:{colour};border-radius:2px"></span> '
        f"{html.escape(text)}</span>"
        for colour, text in items
    ) + "</div>"


def expansion_rows(detail: UqacDetail) -> list[dict[str, Any]]:
    """One row per expansion: which token was swapped for which, and P(answer), P(chain) and their product."""
    tokens = detail.chain.attention.tokens
    rows = []
    for expansion in detail.expansions:
        item = expansion.replacement
        rows.append({
            "expansion": "original" if item is None else f"{tokens[item.source + 1]!r} → {item.token!r} @ {item.source + 1}",
            "p(swap)": None if item is None else item.probability,
            "P(answer)": expansion.answer_probability,
            "P(chain)": expansion.chain_probability,
            "P(answer)·P(chain)": expansion.joint,
        })
    return rows


def previous_token_figure(detail: RauqDetail) -> go.Figure:
    """Layer × head heat map of the answer's mean attention to the previous token; RAUQ's head per layer marked (§12.10)."""
    layers, heads = detail.mean_previous.shape
    figure = go.Figure(go.Heatmap(
        z=detail.mean_previous, x=list(range(heads)), y=list(range(layers)), colorscale="Blues", zmin=0.0,
        colorbar={"title": {"text": "mean a(i, i−1)", "side": "right"}}, name="mean attention to the previous token",
        hovertemplate="layer %{y} · head %{x}<br>mean attention to the previous token %{z:.3f}<extra></extra>",
    ))
    figure.add_trace(go.Scatter(
        x=detail.heads, y=detail.layers, mode="markers", name="RAUQ's head", customdata=detail.layer_uncertainty,
        marker={"symbol": "square-open", "size": 13, "color": SIMILAR_COLOUR, "line": {"width": 2}},
        hovertemplate="layer %{y}: RAUQ's head %{x}, U_l = %{customdata:.3f}<extra></extra>",
    ))
    chosen = detail.selected
    figure.add_trace(go.Scatter(
        x=[detail.heads[chosen]], y=[detail.layers[chosen]], mode="markers", name="layer giving U (largest U_l)",
        marker={"symbol": "star", "size": 15, "color": ANSWER_COLOUR, "line": {"width": 1, "color": "white"}},
        hovertemplate="layer %{y}, head %{x}: U = " + f"{detail.value:.3f}<extra></extra>",
    ))
    figure.update_layout(
        height=220 + 14 * layers, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": {"text": "head"}, "dtick": 1}, yaxis={"title": {"text": "layer"}, "autorange": "reversed"},
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def rauq_confidence_figure(detail: RauqDetail) -> go.Figure:
    """RAUQ's per-token confidence c_i in the layer that gives U, next to p(y_i), along the answer's escaped tokens."""
    chosen = detail.selected
    positions = list(range(len(detail.tokens)))
    hover = [html.escape(repr(token)) for token in detail.tokens]
    figure = go.Figure()
    figure.add_trace(go.Bar(
        x=positions, y=detail.confidences[chosen], name=f"c_i (layer {detail.layers[chosen]}, head {detail.heads[chosen]})",
        marker={"color": SIMILAR_COLOUR}, customdata=hover, hovertemplate="%{customdata}<br>c_i = %{y:.3f}<extra></extra>",
    ))
    figure.add_trace(go.Scatter(
        x=positions, y=detail.probabilities, mode="markers", name="p(y_i)", customdata=hover,
        marker={"color": ANSWER_COLOUR, "size": 8}, hovertemplate="%{customdata}<br>p = %{y:.3f}<extra></extra>",
    ))
    figure.update_layout(
        height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, bargap=0.15,
        xaxis={"tickvals": positions, "ticktext": [label(token) for token in detail.tokens], "tickangle": -45},
        yaxis={"title": {"text": "confidence"}, "range": [0.0, 1.05]},
        legend={"orientation": "h", "y": 1.15},
    )
    return figure
