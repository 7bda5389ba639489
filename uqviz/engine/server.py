"""Sampling from an OpenAI-compatible server (llama.cpp, vLLM): every token keeps the log-prob and the top-k
alternatives the server returns; entropies over that top-k list are approximations (docs/methods.md §0.1).

A model spec `openai:http://127.0.0.1:8080/v1#MODEL` names the server's base URL and the model it serves. The API key
is read from the environment variable the user names; it never enters a run, a log or an error message.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any

from uqviz.engine.sampling import SamplingError
from uqviz.format.run import (
    MAX_TOKEN_BYTES, ModelInfo, Run, RunFormatError, Sample, SamplingSettings, recorded_token_bytes, run_from_dict,
)
from uqviz.models.loading import LanguageModel, load_language_model

SERVER_PREFIX = "openai:"
DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 24 * 3600.0
DEFAULT_RETRIES = 3
DEFAULT_CONCURRENCY = 4
TOP_LOGPROBS_TRIED = (20, 10, 5)
PROBE_SETTINGS = SamplingSettings(n=1, temperature=0.0, max_new_tokens=1)  # one greedy token
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_RESPONSE_DEPTH = 64  # nested arrays and objects in one reply; OpenAI-compatible replies nest about 6 deep
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
JSON_BRACKETS = bytes.maketrans(b"{}", b"[]")
NOT_JSON_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
# C0 and C1 controls (ESC starts terminal escapes), zero-width and bidirectional formatting characters
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
BEARER_LIKE = re.compile(r"(?i)\bbearer\s+\S+|\bsk-[A-Za-z0-9_-]{8,}")
# llama.cpp's server tokenizes with the pieces (one request per answer); llama-cpp-python's needs one detokenize
# request per distinct token id, at most this many per run, to check that the ids it gives are the sampled tokens
MAX_DETOKENIZE_REQUESTS = 1000
UNPROBED = "unprobed"
# llama.cpp and vLLM extensions, set so that only the run's own settings warp sampling (llama.cpp's defaults are
# min_p 0.05, top_k 40 and a repeat penalty of 1.1); top_k 0 means off on both
NO_EXTRA_WARPING = {"min_p": 0.0, "repeat_penalty": 1.0, "repetition_penalty": 1.0}

ProgressCallback = Callable[[int, int], None]


class ServerError(SamplingError):
    """The server cannot be used as asked; the message is one sentence naming the server and what to change."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def is_server_spec(spec: str) -> bool:
    return spec.strip().startswith(SERVER_PREFIX)


@dataclass(frozen=True)
class ServerSpec:
    """Where the server is, which model it serves, and the name of the environment variable holding its API key."""

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    concurrency: int = DEFAULT_CONCURRENCY

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= MAX_TIMEOUT:  # also refuses nan
            raise ServerError(f"The timeout must be more than 0 and at most {MAX_TIMEOUT:g} s (one day), got {self.timeout:g}.")

    @property
    def source(self) -> str:
        return f"{SERVER_PREFIX}{self.base_url}#{self.model}"


def parse_server_spec(spec: str, api_key_env: str | None = None, **options: Any) -> ServerSpec:
    """`openai:URL#MODEL` → ServerSpec; the URL must be http(s), the model named and the timeout within a day."""
    body = spec.strip()[len(SERVER_PREFIX):]
    url, _, model = body.partition("#")
    url = url.rstrip("/")
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username or any(c.isspace() for c in url) or not model.strip():
        raise ServerError(f"Server spec {spec.strip()!r} should look like 'openai:http://127.0.0.1:8080/v1#MODEL'.")
    return ServerSpec(url, model.strip(), api_key_env or None, **options)


@dataclass
class ServerModel:
    """A model behind an OpenAI-compatible server, with the same `lock`, `calls` and `info` as a local LanguageModel."""

    spec: ServerSpec
    top_logprobs: int
    chat_template: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    calls: int = 0
    tokenizer_route: str | None = UNPROBED  # "tokenize" (llama.cpp), "extras/tokenize" (llama-cpp-python) or None
    pieces: dict[int, bytes | None] = field(default_factory=dict, repr=False)  # detokenized ids, None if not text

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.spec.model, self.spec.source, "server", "unknown", 1)

    @property
    def has_chat_template(self) -> bool:
        """Whether the server answered a chat request when connecting (it applies the model's template itself)."""
        return self.chat_template

    def sample(self, prompt: str, settings: SamplingSettings, **options: Any) -> Run:
        """What `engine.sampling.sample` calls for a server: see `sample_from_server`."""
        return sample_from_server(self, prompt, settings, **options)


def quoted(spec: ServerSpec, text: Any, limit: int = 200) -> str:
    """Server-sent text fit for an error message: one line without control characters, the API key and anything
    bearer-like masked as ***, at most `limit` characters."""
    line = CONTROL_CHARACTERS.sub("", " ".join(str(text).split()))
    key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    if key:
        line = line.replace(key, "***")
    return BEARER_LIKE.sub("***", line)[:limit]


def _headers(spec: ServerSpec) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env)
        if not key:
            raise ServerError(f"The environment variable {spec.api_key_env} that should hold the API key is not set.")
        headers["Authorization"] = f"Bearer {key}"
    return headers


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the Authorization header to wherever the server points: refuse it (the 3xx reaches
    `request` as an HTTPError)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl) -> None:  # noqa: ANN001 (urllib's signature)
        return None


class DeadlineReader(io.RawIOBase):
    """A response's socket reads, each allowed only the time left before the request's deadline."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self.raw, self.sock, self.deadline = raw, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        """One read of at most the time left; TimeoutError once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's deadline has passed")
        self.sock.settimeout(left)
        return self.raw.readinto(buffer)

    def close(self) -> None:
        self.raw.close()
        super().close()


class DeadlineResponse(http.client.HTTPResponse):
    """An HTTP response whose status line, headers and body are read before `deadline` (time.monotonic)."""

    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(DeadlineReader(self.fp.detach(), sock, deadline))


class Deadline:
    """Turns a handler's per-read `timeout` into a deadline for the whole request: connecting gets the timeout, and
    every read of the answer only what is left of it, so a server that trickles its answer cannot hold a request."""

    def do_open(self, http_class: type[http.client.HTTPConnection], req: urllib.request.Request, **kwargs: Any) -> http.client.HTTPResponse:
        """urllib's `do_open` with connections whose responses read against the request's deadline."""
        deadline = time.monotonic() + req.timeout

        def connection(*args: Any, **options: Any) -> http.client.HTTPConnection:
            made = http_class(*args, **options)
            made.response_class = partial(DeadlineResponse, deadline=deadline)
            return made

        return super().do_open(connection, req, **kwargs)


class DeadlineHTTPHandler(Deadline, urllib.request.HTTPHandler):
    """urllib's HTTP handler with a deadline per request."""


class DeadlineHTTPSHandler(Deadline, urllib.request.HTTPSHandler):
    """urllib's HTTPS handler with a deadline per request."""


OPENER = urllib.request.build_opener(NoRedirects, DeadlineHTTPHandler, DeadlineHTTPSHandler)


def request(spec: ServerSpec, path: str, payload: dict | None = None, retries: int | None = None, root: bool = False) -> dict:
    """One JSON request with retries and exponential backoff on 429/5xx and dropped connections; each try must be
    answered in full within `spec.timeout` seconds. Every failure is a ServerError of one sentence (the key never
    appears in it). `root` addresses the server's root instead of its OpenAI API (the base URL without its trailing
    /v1), where llama.cpp keeps its tokenizer."""
    base = spec.base_url.removesuffix("/v1") if root else spec.base_url
    url = f"{base}/{path}"
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    retries = spec.retries if retries is None else retries
    for attempt in range(retries + 1):
        retry = attempt < retries
        try:
            call = urllib.request.Request(url, data=data, headers=_headers(spec), method="GET" if data is None else "POST")
            with OPENER.open(call, timeout=spec.timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
            if len(body) > MAX_RESPONSE_BYTES:
                raise ServerError(f"The server at {spec.base_url} sent more than {MAX_RESPONSE_BYTES // 2**20} MiB for one request.")
            if _nested_deeper_than(body, MAX_RESPONSE_DEPTH):
                raise ServerError(f"The response from {url} nests its JSON more than {MAX_RESPONSE_DEPTH} levels deep.")
            try:
                return json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ServerError(f"The response from {url} was cut off or is not JSON ({len(body)} bytes).") from None
        except urllib.error.HTTPError as error:
            with error:  # its connection is closed, retried or not
                if error.code in RETRY_STATUSES and retry:
                    _back_off(attempt, error.headers.get("Retry-After"))
                    continue
                raise ServerError(_http_message(spec, url, error), error.code) from None
        except TimeoutError:
            if retry:
                continue
            raise ServerError(f"The server at {spec.base_url} did not answer within {spec.timeout:g} s; raise the timeout or lower the load.") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError) and retry:
                continue
            if isinstance(error.reason, TimeoutError):
                raise ServerError(f"The server at {spec.base_url} did not answer within {spec.timeout:g} s; raise the timeout or lower the load.") from None
            raise ServerError(f"Cannot reach the server at {spec.base_url}: {quoted(spec, error.reason)}. Is it running, and is the URL right?") from None
        except (ConnectionError, OSError, http.client.HTTPException) as error:
            if retry:
                _back_off(attempt, None)
                continue
            raise ServerError(f"The connection to {spec.base_url} broke off or does not speak HTTP ({type(error).__name__}).") from None
    raise AssertionError("unreachable")


def _nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether a JSON text nests arrays and objects more than `limit` deep, found without parsing it (which recurses):
    with strings dropped and only brackets kept, each pass removes the innermost pairs."""
    brackets = JSON_STRING.sub(b"", body).translate(JSON_BRACKETS, NOT_JSON_BRACKETS)
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
    return b"[]" in brackets


def _back_off(attempt: int, retry_after: str | None) -> None:
    try:
        wait = float(retry_after) if retry_after else 0.5 * 2**attempt
    except ValueError:
        wait = 0.5 * 2**attempt
    wait = wait if math.isfinite(wait) else 0.5 * 2**attempt
    time.sleep(min(max(wait, 0.0), 30.0) * (1 + 0.1 * random.random()))


def _http_message(spec: ServerSpec, url: str, error: urllib.error.HTTPError) -> str:
    if 300 <= error.code < 400:
        target = urllib.parse.urljoin(url, error.headers.get("Location", ""))
        return f"The server at {spec.base_url} redirected to {quoted(spec, target)}; name that URL instead."
    try:
        detail = json.loads(error.read(4096) or b"{}")
        detail = detail.get("error", detail)
        detail = detail.get("message", "") if isinstance(detail, dict) else str(detail)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        detail = ""
    detail = f" ({quoted(spec, detail)})" if detail else ""
    if error.code in (401, 403):
        where = f"set {spec.api_key_env} to a valid key" if spec.api_key_env else "name the environment variable holding the API key"
        return f"The server at {spec.base_url} refused the request (HTTP {error.code}){detail}; {where}."
    if error.code == 404:
        return f"{url} does not exist (HTTP 404){detail}; the URL should be the server's OpenAI API root, usually ending in /v1."
    return f"The server at {spec.base_url} answered HTTP {error.code}{detail}."


def connect(spec: ServerSpec) -> ServerModel:
    """Check that the server answers and serves the model, and find the largest top_logprobs it accepts. A server that
    refuses chat requests (a base model without a chat template) is used with plain completions, as a local model
    without a template is."""
    listed = request(spec, "models")
    entries = listed.get("data", []) if isinstance(listed, dict) else []
    served = [entry.get("id") for entry in entries if isinstance(entry, dict)]
    if served and spec.model not in served:
        raise ServerError(f"The server at {spec.base_url} does not serve {spec.model!r}; it serves: {quoted(spec, ', '.join(map(str, served[:10])))}.")
    try:
        return ServerModel(spec, _largest_top_logprobs(spec, chat=True))
    except ServerError as chat_refused:
        # vLLM: "… you must provide a chat template if the tokenizer does not define one" (HTTP 400)
        if chat_refused.status not in (400, 422, 500) or "template" not in str(chat_refused).lower():
            raise
        try:
            return ServerModel(spec, _largest_top_logprobs(spec, chat=False), chat_template=False)
        except ServerError:
            raise chat_refused from None


def _largest_top_logprobs(spec: ServerSpec, chat: bool) -> int:
    """The largest of TOP_LOGPROBS_TRIED that a one-token probe (chat or plain completion) is answered with."""
    refused = None
    for top in TOP_LOGPROBS_TRIED:
        try:
            sample = _answer(spec, chat, "Hi", [{"role": "user", "content": "Hi"}], top, PROBE_SETTINGS, 0, retries=0)
        except ServerError as error:
            if error.status in (400, 422, 500) and "logprob" in str(error).lower():  # vLLM caps it (--max-logprobs)
                refused = error
                continue
            raise
        if not sample.top_tokens or not any(sample.top_tokens):
            raise ServerError(f"The server at {spec.base_url} ignores `top_logprobs`, so uqviz cannot read token alternatives from it.")
        return min(top, max(len(row) for row in sample.top_tokens))
    raise ServerError(f"The server at {spec.base_url} refused every top_logprobs of {', '.join(map(str, TOP_LOGPROBS_TRIED))}: {refused}")


def _answer(spec: ServerSpec, chat: bool, prompt: str, messages: list[dict], top: int, settings: SamplingSettings, seed: int,
            retries: int | None = None) -> Sample:
    """One answer with `top` alternatives per token: a chat request with `messages`, or a plain completion of `prompt`."""
    if chat:
        payload = _chat_payload(spec.model, messages, top, settings.max_new_tokens, settings.temperature, settings.top_p, settings.top_k, seed)
        return parse_chat_choice(_first_choice(request(spec, "chat/completions", payload, retries), spec), spec, top)
    payload = _completion_payload(spec.model, prompt, top, settings, seed)
    return parse_completion_choice(_first_choice(request(spec, "completions", payload, retries), spec), spec, top)


def _first_choice(response: Any, spec: ServerSpec) -> dict:
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise ServerError(f"The server at {spec.base_url} returned no answer.")
    return choices[0]


def _chat_payload(model: str, messages: list[dict], top: int, max_tokens: int, temperature: float, top_p: float, top_k: int, seed: int) -> dict:
    payload = {
        "model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
        "seed": seed, "logprobs": True, "top_logprobs": top, "stream": False, **NO_EXTRA_WARPING, "top_k": top_k,
    }
    return payload


def _completion_payload(model: str, prompt: str, top: int, settings: SamplingSettings, seed: int) -> dict:
    return {
        "model": model, "prompt": prompt, "max_tokens": settings.max_new_tokens, "temperature": settings.temperature,
        "top_p": settings.top_p, "seed": seed, "logprobs": top, "stream": False, **NO_EXTRA_WARPING, "top_k": settings.top_k,
    }


def top_k_entropy(logprobs: list[float]) -> float:
    """Entropy of a top-k list with the remaining mass lumped as one outcome: a lower bound on the full entropy."""
    probabilities = [math.exp(value) for value in logprobs]
    rest = max(0.0, 1.0 - sum(probabilities))
    return -sum(p * math.log(p) for p in probabilities + [rest] if p > 0)


def _finite_logprob(value: Any) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"log-probability {value!r} is not finite")
    return min(value, 0.0)


def _token_rows(entries: list[tuple], top: int) -> dict[str, list]:
    """Per-token columns of a Sample from (token, log-prob, [(alternative, log-prob)…], bytes, id) entries; each token
    keeps its `top` most likely alternatives (llama.cpp adds the sampled token to the list, one more than asked for).
    Entropies are known only when every token came with alternatives; bytes are kept where the token's text cannot
    carry them; the ids only when every token has one."""
    entries = [
        (str(token), _finite_logprob(value), sorted(((str(t), _finite_logprob(v)) for t, v in alternatives), key=lambda item: -item[1])[:top],
         _server_bytes(raw), identifier)
        for token, value, alternatives, raw, identifier in entries
    ]
    complete = all(alternatives for _, _, alternatives, _, _ in entries)
    ids = [identifier for *_, identifier in entries]
    tokens = [token for token, *_ in entries]
    return {
        "tokens": tokens,
        "logprobs": [value for _, value, *_ in entries],
        "entropies": [top_k_entropy([alt for _, alt in alternatives]) for _, _, alternatives, _, _ in entries] if complete else [],
        "top_tokens": [[text for text, _ in alternatives] for _, _, alternatives, _, _ in entries] if complete else [],
        "top_logprobs": [[alt for _, alt in alternatives] for _, _, alternatives, _, _ in entries] if complete else [],
        "token_bytes": recorded_token_bytes(tokens, [raw for _, _, _, raw, _ in entries]),
        "token_ids": ids if ids and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids) else None,
    }


def _server_bytes(raw: Any) -> bytes | None:
    """A token's `bytes` as OpenAI-compatible servers send them (a list of 0-255), or None when absent."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_TOKEN_BYTES:
        raise ValueError("token bytes must be a list of 1 to 64 byte values")
    return bytes(raw)  # ValueError for values outside 0-255


def parse_chat_choice(choice: dict, spec: ServerSpec, top: int = TOP_LOGPROBS_TRIED[0]) -> Sample:
    """A Sample from one chat-completions choice with `logprobs.content` (token, logprob, top_logprobs, and the
    token's bytes and id where the server sends them: OpenAI and vLLM send bytes, llama.cpp's server both)."""
    def entries() -> list:
        content = (choice.get("logprobs") or {}).get("content")
        if content is None:
            raise ServerError(f"The server at {spec.base_url} returned an answer without token log-probabilities (it ignores `logprobs`).")
        return [
            (item["token"], item["logprob"], [(alt["token"], alt["logprob"]) for alt in item.get("top_logprobs") or []],
             item.get("bytes"), item.get("id"))
            for item in content
        ]

    return _sample((choice.get("message") or {}).get("content") or "", entries, choice.get("finish_reason"), top, spec)


def parse_completion_choice(choice: dict, spec: ServerSpec, top: int = TOP_LOGPROBS_TRIED[0]) -> Sample:
    """A Sample from one legacy completions choice with `logprobs` {tokens, token_logprobs, top_logprobs} (no bytes, no ids)."""
    def entries() -> list:
        logprobs = choice.get("logprobs")
        if not logprobs or logprobs.get("tokens") is None:
            raise ServerError(f"The server at {spec.base_url} returned an answer without token log-probabilities (it ignores `logprobs`).")
        tops = logprobs.get("top_logprobs") or [{}] * len(logprobs["tokens"])
        return [
            (token, value, list((alternatives or {}).items()), None, None)
            for token, value, alternatives in zip(logprobs["tokens"], logprobs["token_logprobs"], tops, strict=True)
        ]

    return _sample(choice.get("text") or "", entries, choice.get("finish_reason"), top, spec)


def _sample(text: Any, entries: Callable[[], list], finish_reason: Any, top: int, spec: ServerSpec) -> Sample:
    try:
        parsed = entries()
        if finish_reason == "stop" and parsed and parsed[-1][0] == "":
            parsed = parsed[:-1]  # llama.cpp's own server lists the end-of-sequence token, which is not an answer token
        rows = _token_rows(parsed, top)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise ServerError(f"The server at {spec.base_url} sent malformed log-probabilities ({quoted(spec, error)}).") from None
    # ids only when the server sent them (or its tokenizer confirms them later): never positions posing as ids
    return Sample(text=str(text), finish_reason=str(finish_reason or "unknown"), **rows)


def sample_from_server(
    server: ServerModel,
    prompt: str,
    settings: SamplingSettings,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    progress: ProgressCallback | None = None,
) -> Run:
    """N answers from the server, one request per answer (seed + k), `spec.concurrency` at a time; the first failure
    cancels the requests not yet sent. `engine.sampling.sample` cleans and validates the prompt and settings first;
    progress is reported from the calling thread."""
    spec = server.spec
    chat = chat and server.has_chat_template
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [{"role": "user", "content": prompt}]

    def one(index: int) -> Sample:
        return _answer(spec, chat, prompt, messages, server.top_logprobs, settings, settings.seed + index)

    started = time.perf_counter()
    samples: list[Sample | None] = [None] * settings.n
    pool = ThreadPoolExecutor(max_workers=max(1, min(spec.concurrency, settings.n)))
    try:
        futures = {pool.submit(one, index): index for index in range(settings.n)}
        for done, future in enumerate(as_completed(futures), start=1):
            samples[futures[future]] = future.result()
            with server.lock:
                server.calls += 1
            if progress:
                progress(done, settings.n)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    run = Run(
        prompt=prompt,
        chat=chat,
        model=server.info,
        settings=settings,
        prompt_token_ids=None,  # the server renders and tokenizes the prompt itself and does not report its ids
        samples=[with_server_ids(server, answer) for answer in samples],
        system_prompt=system_prompt if chat else None,
        sampling_seconds=round(time.perf_counter() - started, 4),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        distribution=f"top-{server.top_logprobs}",
    )
    try:
        return run_from_dict(run.to_dict())  # the limits every run file obeys (answer length, text size)
    except RunFormatError as error:
        raise ServerError(f"The server's answers do not fit a run: {quoted(spec, error)}.") from None


def greedy_replies(server: ServerModel, conversations: Sequence[Sequence[tuple[str, str]]], max_new_tokens: int,
                   system_prompt: str | None = None) -> list[str]:
    """The server's greedy reply to each conversation of (role, text) turns, one request each: a chat request, or the
    turns joined by newlines as a plain completion where the server has no chat template (as a local model without one)."""
    settings = replace(PROBE_SETTINGS, max_new_tokens=max_new_tokens)
    system = [{"role": "system", "content": system_prompt}] if system_prompt and server.has_chat_template else []
    replies = []
    for turns in conversations:
        messages = system + [{"role": role, "content": text} for role, text in turns]
        with server.lock:
            server.calls += 1
        answer = _answer(server.spec, server.has_chat_template, "\n".join(text for _, text in turns), messages,
                         server.top_logprobs, settings, 0)
        replies.append(answer.text)
    return replies


def with_server_ids(server: ServerModel, answer: Sample) -> Sample:
    """The answer with the model's real token ids when the server gave them or its tokenizer endpoint confirms them
    piece by piece; otherwise with None, never invented ids."""
    if answer.token_ids is not None or not answer.tokens:
        return answer
    exact = answer.exact_token_bytes() or [token.encode("utf-8") for token in answer.tokens]
    try:
        ids = _tokenized(server, answer.text)
        if len(ids) == len(exact) + 1:
            ids = ids[1:]  # llama-cpp-python adds the beginning-of-sequence token
        if len(ids) == len(exact) and [_piece(server, token) for token in ids] == exact:
            return replace(answer, token_ids=ids)
    except (ServerError, KeyError, TypeError, ValueError, AttributeError):
        pass
    return answer


def _tokenized(server: ServerModel, text: str) -> list[int]:
    """The server's token ids for `text`, from llama.cpp's /tokenize (which also gives each id's piece, kept in
    `server.pieces`) or llama-cpp-python's /extras/tokenize; the route is found once per connection."""
    if server.tokenizer_route == UNPROBED:
        server.tokenizer_route = None
        for route in ("tokenize", "extras/tokenize"):
            try:
                _tokenize(server, route, "Hi")
            except (ServerError, KeyError, TypeError, ValueError, AttributeError):
                continue
            server.tokenizer_route = route
            break
    if server.tokenizer_route is None:
        raise ServerError("the server has no tokenizer endpoint")
    return _tokenize(server, server.tokenizer_route, text)


def _tokenize(server: ServerModel, route: str, text: str) -> list[int]:
    spec = server.spec
    if route == "extras/tokenize":
        return [int(token) for token in request(spec, route, {"input": text, "model": spec.model}, retries=0, root=True)["tokens"]]
    # llama.cpp: each piece as text, or as a byte list where it is not valid UTF-8 on its own
    tokens = request(spec, route, {"content": text, "add_special": False, "with_pieces": True}, retries=0, root=True)["tokens"]
    for item in tokens:
        piece = item["piece"]
        server.pieces[int(item["id"])] = piece.encode("utf-8") if isinstance(piece, str) else bytes(piece)
    return [int(item["id"]) for item in tokens]


def _piece(server: ServerModel, token: int) -> bytes | None:
    """The bytes of one token id, detokenized alone (llama-cpp-python) once per connection; None where the server
    cannot say (a byte that is not text on its own)."""
    if token not in server.pieces:
        if len(server.pieces) >= MAX_DETOKENIZE_REQUESTS:
            raise ServerError("too many distinct tokens to check")
        try:
            text = request(server.spec, "extras/detokenize", {"tokens": [token], "model": server.spec.model}, retries=0, root=True)["text"]
            server.pieces[token] = text.encode("utf-8") if isinstance(text, str) else None
        except ServerError:
            server.pieces[token] = None
    return server.pieces[token]


def key_allowed(spec: str, key_servers: Iterable[str] | None) -> bool:
    """Whether an API key may go to the server of `spec`: to any when `key_servers` is None (the CLI's explicit flags),
    otherwise only when its URL is exactly the URL of one of those server specs (the operator's $UQVIZ_SERVERS)."""
    if key_servers is None:
        return True
    urls = set()
    for listed in key_servers:
        with contextlib.suppress(ServerError):  # a malformed listed spec lets no key through
            urls.add(parse_server_spec(listed).base_url)
    return parse_server_spec(spec).base_url in urls


def load_model(spec: str, device: str | None = None, trust_remote_code: bool = False, api_key_env: str | None = None,
               key_servers: Iterable[str] | None = None, **server_options: Any) -> LanguageModel | ServerModel:
    """A local model (`load_language_model`'s specs) or, for `openai:URL#MODEL`, a checked connection to that server,
    sent the key in `api_key_env` only when `key_allowed` (a URL a page user typed gets none)."""
    if is_server_spec(spec):
        key = api_key_env if key_allowed(spec, key_servers) else None
        return connect(parse_server_spec(spec, key, **server_options))
    return load_language_model(spec, device=device, trust_remote_code=trust_remote_code)
