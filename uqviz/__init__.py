"""uqviz: make the uncertainty of language models visible. The engine never imports streamlit.

`import uqviz` stays light: the API (`uqviz.sample`, `uqviz.score`, `uqviz.score_texts`, `uqviz.claims`, the figures) and the
registry load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["REGISTRY", "__version__", "chain_figure", "claims", "load_model", "sample", "score", "score_texts", "scores_figure", "volume_figure"]
_API = frozenset(__all__[2:])  # `uqviz.statistics` is the statistics layer; the API's statistics() is uqviz.api.statistics

if TYPE_CHECKING:
    from uqviz.api import chain_figure, claims, load_model, sample, score, score_texts, scores_figure, volume_figure
    from uqviz.measures.registry import REGISTRY


def __getattr__(name: str) -> Any:
    if name in _API:
        from uqviz import api

        return getattr(api, name)
    if name == "REGISTRY":
        from uqviz.measures.registry import REGISTRY

        return REGISTRY
    raise AttributeError(f"module 'uqviz' has no attribute {name!r}")

