"""Heavy, shared statistics of a run, computed once and read by every measure (the lm-polygraph split)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from uqviz.measures.logprob import DEFAULT_CHOW_QUANTILE
from uqviz.models import Embedder
from uqviz.run import Run
from uqviz.similarity import BiEncoderSimilarity, SimilarityBackend, resolve_precision

T = TypeVar("T")


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of the measures that have any; defaults follow ALGORITHMS.md."""

    chow_alpha: float = DEFAULT_CHOW_QUANTILE
    sar_temperature: float = 1e-3
    relevance_precision: str = "auto"
    cluster_rule: str = "embedding"
    cluster_threshold: float = 0.65
    eccentricity_threshold: float = 0.9
    volume_epsilon: float = 1e-3
    volume_pca_dim: int | None = None
    volume_center: bool = False
    uqac_sample: int | str | None = None  # a sample index, or "greedy"
    uqac_buffer: int = 3
    uqac_tau: float = 0.5
    uqac_min_extra: int = 5
    uqac_heads: int = 16
    uqac_similarity_top_k: int = 10
    uqac_double_count: bool = True


@dataclass
class Cost:
    seconds: float = 0.0
    model_calls: int = 0


class MissingInputError(RuntimeError):
    """A measure needs something this run or RunStatistics lacks; scoring reports the message as the reason."""


class MissingModelError(MissingInputError):
    """A statistic needs a model (embedder, NLI, LM) that this RunStatistics was not given."""


class RunStatistics:
    """Lazily computed views of a run; `costs` records what each expensive statistic took.

    Models come in as loaders so that a run scored without them still gets every measure that needs none.
    """

    def __init__(
        self,
        run: Run,
        config: ScoreConfig | None = None,
        *,
        embedder: Embedder | Callable[[], Embedder] | None = None,
        similarity: SimilarityBackend | None = None,
        nli: Any | Callable[[], Any] | None = None,
        language_model: Any | Callable[[], Any] | None = None,
    ) -> None:
        self.run = run
        self.config = config or ScoreConfig()
        self.costs: dict[str, Cost] = {}
        self._embedder = embedder
        self._similarity = similarity
        self._nli = nli
        self._language_model = language_model
        self._memo: dict[str, Any] = {}

    def with_config(self, config: ScoreConfig) -> RunStatistics:
        """The same run under other settings (re-derives from cached embeddings, never re-embeds)."""
        return self.derived(self.run, config)

    def derived(self, run: Run, config: ScoreConfig) -> RunStatistics:
        """Statistics of `run` under `config` that keep these models and every embedding already computed."""
        return RunStatistics(
            run, config, embedder=self._embedder, similarity=self._similarity, nli=self._nli,
            language_model=self._language_model,
        )

    @cached_property
    def logprobs(self) -> list[list[float]]:
        """Per-sample token log-probs; imported answers without them cannot feed white-box measures."""
        if any(sample.text and not sample.logprobs for sample in self.run.samples):
            raise MissingInputError("the run has answers without token log-probabilities")
        return [sample.logprobs for sample in self.run.samples]

    @cached_property
    def token_kl_from_uniform(self) -> list[list[float]]:
        """Per-sample KL(Uniform ‖ p_i); needs the full next-token distributions kept at sampling time."""
        if any(sample.text and not sample.kl_from_uniform for sample in self.run.samples):
            raise MissingInputError("the run has no next-token distributions (imported samples)")
        return [sample.kl_from_uniform for sample in self.run.samples]

    @property
    def question(self) -> str:
        return self.run.prompt

    @cached_property
    def answers(self) -> list[str]:
        return [sample.text for sample in self.run.samples]

    @property
    def similarity(self) -> SimilarityBackend:
        """The similarity backend; by default max(0, cosine) of the embedder's vectors."""
        if self._similarity is None:
            if self._embedder is None:
                raise MissingModelError("no embedder was given, so no similarity can be computed")
            embedder = self._embedder() if callable(self._embedder) else self._embedder
            self._similarity = BiEncoderSimilarity(embedder)
        return self._similarity

    @property
    def nli(self) -> Any:
        """The optional local NLI model (strict bidirectional-entailment clustering); loaded on first use."""
        if self._nli is None:
            raise MissingModelError("no NLI model is configured")
        if callable(self._nli):
            self._nli = self._nli()
        return self._nli

    @property
    def has_nli(self) -> bool:
        return self._nli is not None

    @property
    def language_model(self) -> Any:
        """The run's language model (attention-based measures); loaded on first use."""
        if self._language_model is None:
            raise MissingModelError("no language model is available for this run")
        if callable(self._language_model):
            self._language_model = self._language_model()
        return self._language_model

    @property
    def relevance_precision(self) -> str:
        """float32 or bfloat16: the precision token relevance is computed at on the similarity backend's device."""
        return resolve_precision(self.config.relevance_precision, self.similarity)

    @property
    def similarity_name(self) -> str | None:
        return None if self._similarity is None else self._similarity.name

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit embeddings from the bi-encoder behind the similarity backend, shared by every view."""
        backend = self.similarity
        if not isinstance(backend, BiEncoderSimilarity):
            raise MissingModelError(f"the similarity backend {backend.name!r} has no embeddings")
        return backend.embed(texts)

    @property
    def answer_embeddings(self) -> np.ndarray:
        """K × d unit embeddings of the answers alone (clusters, volume)."""
        return self.memo("answer_embeddings", lambda: self.embed(self.answers))

    def memo(self, name: str, compute: Callable[[], T]) -> T:
        """Compute a named statistic once; its seconds and auxiliary-model calls go to costs[name]."""
        if name not in self._memo:
            calls_before = self._auxiliary_calls()
            started = time.perf_counter()
            value = compute()
            cost = self.costs.setdefault(name, Cost())
            cost.seconds += time.perf_counter() - started
            cost.model_calls += self._auxiliary_calls() - calls_before
            self._memo[name] = value
        return self._memo[name]

    def _auxiliary_calls(self) -> int:
        """Calls made so far by the loaded similarity and NLI models (each counts its own batched calls)."""
        return sum(getattr(model, "calls", 0) for model in (self._similarity, self._nli) if model is not None and not callable(model))
