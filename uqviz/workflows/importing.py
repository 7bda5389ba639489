"""Bring-your-own samples: pasted answers (optionally with token log-probs) become a Run scored without a model.

Only JSON and plain text are read; nothing from a user is ever unpickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from uqviz.format.run import (
    MAX_ANSWER_TOKENS, MAX_PROMPT_CHARS, MAX_RUN_FILE_BYTES, MAX_SAMPLES, MAX_TEXT_CHARS, MAX_TOKEN_BYTES, ModelInfo, Run,
    Sample, SamplingSettings, check_limit, recorded_token_bytes,
)
from uqviz.measures.base import MeasureResult
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import ScoredMeasure, Scores, on_demand_reason, score_run
from uqviz.statistics.base import RunStatistics

PASTED_SOURCE = "pasted"
# Needs every run meets: its answer texts, and the embedder / NLI / cross-encoder that score texts.
TEXT_NEEDS = frozenset({"texts", "question", "embeddings", "similarity", "clusters", "affinity", "nli", "cross-encoder"})
# Black-box measures need nothing from inside a model: the texts, and perturbations of the question where asked.
BLACK_BOX_NEEDS = TEXT_NEEDS | {"perturbations"}
# What every other need asks for, in words shown next to a white-box measure that cannot be computed.
NEED_DESCRIPTIONS = {
    "logprobs": "per-token log-probabilities (paste them as JSON lines)",
    "tokens": "the answers' tokens (paste them with their log-probabilities)",
    "token distributions": "the model's full next-token distributions",
    "token entropies": "per-token entropies (kept when uqviz or a server samples the run)",
    "perturbations": "perturbations of the question (generate or paste them on the Semantic volume page)",
    "language model": "the language model itself",
    "attentions": "its attention weights",
    "hidden states": "its hidden states",
    "top-k alternatives": "each token's top-k alternatives (kept when uqviz samples the run)",
}


class PastedSamplesError(ValueError):
    """Pasted samples that cannot be read; the message is one line naming the line and the problem."""


@dataclass(frozen=True)
class PastedSample:
    text: str
    tokens: list[str] | None = None
    logprobs: list[float] | None = None
    token_bytes: list[list[int] | None] | None = None


@dataclass(frozen=True)
class Availability:
    """Whether a measure can be computed from what a run holds, and what it would need otherwise."""

    name: str
    title: str
    black_box: bool
    missing: tuple[str, ...]

    @property
    def computable(self) -> bool:
        return not self.missing


def parse_samples(text: str) -> list[PastedSample]:
    """One answer per line; a line starting with `{` is JSON: {"text": ..., "tokens": [...], "logprobs": [...]}, with
    optional "bytes": [[...] or null, ...], each token's UTF-8 bytes as OpenAI-compatible servers send them.

    Blank lines are skipped. Either every sample has log-probs or none has. The sizes a run may hold are checked
    before any line is parsed (a paste is held to a run file's size) and on each line before its lists are read.
    """
    check_limit("The paste", len(text), MAX_RUN_FILE_BYTES, "characters", PastedSamplesError)
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise PastedSamplesError("No samples: paste one answer per line.")
    check_limit("The paste", len(lines), MAX_SAMPLES, "samples", PastedSamplesError)
    samples = [_parse_line(line, number) for number, line in lines]
    if len({sample.logprobs is None for sample in samples}) > 1:
        raise PastedSamplesError("Some samples have log-probs and some do not; give them for every sample or for none.")
    return samples


def _parse_line(line: str, number: int) -> PastedSample:
    if not line.lstrip().startswith("{"):
        text = line.strip()
        _check_sizes(f"Line {number}", text, None, None)
        return PastedSample(text)
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise PastedSamplesError(f"Line {number}: starts with '{{' but is not valid JSON ({error.msg}).") from None
    except RecursionError:
        raise PastedSamplesError(f"Line {number}: JSON nested too deeply to be a sample.") from None
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise PastedSamplesError(f"Line {number}: a JSON sample needs a \"text\" string.")
    tokens, logprobs = item.get("tokens"), item.get("logprobs")
    _check_sizes(f"Line {number}", item["text"], tokens, logprobs)
    if "logprobs" not in item and "tokens" not in item:
        return PastedSample(item["text"])
    tokens, logprobs = checked_tokens(f"Line {number}", tokens, logprobs)
    raw_bytes = item.get("bytes")
    if raw_bytes is not None and (not isinstance(raw_bytes, list) or len(raw_bytes) != len(tokens)
                                  or not all(_is_byte_list(entry) for entry in raw_bytes)):
        raise PastedSamplesError(f"Line {number}: \"bytes\" must be a list with one entry per token: null or that token's UTF-8 bytes (0-255).")
    exact = None if raw_bytes is None else [None if entry is None else bytes(entry) for entry in raw_bytes]
    return PastedSample(item["text"], tokens, logprobs, None if exact is None else recorded_token_bytes(tokens, exact))


def checked_tokens(where: str, tokens: object, logprobs: object) -> tuple[list[str], list[float]]:
    """A pasted answer's tokens and log-probs (lists of strings and of finite numbers ≤ 0, as long as each other), or a
    PastedSamplesError naming `where` (a paste's line, an API answer)."""
    if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
        raise PastedSamplesError(f"{where}: \"tokens\" must be a list of strings, one per log-prob.")
    if not isinstance(logprobs, list) or not all(_is_logprob(value) for value in logprobs):
        raise PastedSamplesError(f"{where}: \"logprobs\" must be a list of finite numbers ≤ 0 (natural log).")
    if len(tokens) != len(logprobs):
        raise PastedSamplesError(f"{where}: {len(tokens)} tokens but {len(logprobs)} log-probs.")
    return list(tokens), [float(value) for value in logprobs]


def _is_byte_list(value: object) -> bool:
    return value is None or (isinstance(value, list) and 0 < len(value) <= MAX_TOKEN_BYTES
                             and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value))


def _is_logprob(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value <= 0


def _check_sizes(where: str, text: str, tokens: object, logprobs: object) -> None:
    """Refuse a sample larger than a run may hold (format/run.py's limits) in one sentence naming `where` and the field."""
    check_limit(f"{where}: the text", len(text), MAX_TEXT_CHARS, "characters", PastedSamplesError)
    for name, values in (("tokens", tokens), ("logprobs", logprobs)):
        if isinstance(values, list):
            check_limit(f"{where}: \"{name}\"", len(values), MAX_ANSWER_TOKENS, "entries", PastedSamplesError)


def run_from_samples(prompt: str, samples: list[PastedSample], model_name: str | None = None) -> Run:
    """A Run built without a model: no token ids (the model's are unknown) and the distribution statistics
    (entropies, KL from uniform, alternatives) are empty, i.e. unknown. Sizes are checked first, as the run reader does."""
    check_limit("The question", len(prompt), MAX_PROMPT_CHARS, "characters", PastedSamplesError)
    check_limit("The run", len(samples), MAX_SAMPLES, "samples", PastedSamplesError)
    for index, pasted in enumerate(samples, start=1):
        _check_sizes(f"Sample {index}", pasted.text, pasted.tokens, pasted.logprobs)
    built = []
    for pasted in samples:
        logprobs = pasted.logprobs or []
        built.append(
            Sample(
                text=pasted.text,
                token_ids=None,
                tokens=list(pasted.tokens or []),
                logprobs=list(logprobs),
                entropies=[],
                finish_reason="unknown",
                token_bytes=list(pasted.token_bytes or []),
            )
        )
    longest = max((len(sample) for sample in built), default=0)
    return Run(
        prompt=prompt,
        chat=False,
        model=ModelInfo(model_name or "pasted samples", PASTED_SOURCE, "none", "none", 1),
        settings=SamplingSettings(n=len(built), max_new_tokens=max(longest, 1)),
        prompt_token_ids=None,
        samples=built,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


MODEL_NEEDS = frozenset({"language model", "attentions", "hidden states"})


def run_inputs(run: Run, with_language_model: bool = False) -> frozenset[str]:
    """The needs a run meets: texts always; log-probs, distributions and perturbations when it has them; the model's
    insides when its language model is at hand and the answers have its token ids."""
    inputs = set(TEXT_NEEDS)
    if with_language_model and all(sample.token_ids or not sample.text for sample in run.samples):
        inputs |= MODEL_NEEDS
    if all(len(sample) or not sample.text for sample in run.samples):
        inputs |= {"logprobs", "tokens"}
        if all(sample.kl_from_uniform or not len(sample) for sample in run.samples):
            inputs.add("token distributions")
        if all(sample.entropies or not len(sample) for sample in run.samples):
            inputs.add("token entropies")
        if all(sample.top_tokens or not len(sample) for sample in run.samples):
            inputs.add("top-k alternatives")
    if run.perturbations:
        inputs.add("perturbations")
    return frozenset(inputs)


def measure_availability(run: Run, with_language_model: bool = False) -> list[Availability]:
    """Every registered measure: black-box or not, and the needs this run does not meet."""
    inputs = run_inputs(run, with_language_model)
    return [
        Availability(
            name, measure.title, set(measure.needs) <= BLACK_BOX_NEEDS,
            tuple(need for need in measure.needs if need not in inputs),
        )
        for name, measure in REGISTRY.items()
    ]


def describe_need(need: str) -> str:
    return NEED_DESCRIPTIONS.get(need, need)


def score_available(run: Run, statistics: RunStatistics, on_demand: Sequence[str] = (),
                    before_each: Callable[[int, int, str], None] | None = None) -> Scores:
    """Every measure the run's data and the statistics' language model allow, on-demand ones only when named; the others
    get value None and, as reason, what they would need or how to ask for them. `before_each` as in `score_run`."""
    availability = measure_availability(run, statistics.has_language_model)
    wanted = {entry.name for entry in availability if entry.computable and (not REGISTRY[entry.name].on_demand or entry.name in on_demand)}
    names = [entry.name for entry in availability if entry.name in wanted]
    computed = score_run(run, statistics, names, before_each=before_each) if names else Scores({}, None)
    measures = {}
    for entry in availability:
        if entry.name in wanted:
            measures[entry.name] = computed.measures[entry.name]
        elif entry.computable:
            measures[entry.name] = ScoredMeasure(entry.name, MeasureResult(None, None, reason=on_demand_reason(entry.name)), 0.0, 0)
        else:
            reason = "needs " + "; ".join(describe_need(need) for need in entry.missing)
            measures[entry.name] = ScoredMeasure(entry.name, MeasureResult(None, None, reason=reason), 0.0, 0)
    return Scores(measures, computed.similarity, computed.token_relevance, computed.judge)
