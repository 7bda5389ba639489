"""Heavy, shared statistics of a run: named calculators computed once and read by every measure (the lm-polygraph split).

A `Statistic` is a named calculation; `RunStatistics.get` computes it once per run, settings and key, and books
its seconds and model calls under its name. Measures never cache anything themselves (docs/architecture.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

import numpy as np

from uqviz.format.run import Run
from uqviz.models.loading import Embedder
from uqviz.models.similarity import BiEncoderSimilarity, SimilarityBackend, resolve_precision

T = TypeVar("T")

DEFAULT_CHOW_QUANTILE = 0.0


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of the measures that have any; defaults follow docs/methods.md."""

    chow_alpha: float = DEFAULT_CHOW_QUANTILE
    sar_temperature: float = 1e-3
    relevance_precision: str = "auto"
    relevance_budget: int | None = 400_000  # characters of removal variants token relevance embeds; None: no cap (§4.6)
    cluster_rule: str = "auto"  # strict entailment when an NLI model is given and loads, else embedding
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
    uqac_stop_set: str = "reference"
    eigenscore_alpha: float = 1e-3
    eigenscore_layer: int | None = None  # hidden_states index; None is the middle layer
    eigenscore_position: str = "producing_step"  # the step that produced the last answer token (INSIDE), or "last_token" (§2.4)
    kle_time: float = 0.3
    p_true_prompt: str = (
        "Question: {question}\nPossible answer: {answer}\nIs the possible answer:\n (A) True\n (B) False\n"
        "The possible answer is:"
    )
    verbalized_one_stage_prompt: str = (
        "Provide your best guess and the probability that it is correct (0.0 to 1.0) for the following question. "
        "Give ONLY the guess and probability, no other words or explanation. For example:\n\nGuess: <most likely "
        "guess, as short as possible; not a complete sentence, just the guess!>\nProbability: <the probability "
        "between 0.0 and 1.0 that your guess is correct, without any extra commentary whatsoever; just the "
        "probability!>\n\nThe question is: {question}"
    )
    verbalized_two_stage_prompt: str = (
        "Provide the probability that your answer is correct. Give ONLY the probability, no other words or "
        "explanation.\n\nFor example:\n\nProbability: <the probability between 0.0 and 1.0 that your answer is "
        "correct, without any extra commentary whatsoever; just the probability!>"
    )
    verbalized_max_new_tokens: int = 24
    # UQLM 0.6.7's judge prompts (judges/judge.py, utils/prompts/judge_prompts.py), each line's indentation removed
    judge_categorical_prompt: str = (
        "Question: {question}, Proposed Answer: {answer}. Your task is to look at the question and answer provided and "
        "determine if the answer is correct.\n"
        'You are to respond with ONLY one of: "Correct", "Incorrect", or "I am not sure".\n'
        'YOUR ANSWER MUST ONLY CONTAIN ONE OF "Correct", "Incorrect", or "I am not sure".\n'
        "DO NOT ANSWER THE QUESTION AGAIN.\n"
        'ONLY DETERMINE IF THE ANSWER TO THE QUESTION IS "Correct", "Incorrect", or "I am not sure".'
    )
    judge_continuous_prompt: str = (
        "Question: {question}, Proposed Answer: {answer}. How likely is the above answer to be correct?\n"
        "Analyze the answer and give your confidence in this answer between 0 (lowest) and 100 (highest),\n"
        "with 100 being certain the answer is correct, and 0 being certain the answer is incorrect.\n\n"
        "THE CONFIDENCE RATING YOU PROVIDE MUST BE BETWEEN 0 and 100. ONLY RETURN YOUR NUMERICAL SCORE WITH NO "
        "SURROUNDING TEXT OR EXPLANATION\n\n"
        "# Example 1\n## Data to analyze\nQuestion: Who was the first president of the United States?\n"
        "Proposed Answer: Benjamin Franklin\n\n## Your response\n4 (highly certain the proposed answer is incorrect)\n\n"
        "# Example 2\n## Data to analyze\nQuestion: What is 2+2?\nProposed Answer: 4\n\n## Your response\n"
        "99 (highly certain the proposed answer is correct)"
    )
    judge_max_new_tokens: int = 16
    claim_unit: str = "sentence"  # or "atomic": each sentence decomposed by the run's model (docs/methods.md §13.6)
    # Zhang et al. 2025 (Atomic Calibration), as UQLM 0.6.7 words it (utils/prompts/decomposition.py), asked per sentence
    claim_decomposition_prompt: str = (
        "Please breakdown the following passage into independent fact pieces.\n\n"
        "Step 1: For each sentence, you should break it into several fact pieces. Each fact piece should only contain one "
        "single independent fact. Normally the format of a fact piece is \"subject + verb + object\". If the sentence does "
        "not contain a verb, you can use \"be\" as the verb.\n\n"
        "Step 2: Do this for all the sentences. Output each piece of fact in one single line starting with ###. Do not "
        "include other formatting.\n\n"
        "Step 3: Each atomic fact should be self-contained. Do not use pronouns as the subject of a piece of fact, such as "
        "he, she, it, this that, use the original subject whenever possible.\n\n"
        "Step 4: If the sentence does not contain any independent fact, you should output \"### NONE\".\n\n"
        "Here are some examples:\n\n"
        "Example 1:\nMichael Collins (born October 31, 1930) is a retired American astronaut and test pilot who was the "
        "Command Module Pilot for the Apollo 11 mission in 1969.\n"
        "### Michael Collins was born on October 31, 1930.\n### Michael Collins is retired.\n"
        "### Michael Collins is an American.\n### Michael Collins was an astronaut.\n### Michael Collins was a test pilot.\n"
        "### Michael Collins was the Command Module Pilot.\n"
        "### Michael Collins was the Command Module Pilot for the Apollo 11 mission.\n"
        "### Michael Collins was the Command Module Pilot for the Apollo 11 mission in 1969.\n\n"
        "Example 2:\nHi\n### NONE\n\n"
        "Now it's your turn. Here is the passage:\n\n{passage}\n\n"
        "You should only return the final answer. Now your answer is:"
    )
    claim_decomposition_max_new_tokens: int = 128


@dataclass
class Cost:
    seconds: float = 0.0
    model_calls: int = 0


class MissingInputError(RuntimeError):
    """A measure needs something this run or RunStatistics lacks; scoring reports the message as the reason."""


class MissingModelError(MissingInputError):
    """A statistic needs a model (embedder, NLI, LM) that this RunStatistics was not given."""


@dataclass(frozen=True)
class Statistic(Generic[T]):
    """A named calculation over a run; `compute(stats, *key)` runs once per RunStatistics and key."""

    name: str
    compute: Callable[..., T]

    def __call__(self, stats: RunStatistics, *key: Hashable) -> T:
        return stats.get(self, *key)


class RunStatistics:
    """Lazily computed views of a run; `costs` records what each statistic took, by statistic name.

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
        reply_model: Any | Callable[[], Any] | None = None,
    ) -> None:
        self.run = run
        self.config = config or ScoreConfig()
        self.costs: dict[str, Cost] = {}
        self._embedder = embedder
        self._similarity = similarity
        self._nli = nli
        self._language_model = language_model
        self._reply_model = reply_model
        self._values: dict[tuple[str, tuple], Any] = {}
        self._calls_before_loading = 0  # calls a lazily loaded, shared model made for other runs: booked to none

    def with_config(self, config: ScoreConfig) -> RunStatistics:
        """The same run under other settings (re-derives from cached embeddings, never re-embeds)."""
        return self.derived(self.run, config)

    def derived(self, run: Run, config: ScoreConfig) -> RunStatistics:
        """Statistics of `run` under `config` that keep these models and every embedding already computed."""
        return RunStatistics(
            run, config, embedder=self._embedder, similarity=self._similarity, nli=self._nli,
            language_model=self._language_model, reply_model=self._reply_model,
        )

    def get(self, statistic: Statistic[T], *key: Hashable) -> T:
        """The statistic's value for this run (and key), computed on first use; its cost goes to costs[statistic.name]."""
        slot = (statistic.name, key)
        if slot not in self._values:
            calls_before = self._model_calls()
            started = time.perf_counter()
            value = statistic.compute(self, *key)
            cost = self.costs.setdefault(statistic.name, Cost())
            cost.seconds += time.perf_counter() - started
            cost.model_calls += self._model_calls() - calls_before
            self._values[slot] = value
        return self._values[slot]

    def cached(self, statistic: Statistic[T], *key: Hashable) -> T | None:
        """The statistic's value if it was computed already, else None; never computes."""
        return self._values.get((statistic.name, key))

    def provide(self, statistic: Statistic[T], value: T, *key: Hashable) -> None:
        """Give a statistic a value computed elsewhere (a batch's graded greedy answer), so it is not computed again."""
        self._values.setdefault((statistic.name, key), value)

    def computed(self, statistic: Statistic[T]) -> dict[tuple, T]:
        """Every value of the statistic computed so far, by key."""
        return {key: value for (name, key), value in self._values.items() if name == statistic.name}

    @cached_property
    def logprobs(self) -> list[list[float]]:
        """Per-sample token log-probs; imported answers without them cannot feed white-box measures."""
        if any(sample.text and not sample.logprobs for sample in self.run.samples):
            raise MissingInputError("the run has answers without token log-probabilities")
        return [sample.logprobs for sample in self.run.samples]

    @cached_property
    def token_kl_from_uniform(self) -> list[list[float]]:
        """Per-sample KL(Uniform ‖ p_i); needs the full next-token distributions kept at sampling time."""
        return self._distribution_statistic("kl_from_uniform")

    @cached_property
    def token_renyi_from_uniform(self) -> list[list[float]]:
        """Per-sample D_1/2(p̃_i ‖ Uniform), p̃_i ∝ p_i^(1/2); needs the full next-token distributions kept at sampling time."""
        return self._distribution_statistic("renyi_from_uniform")

    @cached_property
    def token_fisher_rao_from_uniform(self) -> list[list[float]]:
        """Per-sample (2/π)·arccos BC(p̃_i, Uniform), p̃_i ∝ p_i^(1/2); needs the full distributions kept at sampling time."""
        return self._distribution_statistic("fisher_rao_from_uniform")

    @cached_property
    def token_entropies(self) -> list[list[float]]:
        """Per-sample entropy of each next-token distribution (top-K only for a server's run, see Run.distribution)."""
        return self._distribution_statistic("entropies")

    def _distribution_statistic(self, field: str) -> list[list[float]]:
        """One per-token list of every sample; an answer with text but no such list was imported without them."""
        values = [getattr(sample, field) for sample in self.run.samples]
        if any(sample.text and not own for sample, own in zip(self.run.samples, values)):
            raise MissingInputError("the run has no next-token distributions (imported samples)")
        return values

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
        """The optional NLI model (entailment-based clustering); loaded on first use."""
        return self._model("_nli", "no NLI model is configured")

    @property
    def has_nli(self) -> bool:
        return self._nli is not None

    @property
    def language_model(self) -> Any:
        """The run's language model (attention-based measures); loaded on first use."""
        return self._model("_language_model", "no language model is available for this run")

    def _model(self, slot: str, missing: str) -> Any:
        """The model held in `slot`, loaded on first use when it is a loader; its calls made before (for other runs of a
        shared cache) are set aside. MissingModelError(missing) when there is none."""
        model = getattr(self, slot)
        if model is None:
            raise MissingModelError(missing)
        if callable(model):
            model = model()
            self._calls_before_loading += getattr(model, "calls", 0)
            setattr(self, slot, model)
        return model

    @property
    def has_language_model(self) -> bool:
        return self._language_model is not None

    @property
    def reply_model(self) -> Any:
        """What writes replies about the answers (a judge's verdict, atomic claims): the run's language model, else the
        server that sampled the run, which can reply but has no insides to read; loaded on first use."""
        if self.has_language_model:
            return self.language_model
        return self._model("_reply_model", "no language model or server that sampled the run is available to ask")

    @property
    def has_reply_model(self) -> bool:
        return self.has_language_model or self._reply_model is not None

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
        return self.get(ANSWER_EMBEDDINGS)

    def _model_calls(self) -> int:
        """Calls made so far by the loaded similarity, NLI and language models (each counts its own batched calls)."""
        models = (self._similarity, self._nli, self._language_model, self._reply_model)
        loaded = sum(getattr(model, "calls", 0) for model in models if model is not None and not callable(model))
        return loaded - self._calls_before_loading


ANSWER_EMBEDDINGS = Statistic("answer_embeddings", lambda stats: stats.embed(stats.answers))
PERTURBATION_EMBEDDINGS = Statistic("perturbation_embeddings", lambda stats: stats.embed(list(stats.run.perturbations or [])))
