"""Tokens as coloured, escaped HTML spans with hover detail (inseq-style reading view)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from plotly.colors import sample_colorscale

from uqviz.format.run import Sample
from uqviz.measures.top_k import step_margin, step_negentropy

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
    return token_row_html(sample, TOKEN_ROWS[PROBABILITY], (0.0, 1.0))


@dataclass(frozen=True)
class TokenRow:
    """A per-token statistic tokens can be coloured by: its label, its values for a sample (empty where the run did not
    record it), whether high values mean a sure token, and its fixed range (None: the run's own range)."""

    label: str
    values: Callable[[Sample], Sequence[float]]
    sure_when_high: bool
    fixed_range: tuple[float, float] | None = None

    @property
    def scale(self) -> str:
        return PROBABILITY_SCALE if self.sure_when_high else PROBABILITY_SCALE + "_r"


PROBABILITY = "probability"
TOKEN_ROWS = {
    PROBABILITY: TokenRow("probability", lambda sample: [math.exp(value) for value in sample.logprobs], True, (0.0, 1.0)),
    "entropy": TokenRow("entropy (nats)", lambda sample: sample.entropies, False),
    "margin": TokenRow("probability margin p₁ − p₂ (§12.8)", lambda sample: [step_margin(row) for row in sample.top_logprobs],
                       True, (0.0, 1.0)),
    "negentropy": TokenRow("top-k negentropy (§12.8)", lambda sample: [step_negentropy(row) for row in sample.top_logprobs],
                           True, (0.0, 1.0)),
    "renyi": TokenRow("Rényi divergence from uniform, α = ½ (§12.13)", lambda sample: sample.renyi_from_uniform, True),
    "fisher_rao": TokenRow("Fisher-Rao distance from uniform (§12.13)", lambda sample: sample.fisher_rao_from_uniform,
                           True, (0.0, 1.0)),
}


def recorded_rows(samples: Sequence[Sample]) -> list[str]:
    """The token rows every sample with tokens has a value per token for (older and imported runs lack some)."""
    spoken = [sample for sample in samples if len(sample)]
    return [name for name, row in TOKEN_ROWS.items() if spoken and all(len(row.values(sample)) == len(sample) for sample in spoken)]


def row_range(samples: Sequence[Sample], row: TokenRow) -> tuple[float, float]:
    """The row's fixed range, else the finite values' range over the samples (0–1 when there are none)."""
    if row.fixed_range is not None:
        return row.fixed_range
    values = [value for sample in samples for value in row.values(sample) if math.isfinite(value)]
    return (min(values), max(values)) if values else (0.0, 1.0)


def token_row_html(sample: Sample, row: TokenRow, value_range: tuple[float, float]) -> str:
    """A sample's tokens coloured by one token row (red = unsure), its value and the alternatives in the hover title."""
    values = list(row.values(sample))
    titles = [token_title(sample, index, "" if row is TOKEN_ROWS[PROBABILITY] else f"{row.label} = {values[index]:.3f}")
              for index in range(len(sample))]
    return coloured_tokens_html(sample.tokens, values, titles, *value_range, row.scale)


def pmi_tokens_html(sample: Sample, conditional: Sequence[float], unconditional: Sequence[float]) -> str:
    """The answer's tokens coloured by PMI_t = log p(y_t | y_<t, x) − log p(y_t | y_<t) (green: the prompt raised the
    token's probability, red: lowered it), symmetric around 0; the first token has no unconditional term and stays
    neutral (docs/methods.md §12.11)."""
    pmi = [c - u if math.isfinite(u) else math.nan for c, u in zip(conditional, unconditional)]
    finite = [abs(value) for value in pmi if math.isfinite(value)]
    bound = max(finite) if finite else 1.0
    titles = [token_title(sample, index, f"log p with the prompt {c:.3f}, without {u:.3f}, PMI {v:.3f}" if math.isfinite(v)
                          else "first token: no log-probability without the prompt")
              for index, (c, u, v) in enumerate(zip(conditional, unconditional, pmi))]
    return coloured_tokens_html(sample.tokens, pmi, titles, -bound, bound, PROBABILITY_SCALE)


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
