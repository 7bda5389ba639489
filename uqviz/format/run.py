"""The run format `uqviz.run/1`: dataclasses, JSON read/write and validation (README.md, "Command line")."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

SCHEMA = "uqviz.run/1"
# What a run may hold; the reader refuses anything larger before reading further (README.md, "Bad inputs").
MAX_RUN_FILE_BYTES = 64 * 1024 * 1024
MAX_SAMPLES = 64
MAX_ANSWER_TOKENS = 4_096
MAX_TEXT_CHARS = 20_000
MAX_PROMPT_CHARS = 20_000
MAX_TOP_ALTERNATIVES = 20
MAX_TOKEN_BYTES = 64
# where runs come from without the model's own token ids: a server that gave none, or pasted answers
SOURCES_WITHOUT_IDS = ("server", "none")


class RunFormatError(ValueError):
    """A run file or dict does not follow `uqviz.run/1`; the message is one line naming the field."""


def check_limit(where: str, found: int, limit: int, unit: str, error: type[ValueError] = RunFormatError) -> None:
    """Raise `error` with one sentence naming `where`, the size found and the limit when `found` exceeds `limit`."""
    if found > limit:
        raise error(f"{where} has {found:,} {unit}, more than the {limit:,} allowed")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    source: str
    device: str
    dtype: str
    vocab_size: int


@dataclass(frozen=True)
class SamplingSettings:
    """How the answers were drawn. temperature 0 means greedy; top_k 0 means no top-k cut."""

    n: int = 10
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 64
    seed: int = 0


@dataclass(frozen=True)
class AdaptiveSampling:
    """How a run drawn until semantic entropy settled was drawn (docs/methods.md §12.14): `first` answers, then `step`
    more per round, each round seeded with `settings.seed` + the answers drawn before it, until the posterior variance
    of Bayesian semantic entropy was at most `max_variance` or `max_n` answers were drawn. `posterior_sd` is that
    posterior's standard deviation after each round."""

    first: int
    step: int
    max_variance: float
    max_n: int
    posterior_sd: list[float]


@dataclass(frozen=True)
class Sample:
    """One answer. Per token: raw-distribution log-prob, entropy, KL, Rényi and Fisher-Rao from uniform, top alternatives.

    Imported samples may lack the distribution statistics: then entropies, the distances from uniform and the top
    alternatives are empty lists (unknown), never stand-ins. `renyi_from_uniform` and `fisher_rao_from_uniform` are
    D_1/2(p̃ ‖ Uniform) and (2/π)·arccos BC(p̃, Uniform) of p̃ ∝ p^(1/2), the distribution at temperature 2
    (docs/methods.md §12.13); runs written before they existed, and a server's top-K runs, leave them empty.
    `token_ids` are the model's own ids, or None where the source could not give them (a server without ids, pasted
    answers). `token_bytes` holds, per token, its exact UTF-8 bytes where its text cannot carry them (a byte token that
    splits a character) and None elsewhere; it is empty when no token needs them or, in runs written before it
    existed, when they were not recorded.
    """

    text: str
    token_ids: list[int] | None
    tokens: list[str]
    logprobs: list[float]
    entropies: list[float]
    finish_reason: str
    kl_from_uniform: list[float] = field(default_factory=list)
    renyi_from_uniform: list[float] = field(default_factory=list)
    fisher_rao_from_uniform: list[float] = field(default_factory=list)
    top_token_ids: list[list[int]] = field(default_factory=list)
    top_tokens: list[list[str]] = field(default_factory=list)
    top_logprobs: list[list[float]] = field(default_factory=list)
    token_bytes: list[list[int] | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    def exact_token_bytes(self) -> list[bytes] | None:
        """Every token's exact UTF-8 bytes when the run records the bytes its texts cannot carry, else None."""
        if not self.token_bytes:
            return None
        return [bytes(raw) if raw is not None else token.encode("utf-8") for token, raw in zip(self.tokens, self.token_bytes)]


@dataclass(frozen=True)
class Run:
    prompt: str
    chat: bool
    model: ModelInfo
    settings: SamplingSettings
    prompt_token_ids: list[int] | None  # None: the source did not say how it tokenized the prompt (a server)
    samples: list[Sample]
    system_prompt: str | None = None
    sampling_seconds: float | None = None
    created: str | None = None
    perturbations: list[str] | None = None
    # how the per-token entropies were obtained: None is the model's full next-token distribution (or none kept);
    # "top-K" is a server's top-K log-probs, the rest of the mass lumped as one outcome (an approximation)
    distribution: str | None = None
    adaptive: AdaptiveSampling | None = None  # None: the N answers were drawn at once

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}


def recorded_token_bytes(tokens: list[str], exact: list[bytes | None]) -> list[list[int] | None]:
    """`Sample.token_bytes` from each token's exact bytes (None where unknown): kept only where the text differs."""
    recorded = [list(raw) if raw is not None and raw != token.encode("utf-8") else None for token, raw in zip(tokens, exact)]
    return recorded if any(raw is not None for raw in recorded) else []


def run_to_json(run: Run) -> str:
    return json.dumps(run.to_dict(), ensure_ascii=False, allow_nan=False)


def write_run(run: Run, path: str | Path) -> None:
    Path(path).write_text(run_to_json(run), encoding="utf-8")


def read_run(path: str | Path) -> Run:
    """Read and validate a run file; every problem is a RunFormatError with a one-line message."""
    path = Path(path)
    if not path.is_file():
        raise RunFormatError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_RUN_FILE_BYTES:
        raise RunFormatError(f"{path}: file is {size} bytes, more than the {MAX_RUN_FILE_BYTES} allowed")
    return run_from_json(path.read_bytes(), origin=str(path))


def run_from_json(data: str | bytes, origin: str = "run") -> Run:
    if len(data) > MAX_RUN_FILE_BYTES:
        raise RunFormatError(f"{origin}: {len(data)} bytes, more than the {MAX_RUN_FILE_BYTES} allowed")
    try:
        parsed = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except UnicodeDecodeError:
        raise RunFormatError(f"{origin}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise RunFormatError(f"{origin}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise RunFormatError(f"{origin}: JSON nested too deeply to be a run") from None
    return run_from_dict(parsed)


def run_from_dict(data: Any) -> Run:
    """Validate a parsed run and build the dataclasses."""
    if not isinstance(data, dict):
        raise RunFormatError("run: expected a JSON object at the top level")
    if data.get("schema") != SCHEMA:
        raise RunFormatError(f"schema: expected {SCHEMA!r}, got {data.get('schema')!r}")
    prompt = _text(data, "prompt", MAX_PROMPT_CHARS)
    system_prompt = _optional(data, "system_prompt", str, "a string or null")
    check_limit("system_prompt", len(system_prompt or ""), MAX_PROMPT_CHARS, "characters")
    perturbations = None if data.get("perturbations") is None else _str_list(data["perturbations"], "perturbations", MAX_SAMPLES)
    for index, perturbation in enumerate(perturbations or []):
        check_limit(f"perturbations[{index}]", len(perturbation), MAX_PROMPT_CHARS, "characters")
    chat = _field(data, "chat", bool, "true or false")
    model = _object(data, "model")
    settings = _object(data, "settings")
    raw_samples = _field(data, "samples", list, "a list")
    check_limit("samples", len(raw_samples), MAX_SAMPLES, "entries")
    samples = [_sample(item, f"samples[{index}]") for index, item in enumerate(raw_samples)]
    prompt_token_ids = _optional_int_list(data.get("prompt_token_ids"), "prompt_token_ids", None)
    if model.get("device") in SOURCES_WITHOUT_IDS:
        # runs written before ids could be null stored answer positions as ids and [] for the prompt: not ids at all
        samples = [replace(sample, token_ids=None) if sample.token_ids == list(range(len(sample))) else sample for sample in samples]
        prompt_token_ids = prompt_token_ids or None
    return Run(
        prompt=prompt,
        chat=chat,
        model=ModelInfo(
            name=_field(model, "name", str, "a string", "model."),
            source=_field(model, "source", str, "a string", "model."),
            device=_field(model, "device", str, "a string", "model."),
            dtype=_field(model, "dtype", str, "a string", "model."),
            vocab_size=_integer(model, "vocab_size", "model.", minimum=1),
        ),
        settings=SamplingSettings(
            n=_integer(settings, "n", "settings.", minimum=0),
            temperature=_number(settings, "temperature", "settings."),
            top_p=_number(settings, "top_p", "settings."),
            top_k=_integer(settings, "top_k", "settings.", minimum=0),
            max_new_tokens=_integer(settings, "max_new_tokens", "settings.", minimum=0),
            seed=_integer(settings, "seed", "settings."),
        ),
        prompt_token_ids=prompt_token_ids,  # not bounded here: an attention pass checks it against the model's window
        samples=samples,
        system_prompt=system_prompt,
        sampling_seconds=_optional(data, "sampling_seconds", (int, float), "a number or null"),
        created=_optional(data, "created", str, "a string or null"),
        perturbations=perturbations,
        distribution=_optional(data, "distribution", str, "a string or null"),
        adaptive=None if data.get("adaptive") is None else _adaptive(_object(data, "adaptive")),
    )


def _adaptive(data: dict) -> AdaptiveSampling:
    variance = _number(data, "max_variance", "adaptive.")
    if variance < 0:
        raise RunFormatError(f"adaptive.max_variance: expected at least 0, got {variance}")
    return AdaptiveSampling(
        first=_integer(data, "first", "adaptive.", minimum=1),
        step=_integer(data, "step", "adaptive.", minimum=1),
        max_variance=variance,
        max_n=_integer(data, "max_n", "adaptive.", minimum=1),
        posterior_sd=_float_list(data.get("posterior_sd"), "adaptive.posterior_sd", MAX_SAMPLES),
    )


def _sample(item: Any, where: str) -> Sample:
    if not isinstance(item, dict):
        raise RunFormatError(f"{where}: expected an object")
    prefix = where + "."
    text = _text(item, "text", MAX_TEXT_CHARS, prefix)
    token_ids = _optional_int_list(item.get("token_ids"), prefix + "token_ids", MAX_ANSWER_TOKENS)
    tokens = _str_list(item.get("tokens"), prefix + "tokens", MAX_ANSWER_TOKENS)
    length = len(tokens)
    logprobs = _float_list(item.get("logprobs"), prefix + "logprobs", MAX_ANSWER_TOKENS, maximum=1e-6)
    entropies = _float_list(item.get("entropies"), prefix + "entropies", MAX_ANSWER_TOKENS)
    kl = _float_list(item.get("kl_from_uniform", []), prefix + "kl_from_uniform", MAX_ANSWER_TOKENS)
    renyi = _float_list(item.get("renyi_from_uniform", []), prefix + "renyi_from_uniform", MAX_ANSWER_TOKENS)
    fisher_rao = _float_list(item.get("fisher_rao_from_uniform", []), prefix + "fisher_rao_from_uniform", MAX_ANSWER_TOKENS)
    top_ids = [_int_list(row, f"{prefix}top_token_ids[{i}]", MAX_TOP_ALTERNATIVES) for i, row in enumerate(_list(item.get("top_token_ids", []), prefix + "top_token_ids", MAX_ANSWER_TOKENS))]
    top_tokens = [_str_list(row, f"{prefix}top_tokens[{i}]", MAX_TOP_ALTERNATIVES) for i, row in enumerate(_list(item.get("top_tokens", []), prefix + "top_tokens", MAX_ANSWER_TOKENS))]
    top_lps = [_float_list(row, f"{prefix}top_logprobs[{i}]", MAX_TOP_ALTERNATIVES, maximum=1e-6) for i, row in enumerate(_list(item.get("top_logprobs", []), prefix + "top_logprobs", MAX_ANSWER_TOKENS))]
    token_bytes = [_token_bytes(row, f"{prefix}token_bytes[{i}]") for i, row in enumerate(_list(item.get("token_bytes", []), prefix + "token_bytes", MAX_ANSWER_TOKENS))]
    for name, values, optional in (
        ("token_ids", token_ids, token_ids is None),
        ("logprobs", logprobs, False),
        ("entropies", entropies, True),
        ("kl_from_uniform", kl, True),
        ("renyi_from_uniform", renyi, True),
        ("fisher_rao_from_uniform", fisher_rao, True),
        ("top_token_ids", top_ids, True),
        ("top_tokens", top_tokens, True),
        ("top_logprobs", top_lps, True),
        ("token_bytes", token_bytes, True),
    ):
        if values is not None and len(values) != length and not (optional and not values):
            raise RunFormatError(f"{prefix}{name}: has {len(values)} entries but {prefix}tokens has {length}")
    return Sample(
        text=text,
        token_ids=token_ids,
        tokens=tokens,
        logprobs=logprobs,
        entropies=entropies,
        finish_reason=_field(item, "finish_reason", str, "a string", prefix),
        kl_from_uniform=kl,
        renyi_from_uniform=renyi,
        fisher_rao_from_uniform=fisher_rao,
        top_token_ids=top_ids,
        top_tokens=top_tokens,
        top_logprobs=top_lps,
        token_bytes=token_bytes,
    )


def _object(data: dict, key: str) -> dict:
    return _field(data, key, dict, "an object")


def _field(data: dict, key: str, kind: type | tuple, expected: str, prefix: str = "") -> Any:
    if key not in data:
        raise RunFormatError(f"{prefix}{key}: missing")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RunFormatError(f"{prefix}{key}: expected {expected}, got {type(value).__name__}")
    return value


def _text(data: dict, key: str, limit: int, prefix: str = "") -> str:
    value = _field(data, key, str, "a string", prefix)
    check_limit(prefix + key, len(value), limit, "characters")
    return value


def _optional(data: dict, key: str, kind: type | tuple, expected: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RunFormatError(f"{key}: expected {expected}, got {type(value).__name__}")
    return value


def _integer(data: dict, key: str, prefix: str, minimum: int | None = None) -> int:
    value = _field(data, key, int, "an integer", prefix)
    if minimum is not None and value < minimum:
        raise RunFormatError(f"{prefix}{key}: expected at least {minimum}, got {value}")
    return value


def _number(data: dict, key: str, prefix: str) -> float:
    value = _field(data, key, (int, float), "a number", prefix)
    if not math.isfinite(value):
        raise RunFormatError(f"{prefix}{key}: expected a finite number, got {value!r}")
    return float(value)


def _list(value: Any, where: str, limit: int | None) -> list:
    """`value` as a list, refused before any item is read when it has more than `limit` entries."""
    if not isinstance(value, list):
        raise RunFormatError(f"{where}: expected a list, got {type(value).__name__}")
    if limit is not None:
        check_limit(where, len(value), limit, "entries")
    return value


def _int_list(value: Any, where: str, limit: int | None) -> list[int]:
    for index, item in enumerate(_list(value, where, limit)):
        if not isinstance(item, int) or isinstance(item, bool) or item < 0:
            raise RunFormatError(f"{where}[{index}]: expected a non-negative integer, got {item!r}")
    return list(value)


def _optional_int_list(value: Any, where: str, limit: int | None) -> list[int] | None:
    return None if value is None else _int_list(value, where, limit)


def _token_bytes(value: Any, where: str) -> list[int] | None:
    """One token's exact bytes: null, or 1 to MAX_TOKEN_BYTES integers from 0 to 255."""
    if value is None:
        return None
    if not _list(value, where, MAX_TOKEN_BYTES) or any(not isinstance(b, int) or isinstance(b, bool) or not 0 <= b <= 255 for b in value):
        raise RunFormatError(f"{where}: expected null or a list of 1 to {MAX_TOKEN_BYTES} byte values (0-255)")
    return list(value)


def _str_list(value: Any, where: str, limit: int) -> list[str]:
    for index, item in enumerate(_list(value, where, limit)):
        if not isinstance(item, str):
            raise RunFormatError(f"{where}[{index}]: expected a string, got {type(item).__name__}")
    return list(value)


def _float_list(value: Any, where: str, limit: int, maximum: float | None = None) -> list[float]:
    result = []
    for index, item in enumerate(_list(value, where, limit)):
        if not isinstance(item, (int, float)) or isinstance(item, bool) or not math.isfinite(item):
            raise RunFormatError(f"{where}[{index}]: expected a finite number, got {item!r}")
        if maximum is not None and item > maximum:
            raise RunFormatError(f"{where}[{index}]: a log-probability cannot be positive, got {item!r}")
        result.append(float(item))
    return result
