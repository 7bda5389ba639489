"""The Python API for scripts and notebooks: sample, score, score answers made elsewhere, and draw (README.md, "Python API").

Models are loaded once per process and spec. Measure names are the registry's (`uqviz.REGISTRY`).
"""

from __future__ import annotations

import functools
import itertools
import numbers
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import replace

import plotly.graph_objects as go

from uqviz.engine.sampling import SamplingError, clean_prompt, validate
from uqviz.engine.sampling import sample as sample_run
from uqviz.format.run import MAX_ANSWER_TOKENS, MAX_SAMPLES, Run, SamplingSettings, check_limit
from uqviz.models.loading import (
    DEFAULT_EMBEDDER,
    DEFAULT_MODEL,
    Embedder,
    LanguageModel,
    ModelLoadError,
    load_embedder,
    load_language_model,
)
from uqviz.models.nli import DEFAULT_NLI, NliModel, load_nli_outcome, loaded_nli
from uqviz.models.similarity import CrossEncoderSimilarity, load_cross_encoder
from uqviz.scoring.scores import Scores, score_run
from uqviz.statistics.base import MissingModelError, RunStatistics, ScoreConfig
from uqviz.statistics.claims import ATOMIC
from uqviz.viz.chain import chain_figure as draw_chain
from uqviz.viz.history import scores_table_figure
from uqviz.viz.volume import gram_figure, text_labels
from uqviz.workflows.claims import ClaimsTable, claims_table
from uqviz.workflows.importing import PastedSample, PastedSamplesError, checked_tokens, run_from_samples, score_available

RUN_MODEL = "run"


@functools.cache
def load_model(spec: str = DEFAULT_MODEL, device: str = "auto", trust_remote_code: bool = False) -> LanguageModel:
    """A language model: 'default' (the packaged SmolLM2), a model folder, a .gguf file or a hub id; once per process."""
    return load_language_model(spec, device=device, trust_remote_code=trust_remote_code)


@functools.cache
def load_embedder_model(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """The bi-encoder: 'default' (the packaged MiniLM) or a sentence-transformers folder; once per process."""
    return load_embedder(spec)


@functools.cache
def _nli_outcome(spec: str) -> NliModel | ModelLoadError:
    return load_nli_outcome(spec)


def load_nli_model(spec: str = DEFAULT_NLI) -> NliModel:
    """The NLI judge: 'default' (the packaged one), a folder or a hub id; loaded, or failed, once per process."""
    return loaded_nli(_nli_outcome(spec))


def sample(
    prompt: str,
    n: int = 10,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = 64,
    seed: int = 0,
    model: str | LanguageModel = DEFAULT_MODEL,
    device: str = "auto",
    chat: bool = True,
    system_prompt: str | None = None,
) -> Run:
    """N answers to `prompt` with every token's raw log-probability, entropy and top-5 alternatives (`uqviz.run/1`); a bad
    prompt or setting is a SamplingError in one sentence before any model loads."""
    if not isinstance(prompt, str):
        raise SamplingError(f"The prompt must be a string, not {type(prompt).__name__}.")
    for name, value in (("n", n), ("top_k", top_k), ("max_new_tokens", max_new_tokens), ("seed", seed)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise SamplingError(f"{name} must be an integer, got {value!r}.")
    settings = SamplingSettings(n=int(n), temperature=temperature, top_p=top_p, top_k=int(top_k), max_new_tokens=int(max_new_tokens),
                                seed=int(seed))
    validate(clean_prompt(prompt), settings)
    lm = model if isinstance(model, LanguageModel) else load_model(model, device)
    return sample_run(lm, prompt, settings, chat=chat, system_prompt=system_prompt)


def statistics(
    run: Run,
    *,
    embedder: str = DEFAULT_EMBEDDER,
    nli: str | None = DEFAULT_NLI,
    cross_encoder: str | None = None,
    language_model: LanguageModel | str | Callable[[], LanguageModel] | None = RUN_MODEL,
    config: ScoreConfig | None = None,
    reply_model: object | None = None,
) -> RunStatistics:
    """The shared statistics of a run with its models, each loaded on first use.

    `nli` is the meaning judge: the packaged NLI model, a folder, a hub id, or None for embedding cosine (the
    clustering rule `auto` falls back to it, with a note, when the NLI model cannot be loaded); `cross_encoder` scores
    SAR's text pairs; `language_model` is a loaded model, a loader, a spec, "run" (the model the run names, for UQAC)
    or None; `reply_model` is what answers questions about the answers when there is no language model (a connected
    server, `load_model("openai:URL#MODEL")`: the LLM judge, atomic claims).
    """
    config = config or ScoreConfig()
    similarity = CrossEncoderSimilarity(load_cross_encoder(cross_encoder), load_embedder_model(embedder)) if cross_encoder else None
    return RunStatistics(
        run, config, embedder=functools.partial(load_embedder_model, embedder), similarity=similarity,
        nli=None if nli is None else functools.partial(load_nli_model, nli), language_model=_language_model(run, language_model),
        reply_model=reply_model,
    )


def _language_model(
    run: Run, choice: LanguageModel | str | Callable[[], LanguageModel] | None
) -> LanguageModel | Callable[[], LanguageModel] | None:
    if choice is None or isinstance(choice, LanguageModel) or callable(choice):
        return choice
    if choice == RUN_MODEL:
        return functools.partial(run_language_model, run)
    return functools.partial(load_model, choice)


def run_language_model(run: Run) -> LanguageModel:
    """The model that sampled `run`, from its `model.source`; a model that cannot be loaded is a MissingModelError,
    so UQAC is null with the reason and every other measure is still computed."""
    from uqviz.models.loading import spec_from_source

    try:
        return load_model(spec_from_source(run.model.source))
    except ModelLoadError as error:
        raise MissingModelError(f"the run's model could not be loaded: {error}") from error


def score(run: Run, measures: Sequence[str] | None = None, **models: object) -> Scores:
    """Every registered measure of `run` (or `measures`), each with its value, detail, seconds, model calls and reason.

    Keyword arguments are those of `statistics` (embedder, nli, cross_encoder, language_model, config).
    """
    return score_run(run, statistics(run, **models), list(measures) if measures else None)


def score_texts(
    question: str,
    answers: Iterable[str],
    logprobs: Iterable[Iterable[float]] | None = None,
    tokens: Iterable[Iterable[str]] | None = None,
    *,
    embedder: str = DEFAULT_EMBEDDER,
    nli: str | None = DEFAULT_NLI,
) -> Scores:
    """Scores of answers produced elsewhere: the black-box measures always; with per-token `logprobs` (natural log)
    and their `tokens`, the white-box ones too. Measures that need more say what in their reason. The inputs are held to
    what a pasted sample may be (PastedSamplesError, a ValueError, in one sentence); an iterator is read at most one
    item past a limit."""
    if (logprobs is None) != (tokens is None):
        raise PastedSamplesError("give per-token logprobs together with the tokens they belong to, or neither")
    if not isinstance(question, str):
        raise PastedSamplesError(f"The question must be a string, not {type(question).__name__}.")
    texts = _listed(answers, "The list of answers", MAX_SAMPLES, "samples")
    if not texts:
        raise PastedSamplesError("No answers: give at least one answer to score.")
    if tokens is None or logprobs is None:
        pasted = [_pasted_sample(index, text, None, None) for index, text in enumerate(texts, start=1)]
    else:
        token_rows = _listed(tokens, "The list of token rows", MAX_SAMPLES, "rows")
        logprob_rows = _listed(logprobs, "The list of log-prob rows", MAX_SAMPLES, "rows")
        if not len(texts) == len(token_rows) == len(logprob_rows):
            raise PastedSamplesError(f"{len(texts)} answers but {len(token_rows)} token rows and {len(logprob_rows)} log-prob rows; "
                                     "give one row of each per answer.")
        pasted = [_pasted_sample(index, *sample) for index, sample in enumerate(zip(texts, token_rows, logprob_rows), start=1)]
    run = run_from_samples(question, pasted)
    return score_available(run, statistics(run, embedder=embedder, nli=nli, language_model=None))


def _listed(values: object, where: str, limit: int, unit: str) -> list:
    """`values` as a list of at most `limit` items, an iterator read one item past it at most (so an endless one is
    refused, not read forever); a string is refused, not taken as a list of its characters."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise PastedSamplesError(f"{where} must be a list, not {type(values).__name__}.")
    items = list(itertools.islice(values, limit + 1))
    check_limit(where, len(values) if isinstance(values, Sized) else len(items), limit, unit, PastedSamplesError)
    return items


def _pasted_sample(index: int, text: object, tokens: object, logprobs: object) -> PastedSample:
    """Answer `index` (from 1) with its tokens and log-probs, checked as a pasted JSON sample is (its length is checked
    with the others' by run_from_samples)."""
    where = f"Answer {index}"
    if not isinstance(text, str):
        raise PastedSamplesError(f"{where}: the answer must be a string, not {type(text).__name__}.")
    if tokens is None or logprobs is None:
        return PastedSample(text)
    token_list = _listed(tokens, f'{where}: "tokens"', MAX_ANSWER_TOKENS, "entries")
    values = [float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else value
              for value in _listed(logprobs, f'{where}: "logprobs"', MAX_ANSWER_TOKENS, "entries")]
    return PastedSample(text, *checked_tokens(where, token_list, values))


def claims(run: Run, with_ccp: bool = False, atomic: bool = False, **models: object) -> ClaimsTable:
    """Every sentence claim of every answer with its spans, support, LUQ and token statistics (`to_frame()` for a
    DataFrame); claim-level CCP only `with_ccp`; `atomic`: each sentence decomposed into atomic claims by the run's
    model (or the `language_model` given). Keyword arguments are those of `statistics` (docs/methods.md §13)."""
    config = models.pop("config", None) or ScoreConfig()
    config = replace(config, claim_unit=ATOMIC) if atomic else config
    chosen = {"language_model": RUN_MODEL if atomic else None, **models, "config": config}
    return claims_table(statistics(run, **chosen), with_ccp=with_ccp)


def scores_figure(scores: Scores) -> go.Figure:
    """Every measure's U with what higher means, seconds and model calls, as a table figure."""
    return scores_table_figure(scores.to_dict())


def volume_figure(scores: Scores, texts: Sequence[str], name: str = "semantic_volume") -> go.Figure:
    """The Gram matrix behind a semantic volume, with each pair's texts on hover."""
    detail = scores.measures[name].result.detail
    if detail is None:
        raise ValueError(f"{name} was not computed: {scores.measures[name].result.reason}")
    return gram_figure(detail.gram, list(texts), text_labels("A" if name == "semantic_volume" else "P", len(texts)))


def chain_figure(scores: Scores) -> go.Figure:
    """UQAC's attention chain over the prompt and answer, with the reduced attention on the edges."""
    detail = scores.measures["uqac"].result.detail
    if detail is None:
        raise ValueError(f"uqac was not computed: {scores.measures['uqac'].result.reason}")
    return draw_chain(detail.chain)


__all__ = [
    "chain_figure", "claims", "load_model", "run_language_model", "sample", "score", "score_texts", "scores_figure", "statistics",
    "volume_figure",
]
