"""The views after the Sample page, in navigation order: the one list behind app.py's navigation and bench/pages.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """A page file under pages/ with its navigation title and icon; the file defines `render()`."""

    path: str
    title: str
    icon: str


VIEWS = (
    View("pages/overview.py", "All scores", ":material/table_chart:"),
    View("pages/token_relevance.py", "Token relevance (SAR)", ":material/format_color_text:"),
    View("pages/semantic_clusters.py", "Semantic clusters", ":material/bubble_chart:"),
    View("pages/semantic_volume.py", "Semantic volume", ":material/deployed_code:"),
    View("pages/attention_chain.py", "Attention chain (UQAC)", ":material/account_tree:"),
    View("pages/token_alternatives.py", "Token alternatives (CCP)", ":material/swap_horiz:"),
    View("pages/claims.py", "Claims", ":material/format_list_bulleted:"),
    View("pages/self_report.py", "Ask the model (P(True))", ":material/record_voice_over:"),
    View("pages/batch.py", "Batch evaluation", ":material/fact_check:"),
    View("pages/calibration.py", "Calibration", ":material/tune:"),
    View("pages/history.py", "History", ":material/history:"),
    View("pages/what_if.py", "What if", ":material/compare_arrows:"),
)
