"""Exports of a run: a standalone HTML report with every view's figures and plotly.js inlined, and scores CSV."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from uqviz.engine.projection import pca
from uqviz.format.run import Run
from uqviz.format.spreadsheet import spreadsheet_text
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import Scores, score_run
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.clustering import answer_clustering
from uqviz.viz.chain import chain_figure
from uqviz.viz.clusters import meaning_map_figure
from uqviz.viz.history import measure_title, scores_table_figure
from uqviz.viz.sar import CONTRIBUTION, sar_legend_html, sar_tokens_html, shift_figure
from uqviz.viz.tokens import legend_html, probability_tokens_html
from uqviz.viz.volume import gram_figure, text_labels
from uqviz.workflows.store import short_text

# Allows the inline plotly.js and styles, and nothing from the network.
CONTENT_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:"
SectionBuilder = Callable[[RunStatistics, Scores], go.Figure | str | None]


@dataclass(frozen=True)
class ReportSection:
    """A heading and a builder returning a plotly Figure, escaped HTML, or None when the run has nothing to show."""

    title: str
    build: SectionBuilder


def tokens_section(statistics: RunStatistics, scores: Scores) -> str:
    """Every sample's tokens coloured by probability; samples without tokens (pasted text) as plain text."""
    parts = [legend_html("p = 0 (unlikely)", "p = 1 (certain)")]
    for index, sample in enumerate(statistics.run.samples):
        parts.append(f"<h3>Sample {index + 1} · {len(sample)} tokens · finish: {html.escape(sample.finish_reason)}</h3>")
        parts.append(probability_tokens_html(sample) if len(sample) else f"<pre>{html.escape(sample.text)}</pre>")
    return "\n".join(parts)


def from_detail(name: str, draw: Callable[[RunStatistics, Any], go.Figure | str]) -> SectionBuilder:
    """A builder drawing one measure's detail; the section is left out when the measure was not computed."""

    def build(statistics: RunStatistics, scores: Scores) -> go.Figure | str | None:
        scored = scores.measures.get(name)
        if scored is None or scored.result.value is None or scored.result.detail is None:
            return None
        return draw(statistics, scored.result.detail)

    return build


def sar_tokens_section(statistics: RunStatistics, detail: Any) -> str:
    run = statistics.run
    return sar_legend_html(run, detail, CONTRIBUTION) + "\n".join(sar_tokens_html(run, detail, CONTRIBUTION))


def cluster_map_section(statistics: RunStatistics, detail: Any) -> go.Figure:
    """The answers on their first two principal components (deterministic, unlike UMAP), coloured by cluster."""
    coordinates = pca(statistics.answer_embeddings, 2).coordinates
    return meaning_map_figure(coordinates, statistics.answers, answer_clustering(statistics).ids, "pca")


def gram_section(statistics: RunStatistics, detail: Any) -> go.Figure:
    return gram_figure(detail.gram, statistics.answers, text_labels("A", len(statistics.answers)))


# One line per view: its heading and its figure builder.
SECTIONS: tuple[ReportSection, ...] = (
    ReportSection("Scores", lambda statistics, scores: scores_table_figure(scores.to_dict())),
    ReportSection("Tokens by probability", tokens_section),
    ReportSection("Token relevance (SAR): LN-PE → TokenSAR per sample", from_detail("token_sar", lambda statistics, detail: shift_figure(statistics.run, detail))),
    ReportSection("Tokens by SAR contribution R̃·(−log p)", from_detail("token_sar", sar_tokens_section)),
    ReportSection("Semantic clusters", from_detail("num_semantic_sets", cluster_map_section)),
    ReportSection("Semantic volume: Gram matrix of the answers", from_detail("semantic_volume", gram_section)),
    ReportSection("Attention chain (UQAC)", from_detail("uqac", lambda statistics, detail: chain_figure(detail.chain))),
)


def report_html(statistics: RunStatistics, scores: Scores | None = None) -> str:
    """The whole report as one HTML string: run header, then each section; every text from the run is escaped."""
    run = statistics.run
    scores = scores or score_run(run, statistics)
    bodies = []
    for index, section in enumerate(SECTIONS):
        content = section.build(statistics, scores)
        if content is None:
            continue
        if isinstance(content, go.Figure):
            content = content.to_html(full_html=False, include_plotlyjs=False, div_id=f"uqviz-figure-{index}")
        bodies.append(f'<section><h2>{html.escape(section.title)}</h2>\n{content}\n</section>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">'
        f"<title>uqviz report · {html.escape(short_text(run.prompt))}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "pre{white-space:pre-wrap;background:#f4f4f4;padding:.6em}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>\n'
        f"{_header(run, scores)}\n" + "\n".join(bodies) + "\n</body></html>\n"
    )


def write_report(statistics: RunStatistics, path: str | Path, scores: Scores | None = None) -> None:
    Path(path).write_text(report_html(statistics, scores), encoding="utf-8")


def scores_csv(scores: dict) -> str:
    """One row per measure of a `uqviz.scores/1` dict: value, what higher means, why missing, cost, backend."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["measure", "title", "value", "higher_means", "reason", "seconds", "model_calls", "similarity"])
    for name, entry in scores.get("measures", {}).items():
        measure = REGISTRY.get(name)
        texts = [name, measure_title(name), measure.higher_means if measure is not None else "", entry.get("reason") or ""]
        name, title, higher_means, reason = map(spreadsheet_text, map(str, texts))
        writer.writerow(
            [
                name, title, "" if entry.get("value") is None else repr(entry["value"]), higher_means, reason,
                entry.get("seconds", ""), entry.get("model_calls", ""), spreadsheet_text(str(scores.get("similarity") or "")),
            ]
        )
    return buffer.getvalue()


def _header(run: Run, scores: Scores) -> str:
    settings = run.settings
    facts = [
        ("model", f"{run.model.name} ({run.model.source}, {run.model.device}, {run.model.dtype})"),
        ("settings", f"N={settings.n}, temperature {settings.temperature:g}, top-p {settings.top_p:g}, "
                     f"top-k {settings.top_k or 'off'}, max new tokens {settings.max_new_tokens}, seed {settings.seed}"),
        ("chat template", "on" if run.chat else "off"),
        ("created", run.created or "unknown"),
        ("sampling time", "unknown" if run.sampling_seconds is None else f"{run.sampling_seconds:.2f} s"),
        ("similarity backend", scores.similarity or "none used"),
        ("token relevance precision", scores.token_relevance.precision if scores.token_relevance else "not computed"),
    ]
    rows = "".join(f"<tr><th align=left>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in facts)
    system = f"<h2>System prompt</h2><pre>{html.escape(run.system_prompt)}</pre>" if run.system_prompt else ""
    return f"<h1>uqviz report</h1><h2>Prompt</h2><pre>{html.escape(run.prompt)}</pre>{system}<table>{rows}</table>"
