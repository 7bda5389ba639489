"""SAR views: tokens coloured by relevance, surprisal or contribution; the LN-PE → TokenSAR shift; the g_jk heatmap;
SAR's, CSL's and MARS's token weights side by side (docs/methods.md §4, §12.12)."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from uqviz.format.run import Run, Sample
from uqviz.measures.sar import SentenceShiftDetail, TokenSarDetail, relevance_weights
from uqviz.viz.tokens import coloured_tokens_html, legend_html, token_title

RELEVANCE = "relevance"
SURPRISAL = "surprisal"
CONTRIBUTION = "contribution"
COLOUR_MODES = {RELEVANCE: "Relevance R̃", SURPRISAL: "−log p", CONTRIBUTION: "Contribution R̃·(−log p)"}
# Light halves of Blues, OrRd and Purples, so black token text stays readable on the strongest colour.
COLOUR_SCALES = {
    RELEVANCE: [[0.0, "#f7fbff"], [1.0, "#4292c6"]],
    SURPRISAL: [[0.0, "#fff7ec"], [1.0, "#ef6548"]],
    CONTRIBUTION: [[0.0, "#fcfbfd"], [1.0, "#807dba"]],
}
LN_PE_COLOUR = "#8c8c8c"
TOKEN_SAR_COLOUR = "#6a3d9a"
MOVERS_SHOWN = 3
HEATMAP_TEXT_LIMIT = 20
SAR_WEIGHTS = "SAR relevance R̃"
CSL_WEIGHTS = "CSL attention weight"
MARS_WEIGHTS = "MARS weight"
WEIGHT_COLOURS = {SAR_WEIGHTS: "#4292c6", CSL_WEIGHTS: "#e6550d", MARS_WEIGHTS: "#807dba"}


def token_colour_values(run: Run, detail: TokenSarDetail, mode: str) -> list[list[float]]:
    """Per sample and token, the value a colour mode shows: R̃_i, −ℓ_i or R̃_i·(−ℓ_i)."""
    if mode == RELEVANCE:
        return detail.weights
    if mode == SURPRISAL:
        return [[-logprob for logprob in sample.logprobs] for sample in run.samples]
    if mode == CONTRIBUTION:
        return detail.contributions
    raise ValueError(f"unknown colour mode {mode!r}; expected one of {', '.join(COLOUR_MODES)}")


def colour_highs(values: Sequence[Sequence[float]], mode: str) -> list[float]:
    """Top of each sample's colour scale. R̃ is normalised within an answer, so each answer gets its own top;
    −log p and contributions share one top across the run so their colours compare between answers."""
    if mode == RELEVANCE:
        return [max(row, default=0.0) or 1.0 for row in values]
    high = max((value for row in values for value in row), default=0.0) or 1.0
    return [high] * len(values)


def relevance_hover(detail: TokenSarDetail, sample_index: int, token_index: int) -> str:
    """The SAR lines of one token's hover text: R, R̃ against the uniform 1/n, and the contribution."""
    weights = detail.weights[sample_index]
    lines = [
        f"relevance R = {detail.relevance[sample_index][token_index]:.3f}, "
        f"weight R̃ = {weights[token_index]:.3f} (uniform 1/n = {1 / len(weights):.3f})",
        f"contribution R̃·(−log p) = {detail.contributions[sample_index][token_index]:.3f} nats",
    ]
    if detail.uniform_fallback[sample_index]:
        lines.append("no token changes the meaning (every R = 0): uniform weights")
    return "\n".join(lines)


def sar_tokens_html(run: Run, detail: TokenSarDetail, mode: str) -> list[str]:
    """One escaped HTML block per sample, its tokens coloured by the mode on one scale for the whole run."""
    values = token_colour_values(run, detail, mode)
    blocks = []
    for k, (sample, row, high) in enumerate(zip(run.samples, values, colour_highs(values, mode))):
        titles = [token_title(sample, i, relevance_hover(detail, k, i)) for i in range(len(sample))]
        blocks.append(coloured_tokens_html(sample.tokens, row, titles, 0.0, high, COLOUR_SCALES[mode]))
    return blocks


def sar_legend_html(run: Run, detail: TokenSarDetail, mode: str) -> str:
    if mode == RELEVANCE:
        return legend_html("R̃ = 0", "the answer's most relevant token", COLOUR_SCALES[mode])
    high = colour_highs(token_colour_values(run, detail, mode), mode)[0] if run.samples else 1.0
    return legend_html("0", f"{high:.3f} ({COLOUR_MODES[mode]})", COLOUR_SCALES[mode])


def top_movers(sample: Sample, shifts: Sequence[float], count: int = MOVERS_SHOWN) -> list[tuple[int, str, float]]:
    """The tokens that moved TokenSAR away from LN-PE most: (position, token, (R̃_i − 1/n)·(−ℓ_i)), largest |shift| first."""
    order = sorted(range(len(shifts)), key=lambda i: -abs(shifts[i]))[:count]
    return [(i, sample.tokens[i], shifts[i]) for i in order]


def mover_rows(sample: Sample, detail: TokenSarDetail, sample_index: int, count: int = 10) -> list[dict[str, Any]]:
    """The table behind a selected sample: its tokens that moved TokenSAR most, with −log p, R̃ and the shift."""
    weights, shifts = detail.weights[sample_index], detail.shifts[sample_index]
    return [
        {"position": i, "token": repr(token), "−log p": -sample.logprobs[i], "R̃": weights[i], "1/n": 1 / len(weights), "shift": shift}
        for i, token, shift in top_movers(sample, shifts, count)
    ]


def hover_answer(text: str, width: int = 60, limit: int = 240) -> str:
    """An answer for a plotly hover label: shortened, wrapped with <br> and escaped (hover labels read HTML)."""
    if not text.strip():
        return "(empty answer)"
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return "<br>".join(html.escape(line) for line in textwrap.wrap(short, width, replace_whitespace=True))


def movers_text(sample: Sample, shifts: Sequence[float]) -> str:
    return ", ".join(f"{token!r} {shift:+.3f}" for _, token, shift in top_movers(sample, shifts))


def shift_figure(run: Run, detail: TokenSarDetail) -> go.Figure:
    """Per sample, LN-PE (uniform weights) and TokenSAR (relevance weights) joined by a line; customdata = sample index."""
    labels = [f"S{k + 1}" for k in range(len(run.samples))]
    token_sar = [sum(row) for row in detail.contributions]
    hover = [
        f"<b>{label}</b>: {hover_answer(sample.text)}<br>LN-PE {ln:.3f} → TokenSAR {ts:.3f} ({ts - ln:+.3f})"
        + (f"<br>moved most by: {html.escape(movers_text(sample, shifts))}" if len(sample) else "")
        for label, sample, ln, ts, shifts in zip(labels, run.samples, detail.ln_pe, token_sar, detail.shifts)
    ]
    line_x: list[float | None] = []
    line_y: list[str | None] = []
    for label, ln, ts in zip(labels, detail.ln_pe, token_sar):
        line_x += [ln, ts, None]
        line_y += [label, label, None]
    ids = [[k] for k in range(len(labels))]
    figure = go.Figure(
        [
            go.Scatter(x=line_x, y=line_y, mode="lines", line={"color": "#c8c8c8", "width": 3}, hoverinfo="skip", showlegend=False),
            go.Scatter(
                x=detail.ln_pe, y=labels, mode="markers", name="LN-PE (uniform weights)", customdata=ids, hovertext=hover,
                hovertemplate="%{hovertext}<extra>LN-PE</extra>", marker={"color": LN_PE_COLOUR, "size": 11, "symbol": "circle"},
            ),
            go.Scatter(
                x=token_sar, y=labels, mode="markers", name="TokenSAR (relevance weights)", customdata=ids, hovertext=hover,
                hovertemplate="%{hovertext}<extra>TokenSAR</extra>", marker={"color": TOKEN_SAR_COLOUR, "size": 12, "symbol": "diamond"},
            ),
        ]
    )
    figure.update_layout(
        xaxis_title="nats per token (higher = more uncertain)",
        yaxis={"autorange": "reversed", "type": "category"},
        height=120 + 28 * len(labels),
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        clickmode="event+select",
    )
    return figure


def selected_sample(selection: Mapping[str, Any] | None) -> int | None:
    """The sample index carried in customdata by the first selected point of the shift figure, else None."""
    for point in (selection or {}).get("points") or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            return int(data)
    return None


def similarity_heatmap(similarity: Sequence[Sequence[float]], answers: Sequence[str]) -> go.Figure:
    """g_jk between q ⊕ s_j and q ⊕ s_k (SentSAR's neighbour weights); the unused diagonal is left blank."""
    count = len(answers)
    labels = [f"S{k + 1}" for k in range(count)]
    z = [[None if j == k else float(similarity[j][k]) for k in range(count)] for j in range(count)]
    short = [hover_answer(answer, width=50, limit=120) for answer in answers]
    text = [[f"{short[j]}<br>— vs —<br>{short[k]}" for k in range(count)] for j in range(count)]
    figure = go.Figure(
        go.Heatmap(
            z=z, x=labels, y=labels, text=text, zmin=0.0, zmax=1.0, colorscale="Blues", hoverongaps=False,
            hovertemplate="%{y} vs %{x}: g = %{z:.3f}<br>%{text}<extra></extra>",
            texttemplate="%{z:.2f}" if count <= HEATMAP_TEXT_LIMIT else None,
            colorbar={"title": {"text": "g_jk", "side": "right"}},
        )
    )
    figure.update_layout(
        xaxis={"showgrid": False},
        yaxis={"autorange": "reversed", "scaleanchor": "x", "showgrid": False},
        height=140 + 32 * count,
        margin={"l": 40, "r": 20, "t": 20, "b": 40},
    )
    return figure


def per_sample_rows(run: Run, token_detail: TokenSarDetail, sentence: SentenceShiftDetail, both: SentenceShiftDetail) -> list[dict[str, Any]]:
    """The per-sample table: log p, LN-PE, TokenSAR, E_S (SentSAR) and E (SAR), with each one's neighbour mass."""
    return [
        {
            "sample": f"S{k + 1}",
            "answer": sample.text,
            "tokens": len(sample),
            "log p": sentence.log_probabilities[k],
            "LN-PE": token_detail.ln_pe[k],
            "TokenSAR": -both.log_probabilities[k],
            "log neighbour mass (SentSAR)": sentence.neighbour_log_mass[k],
            "E_S (SentSAR)": sentence.entropies[k],
            "log neighbour mass (SAR)": both.neighbour_log_mass[k],
            "E (SAR)": both.entropies[k],
        }
        for k, sample in enumerate(run.samples)
    ]


def token_weights_figure(sample: Sample, weights: Mapping[str, Sequence[float] | None]) -> go.Figure:
    """Per token of one answer, a bar for each weighting given (each normalised to sum 1; None is left out) against the
    uniform 1/n; token texts are escaped in the axis and the hover (docs/methods.md §12.12)."""
    count = len(sample)
    shown = {label: relevance_weights(values) for label, values in weights.items() if values is not None}
    for label, values in shown.items():
        if values.size != count:
            raise ValueError(f"{label}: {values.size} weights for {count} tokens")
    labels = [html.escape(repr(token)) for token in sample.tokens]
    figure = go.Figure(
        [
            go.Bar(
                x=list(range(count)), y=values.tolist(), name=label, marker={"color": WEIGHT_COLOURS.get(label)},
                hovertext=[f"<b>{text}</b> (token {i + 1})<br>{html.escape(label)}: {w:.3f} (uniform 1/n = {1 / count:.3f})"
                           for i, (text, w) in enumerate(zip(labels, values))],
                hovertemplate="%{hovertext}<extra></extra>",
            )
            for label, values in shown.items()
        ]
    )
    if count:
        figure.add_hline(y=1 / count, line={"dash": "dot", "color": LN_PE_COLOUR}, annotation_text="uniform 1/n")
    else:
        figure.add_annotation(text="empty answer: no tokens to weigh", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_layout(
        barmode="group",
        xaxis={"tickmode": "array", "tickvals": list(range(count)), "ticktext": labels, "title": "answer token"},
        yaxis={"title": "weight (sums to 1 over the answer)", "rangemode": "tozero"},
        height=340,
        margin={"l": 50, "r": 20, "t": 30, "b": 60},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return figure
