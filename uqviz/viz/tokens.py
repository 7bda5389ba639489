"""Tokens as coloured, escaped HTML spans with hover detail (inseq-style reading view)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from plotly.colors import sample_colorscale

from uqviz.format.run import Sample

PROBABILITY_SCALE = "RdYlGn"
LEGEND_STEPS = 11


def token_span(token: str, colour: str, title: str) -> str:
    """One token; every string is escaped, newlines become a visible ↵ and a line break."""
    text = html.escape(token).replace("\n", "↵<br>") if token else "∅"
    return (
        f'<span class="uqviz-token" style="background:{colour};border-radius:3px;padding:0 1px" '
        f'title="{html.escape(title, quote=True)}">{text}</span>'
    )


def colour_for(value: float, low: float, high: float, scale: str) -> str:
    """A colour from a plotly colour scale for value in [low, high], clipped."""
    span = high - low
    position = 0.5 if span <= 0 or not math.isfinite(value) else min(max((value - low) / span, 0.0), 1.0)
    return sample_colorscale(scale, [position])[0]


def alternatives_text(sample: Sample, index: int) -> str:
    if not sample.top_tokens:
        return ""
    pairs = zip(sample.top_tokens[index], sample.top_logprobs[index])
    return "\n".join(f"  {token!r}: {math.exp(logprob):.3f}" for token, logprob in pairs)


def coloured_tokens_html(
    tokens: Sequence[str], values: Sequence[float], titles: Sequence[str], low: float, high: float, scale: str
) -> str:
    """Tokens coloured by value on a shared colour scale, each with its hover title."""
    spans = [token_span(token, colour_for(value, low, high, scale), title) for token, value, title in zip(tokens, values, titles)]
    return '<div style="white-space:pre-wrap;line-height:1.9;font-family:monospace">' + "".join(spans) + "</div>"


def token_title(sample: Sample, index: int, extra: str = "") -> str:
    """Hover text: the token, its probability and entropy, optional extra lines and the top alternatives."""
    token = sample.tokens[index]
    head = f"{token!r}  p={math.exp(sample.logprobs[index]):.3f}"
    if sample.entropies:
        head += f"  entropy={sample.entropies[index]:.3f} nats"
    return "\n".join(part for part in (head, extra, f"top alternatives:\n{alternatives_text(sample, index)}") if part)


def probability_tokens_html(sample: Sample) -> str:
    """A sample's tokens coloured by probability (red = unlikely), with alternatives in the hover title."""
    probabilities = [math.exp(logprob) for logprob in sample.logprobs]
    titles = [token_title(sample, index) for index in range(len(sample))]
    return coloured_tokens_html(sample.tokens, probabilities, titles, 0.0, 1.0, PROBABILITY_SCALE)


def legend_html(label_low: str, label_high: str, scale: str = PROBABILITY_SCALE) -> str:
    """A CSS gradient legend that matches `colour_for`."""
    stops = ",".join(sample_colorscale(scale, [i / (LEGEND_STEPS - 1) for i in range(LEGEND_STEPS)]))
    return (
        '<div style="display:flex;align-items:center;gap:6px;font-size:0.8em">'
        f"<span>{html.escape(label_low)}</span>"
        f'<span style="display:inline-block;width:160px;height:10px;background:linear-gradient(to right,{stops})"></span>'
        f"<span>{html.escape(label_high)}</span></div>"
    )


MARKDOWN_PUNCTUATION = frozenset("\\`*_{}[]()#+-.!|$<>~:&=\"'^%@;,?/")


def plain_markdown(text: str) -> str:
    """Text that Streamlit's markdown shows literally: every ASCII punctuation mark backslash-escaped, so no link,
    image, emphasis, LaTeX ($…$), colour directive (:red[…]) or HTML comes out of a run, a paste or a model."""
    return "".join("\\" + character if character in MARKDOWN_PUNCTUATION else character for character in text)


def error_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (at most `limit` characters, its type when it has none), as plain markdown."""
    lines = str(error).splitlines()
    return plain_markdown(lines[0][:limit] if lines else type(error).__name__)
