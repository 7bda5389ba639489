"""Figures and tables of the all-scores overview and of batch evaluation; pure builders, every text escaped."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from uqviz.format.run import Sample
from uqviz.measures.cocoa import CocoaDetail
from uqviz.measures.logprob import chow_scores
from uqviz.measures.registry import REGISTRY
from uqviz.measures.self_certainty import BordaResult, answer_self_certainty, borda_vote
from uqviz.workflows.calibration import Calibrated
from uqviz.scoring.scores import Scores
from uqviz.workflows.active_prompt import normalise_answer
from uqviz.workflows.evaluation import percentile_of

HOVER_WIDTH = 60
LABEL_LENGTH = 40
CHOSEN_COLOUR = "#2a9d8f"
OTHER_COLOUR = "#b0bec5"
CHANCE_COLOUR = "#888888"
HOVER_LIMIT = 200
# The CoCoA variants and what each one's own uncertainty u_j (the x axis of the CoCoA chart) is.
COCOA_VARIANTS = {
    "cocoa_msp": "−log p(answer) (nats)",
    "cocoa_perplexity": "log perplexity: mean −log p per token (nats)",
    "cocoa_mean_token_entropy": "mean token entropy (nats)",
}


def hover_text(text: str, width: int = HOVER_WIDTH) -> str:
    """Escaped and wrapped for a plotly hover label (they interpret a subset of HTML)."""
    return "<br>".join(html.escape(line) for line in textwrap.wrap(text, width) or [""])


def answer_hover(text: str, limit: int = HOVER_LIMIT) -> str:
    """An answer for a hover label: shortened to `limit` characters, wrapped and escaped; an empty one says so."""
    if not text.strip():
        return "(empty answer)"
    return hover_text(text if len(text) <= limit else text[: limit - 1] + "…")


def short_label(text: str, length: int = LABEL_LENGTH) -> str:
    """An escaped one-line label for an axis tick."""
    line = " ".join(text.split())
    return html.escape(line if len(line) <= length else line[: length - 1] + "…")


def measures_frame(
    scores: Scores, batch_rows: Sequence[Mapping[str, Any]] | None = None, profile: Mapping[str, Any] | None = None,
    calibrated: Mapping[str, Calibrated] | None = None,
) -> pd.DataFrame:
    """One row per scored measure: U, what higher means, with a profile the chance of being wrong and the measure's
    held-out AUROC for that model, the percentile in the last batch, formula, cost, needs, reason."""
    records = []
    for name, scored in scores.measures.items():
        measure = REGISTRY[name]
        value = scored.result.value
        percentile = percentile_of(value, [row.get(name) for row in batch_rows]) if batch_rows else None
        records.append(
            {
                "measure": measure.title,
                "name": name,
                "U": value,
                "higher means": measure.higher_means,
                **({} if profile is None else calibration_columns(name, profile, calibrated or {})),
                "percentile in batch": percentile,
                "formula": measure.formula,
                "seconds": scored.seconds,
                "model calls": scored.model_calls,
                "needs": ", ".join(measure.needs),
                "note": scored.result.reason or "",
                "reference": measure.reference,
            }
        )
    return pd.DataFrame.from_records(records)


def calibration_columns(name: str, profile: Mapping[str, Any], calibrated: Mapping[str, Calibrated]) -> dict[str, Any]:
    """P(wrong) with its interval and the held-out AUROC of the profile's map for one measure (None where it has none)."""
    fitted = profile["measures"].get(name)
    value = calibrated.get(name)
    return {
        "P(wrong)": None if value is None else value.p_wrong,
        "interval": None if value is None else f"{value.low:.2f}–{value.high:.2f}",
        "held-out AUROC": None if fitted is None else fitted["held_out"][fitted["method"]]["auroc"],
    }


def voting_labels(answers: Sequence[str], cluster_ids: Sequence[int] | None = None) -> list[str | None]:
    """What Borda voting groups by: the semantic cluster of each answer when given, else its normalised text."""
    if cluster_ids is not None:
        return [f"meaning {cluster_id + 1}" for cluster_id in cluster_ids]
    return [normalise_answer(answer) for answer in answers]


def borda_figure(result: BordaResult, representatives: Mapping[str, str]) -> go.Figure:
    """Votes per answer group, the chosen group highlighted; `representatives` maps a group to the text shown."""
    groups = sorted(result.votes_by_answer, key=lambda group: -result.votes_by_answer[group])
    figure = go.Figure(
        go.Bar(
            x=[short_label(representatives.get(group, group)) for group in groups],
            y=[result.votes_by_answer[group] for group in groups],
            marker_color=[CHOSEN_COLOUR if group == result.answer else OTHER_COLOUR for group in groups],
            customdata=[hover_text(representatives.get(group, group)) for group in groups],
            hovertemplate="%{customdata}<br>%{y:.3f} votes<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis_title="answer group", yaxis_title="Borda votes", height=320, margin=dict(t=30, b=10), showlegend=False
    )
    return figure


def token_logprob_figure(sample: Sample, alpha: float) -> go.Figure:
    """Per-token log-probabilities of one answer with its Chow-Quantile_α and Chow-Average as lines (Gupta et al.; §8)."""
    positions = list(range(1, len(sample) + 1))
    chow = chow_scores(sample.logprobs, alpha)
    figure = go.Figure(
        go.Bar(
            x=positions,
            y=sample.logprobs,
            marker_color=OTHER_COLOUR,
            customdata=[hover_text(repr(token)) for token in sample.tokens],
            hovertemplate="token %{x}: %{customdata}<br>log p = %{y:.3f}<extra></extra>",
            name="token log-prob",
        )
    )
    figure.add_hline(y=chow["quantile"], line_dash="dash", line_color="#d62728",
                     annotation_text=f"quantile α={alpha:g}: {chow['quantile']:.3f}", annotation_position="bottom left")
    figure.add_hline(y=chow["average"], line_dash="dot", line_color="#1f77b4",
                     annotation_text=f"average: {chow['average']:.3f}", annotation_position="top right")
    figure.update_layout(
        title=f"Chow-Sum {chow['sum']:.2f} over {len(sample)} tokens",
        xaxis_title="token position", yaxis_title="log p (nats)", height=340, margin=dict(t=40, b=10), showlegend=False,
    )
    return figure


def chow_length_figure(sample_logprobs: Sequence[Sequence[float]], alpha: float) -> go.Figure:
    """Chow-Sum, -Average and -Quantile of every answer against its length: the sum falls with length, the others do not."""
    lengths = [len(logprobs) for logprobs in sample_logprobs]
    scores = [chow_scores(logprobs, alpha) for logprobs in sample_logprobs]
    ids = list(range(1, len(lengths) + 1))
    figure = go.Figure()
    for rule, label, symbol in (("sum", "Chow-Sum", "circle"), ("average", "Chow-Average", "square"),
                                ("quantile", f"Chow-Quantile α={alpha:g}", "diamond")):
        figure.add_trace(
            go.Scatter(
                x=lengths, y=[score[rule] for score in scores], mode="markers", name=label, marker_symbol=symbol,
                marker_size=10, customdata=ids, hovertemplate=f"sample %{{customdata}}<br>{label} %{{y:.3f}}<br>%{{x}} tokens<extra></extra>",
            )
        )
    figure.update_layout(xaxis_title="answer length (tokens)", yaxis_title="score (log-prob scale, higher = more confident)",
                         height=360, margin=dict(t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return figure


def _measure_title(name: str, evaluation: Mapping[str, Any]) -> str:
    return html.escape(str(evaluation.get("title") or name))


def ranked_measures_frame(ranked: Sequence[tuple[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """The report's measures, best AUROC first: AUROC, PRR, AURC, ECE, questions used, why missing."""
    return pd.DataFrame.from_records(
        [
            {
                "measure": evaluation["title"], "name": name, "AUROC": evaluation["auroc"], "PRR": evaluation["prr"],
                "AURC": evaluation["aurc"], "ECE": evaluation["ece"], "questions": evaluation["count"],
                "note": evaluation["reason"] or "",
            }
            for name, evaluation in ranked
        ]
    )


def ranked_measures_figure(ranked: Sequence[tuple[str, Mapping[str, Any]]]) -> go.Figure:
    """AUROC and PRR per measure as horizontal bars, best AUROC at the top, chance (AUROC 0.5, PRR 0) marked."""
    shown = [(name, evaluation) for name, evaluation in ranked if evaluation["auroc"] is not None][::-1]
    titles = [_measure_title(name, evaluation) for name, evaluation in shown]
    figure = go.Figure()
    figure.add_trace(go.Bar(y=titles, x=[e["auroc"] for _, e in shown], orientation="h", name="AUROC",
                            customdata=[name for name, _ in shown], hovertemplate="%{y}<br>AUROC %{x:.3f}<extra></extra>"))
    figure.add_trace(go.Bar(y=titles, x=[e["prr"] for _, e in shown], orientation="h", name="PRR",
                            customdata=[name for name, _ in shown], hovertemplate="%{y}<br>PRR %{x:.3f}<extra></extra>"))
    figure.add_vline(x=0.5, line_dash="dot", line_color=CHANCE_COLOUR, annotation_text="AUROC chance")
    figure.update_layout(barmode="group", height=max(300, 26 * len(shown) + 120), xaxis_title="higher is better",
                         margin=dict(t=30, b=10), legend=dict(orientation="h", y=-0.1))
    return figure


def roc_figure(measures: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> go.Figure:
    """ROC curves of U detecting wrong answers, one per chosen measure, with the chance diagonal."""
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color=CHANCE_COLOUR), name="chance"))
    for name in names:
        evaluation = measures[name]
        if evaluation["roc"] is None:
            continue
        label = f"{_measure_title(name, evaluation)} ({evaluation['auroc']:.3f})"
        figure.add_trace(go.Scatter(x=evaluation["roc"]["false_positive_rate"], y=evaluation["roc"]["true_positive_rate"],
                                    mode="lines", line_shape="hv", name=label))
    figure.update_layout(xaxis_title="false positive rate (right answers flagged)", yaxis_title="true positive rate (wrong answers flagged)",
                         height=420, margin=dict(t=30, b=10), xaxis_range=[0, 1], yaxis_range=[0, 1.02])
    return figure


def risk_coverage_figure(measures: Mapping[str, Mapping[str, Any]], names: Sequence[str], accuracy: float | None) -> go.Figure:
    """Error rate among the answers kept against the share kept (least uncertain first); the flat line is random."""
    figure = go.Figure()
    if accuracy is not None:
        figure.add_hline(y=1 - accuracy, line_dash="dot", line_color=CHANCE_COLOUR, annotation_text="random order")
    for name in names:
        evaluation = measures[name]
        if evaluation["risk_coverage"] is None:
            continue
        curve = evaluation["risk_coverage"]
        figure.add_trace(go.Scatter(x=curve["coverage"], y=curve["risk"], mode="lines",
                                    name=f"{_measure_title(name, evaluation)} (AURC {evaluation['aurc']:.3f})"))
    figure.update_layout(xaxis_title="coverage (share of questions answered)", yaxis_title="risk (error rate among them)",
                         height=420, margin=dict(t=30, b=10), xaxis_range=[0, 1])
    return figure


def calibration_figure(name: str, evaluation: Mapping[str, Any]) -> go.Figure:
    """Reliability diagram of one measure's normalised confidence: accuracy per bin against the diagonal."""
    bins = [entry for entry in evaluation["calibration"] or [] if entry["count"]]
    centres = [(entry["lower"] + entry["upper"]) / 2 for entry in bins]
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color=CHANCE_COLOUR), name="calibrated"))
    figure.add_trace(
        go.Bar(x=centres, y=[entry["accuracy"] for entry in bins], width=[entry["upper"] - entry["lower"] for entry in bins],
               customdata=np.array([[entry["count"], entry["mean_confidence"]] for entry in bins]).reshape(-1, 2),
               hovertemplate="accuracy %{y:.2f}<br>%{customdata[0]} questions, mean confidence %{customdata[1]:.2f}<extra></extra>",
               name="accuracy", marker_color=CHOSEN_COLOUR, opacity=0.8)
    )
    ece = evaluation["ece"]
    title = f"{_measure_title(name, evaluation)}" + ("" if ece is None else f" · ECE {ece:.3f}")
    figure.update_layout(title=title, xaxis_title="confidence (U min-max normalised over the batch, reversed)",
                         yaxis_title="accuracy", height=380, margin=dict(t=40, b=10), xaxis_range=[0, 1], yaxis_range=[0, 1.02])
    return figure


def group_representatives(answers: Sequence[str], labels: Sequence[str | None]) -> dict[str, str]:
    """The first answer of every voting group, the text shown for the group."""
    representatives: dict[str, str] = {}
    for answer, label in zip(answers, labels, strict=True):
        if label is not None:
            representatives.setdefault(label, answer)
    return representatives


def borda_frame(answers: Sequence[str], certainties: Sequence[float], labels: Sequence[str | None], result: BordaResult) -> pd.DataFrame:
    """Per sample: its self-certainty rank, the votes it casts and the group it votes for, most certain first."""
    frame = pd.DataFrame(
        {
            "sample": range(1, len(answers) + 1),
            "answer": list(answers),
            "self-certainty": list(certainties),
            "votes cast": [result.votes_by_sample[index] for index in range(len(answers))],
            "group": [label or "(no answer)" for label in labels],
            "chosen": [label is not None and label == result.answer for label in labels],
        }
    )
    return frame.sort_values("self-certainty", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class BestOfN:
    """What the best-of-N section draws: the Borda vote, each answer's voting label and self-certainty, and the single
    most self-certain sample."""

    vote: BordaResult
    labels: list[str | None]
    certainties: list[float]
    most_certain: int


def best_of_n(samples: Sequence[Sample], cluster_ids: Sequence[int] | None, exponent: float) -> BestOfN:
    """Borda voting over self-certainty ranks, answers grouped by normalised text or by meaning cluster (docs/methods.md §7.2)."""
    labels = voting_labels([sample.text for sample in samples], cluster_ids)
    certainties = [answer_self_certainty(sample.kl_from_uniform) for sample in samples]
    most_certain = max(range(len(certainties)), key=lambda index: certainties[index])
    return BestOfN(borda_vote(certainties, labels, exponent), labels, certainties, most_certain)


def cocoa_figure(answers: Sequence[str], detail: CocoaDetail, per_sample: Sequence[float], information_label: str) -> go.Figure:
    """CoCoA per answer: its own uncertainty u_j (x) against its mean dissimilarity to the other answers (y), coloured
    by U_j = u_j · d_j; the dashed curve u · d = mean U separates the answers that raise the run's CoCoA from those
    that lower it (Vashurin et al. 2025; docs/methods.md §12.4)."""
    labels = [f"S{index + 1}" for index in range(len(answers))]
    hover = [
        f"<b>{label}</b>: {answer_hover(answer)}<br>own uncertainty {u:.3f}, mean dissimilarity {d:.3f}<br>CoCoA {value:.3f}"
        for label, answer, u, d, value in zip(labels, answers, detail.information, detail.dissimilarity, per_sample)
    ]
    figure = go.Figure(
        go.Scatter(
            x=detail.information, y=detail.dissimilarity, mode="markers+text", text=labels, textposition="top center",
            hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", name="answers", customdata=list(range(len(labels))),
            marker={"size": 12, "color": list(per_sample), "colorscale": "Reds", "showscale": True, "line": {"width": 1, "color": "#555"},
                    "colorbar": {"title": {"text": "CoCoA U_j", "side": "right"}}},
        )
    )
    mean = float(np.mean(per_sample)) if len(per_sample) else 0.0
    positive = [u for u in detail.information if u > 0]
    xs = np.linspace(min(positive), max(positive), 60) if mean > 0 and positive else np.array([])
    xs = xs[mean / xs <= 1.0] if len(xs) else xs  # dissimilarity is at most 1
    if len(xs):
        figure.add_trace(go.Scatter(x=xs, y=mean / xs, mode="lines", line={"dash": "dash", "color": CHANCE_COLOUR},
                                    name=f"u · d = {mean:.3f} (the run's CoCoA)", hoverinfo="skip"))
    figure.update_layout(
        title={"text": f"W: {html.escape(detail.affinity_name)}" if detail.affinity_name else "", "font": {"size": 12}},
        xaxis_title=f"own uncertainty u_j: {information_label}", yaxis_title="mean dissimilarity 1 − W to the others",
        height=400, margin=dict(t=40, b=10), legend=dict(orientation="h", y=-0.2),
    )
    return figure
