"""The OpenAI-compatible server backend against a scripted local HTTP server: the run format, retries, and one
sentence (exit 2 from the CLI) for every bad input of the issue (docs/methods.md §0.1)."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from uqviz.cli import main as cli_main
from uqviz.engine.sampling import sample
from uqviz.engine.server import ServerError, connect, load_model, parse_server_spec, top_k_entropy
from uqviz.format.run import SamplingSettings, read_run, run_from_json, run_to_json


def chat_response(tokens: list[str], top: int, logprobs: bool = True) -> dict:
    """A chat-completions body whose k-th token has log-prob log(0.5) and alternatives of log(0.5), log(0.25), …"""
    content = [
        {"token": token, "logprob": math.log(0.5), "bytes": list(token.encode()),
         "top_logprobs": [{"token": f"{token}{i}" if i else token, "logprob": math.log(0.5 / 2**i)} for i in range(top)]}
        for token in tokens
    ]
    choice = {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)}, "finish_reason": "stop",
              "logprobs": {"content": content} if logprobs else None}
    return {"id": "x", "object": "chat.completion", "choices": [choice]}


def completion_response(tokens: list[str], top: int) -> dict:
    """A legacy completions body with the same log-probs as `chat_response`."""
    logprobs = {"tokens": tokens, "token_logprobs": [math.log(0.5)] * len(tokens),
                "top_logprobs": [{f"{token}{i}" if i else token: math.log(0.5 / 2**i) for i in range(top)} for token in tokens]}
    return {"id": "x", "object": "text_completion", "choices": [{"index": 0, "text": "".join(tokens), "finish_reason": "stop", "logprobs": logprobs}]}


class Scripted(BaseHTTPRequestHandler):
    """Answers as `self.server.behaviour` says; records every request body and header."""

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, None, dict(self.headers)))
        behaviour = self.server.behaviour
        if behaviour == "unauthorised":
            return self._send(401, b'{"error": {"message": "invalid api key"}}')
        if not self.path.startswith("/v1/"):
            return self._send(404, b'{"error": {"message": "not found"}}')
        self._send(200, json.dumps({"data": [{"id": "tiny"}]}).encode())

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path, body, dict(self.headers)))
        behaviour = self.server.behaviour
        if not self.path.startswith("/v1/"):
            if behaviour == "llama_tokenizer" and self.path == "/tokenize":  # llama.cpp's, with pieces
                pieces = re.findall(r"Pa|ris|#\d+|.", body["content"])
                return self._send(200, json.dumps({"tokens": [{"id": 100 + len(p) * 7 + ord(p[-1]), "piece": p} for p in pieces]}).encode())
            return self._send(404, b'{"error": {"message": "not found"}}')
        if behaviour == "busy_once" and sum(r[0] == "POST" for r in self.server.requests) == 2:
            return self._send(503, b'{"error": "busy"}')
        if behaviour == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://198.51.100.7/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if behaviour == "nan" and body.get("max_tokens", 0) > 1:
            return self._send(200, json.dumps(chat_response(["Pa"], 5)).replace(str(math.log(0.5)), "NaN", 1).encode())
        if behaviour == "slow" and body.get("max_tokens", 0) > 1:
            time.sleep(1.5)
        if behaviour == "cut_off" and body.get("max_tokens", 0) > 1:
            whole = json.dumps(chat_response(["Pa", "ris"], 5)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(whole)))
            self.end_headers()
            self.wfile.write(whole[: len(whole) // 2])
            return
        tokens = ["Pa", "ris", f"#{body.get('seed')}"]
        if isinstance(behaviour, tuple) and self.path.endswith("/chat/completions"):
            return self._send(behaviour[1], json.dumps({"error": {"message": behaviour[2]}}).encode())
        if behaviour in ("no_chat_template", "no_chat_nor_completions") and self.path.endswith("/chat/completions"):
            return self._send(400, b'{"error": {"message": "As of transformers v4.44, default chat template is no longer allowed"}}')
        if self.path.endswith("/v1/completions"):
            if behaviour == "no_chat_nor_completions":
                return self._send(400, b'{"error": {"message": "bad request"}}')
            return self._send(200, json.dumps(completion_response(tokens, min(body["logprobs"], 5))).encode())
        top = min(body.get("top_logprobs", 0), 5)
        self._send(200, json.dumps(chat_response(tokens, top, logprobs=behaviour != "no_logprobs")).encode())


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    httpd.behaviour, httpd.requests = "ok", []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def spec_of(httpd, model: str = "tiny", path: str = "/v1") -> str:
    return f"openai:http://127.0.0.1:{httpd.server_address[1]}{path}#{model}"


def test_spec_is_url_and_model():
    spec = parse_server_spec("openai:http://127.0.0.1:8080/v1/#my-model", "KEY_VAR")
    assert (spec.base_url, spec.model, spec.api_key_env) == ("http://127.0.0.1:8080/v1", "my-model", "KEY_VAR")
    assert spec.source == "openai:http://127.0.0.1:8080/v1#my-model"
    with pytest.raises(ServerError, match="should look like"):
        parse_server_spec("openai:127.0.0.1:8080")


@pytest.mark.parametrize("spec", ["openai:http://127.0.0.1:abc/v1#m", "openai:http://127.0.0.1:8080/v 1#m", "openai:ftp://h/v1#m",
                                  "openai:http://user:pw@h/v1#m"])
def test_malformed_server_specs_are_refused(spec):
    with pytest.raises(ServerError, match="should look like"):
        parse_server_spec(spec)


def test_progress_is_reported_from_the_calling_thread(server):
    threads = []
    run = sample(connect(parse_server_spec(spec_of(server), concurrency=3)), "Hi", SamplingSettings(n=5, max_new_tokens=4),
                 progress=lambda done, total: threads.append((threading.current_thread(), done, total)))
    assert len(run.samples) == 5 and {thread for thread, _, _ in threads} == {threading.current_thread()}
    assert [(done, total) for _, done, total in threads] == [(k, 5) for k in range(1, 6)]


def test_top_k_entropy_lumps_the_rest_as_one_outcome():
    # p = (0.5, 0.25) and the remaining 0.25 as one outcome: H = 0.5 ln 2 + 0.25 ln 4 + 0.25 ln 4 = 1.5 ln 2
    assert top_k_entropy([math.log(0.5), math.log(0.25)]) == pytest.approx(1.5 * math.log(2))
    assert top_k_entropy([0.0]) == pytest.approx(0.0)


def test_samples_keep_log_probs_alternatives_and_say_how_entropies_were_obtained(server):
    model = connect(parse_server_spec(spec_of(server)))
    assert model.top_logprobs == 5  # the server caps what it returns
    run = sample(model, "Capital of France?", SamplingSettings(n=3, max_new_tokens=8, seed=10, top_k=40))
    assert run.distribution == "top-5" and run.model.source == spec_of(server) and run.prompt_token_ids is None
    assert all(answer.token_ids is None for answer in run.samples)  # no ids and no tokenizer: unknown, never positions
    assert [s.text for s in run.samples] == ["Paris#10", "Paris#11", "Paris#12"]  # one request per answer, seed + k
    first = run.samples[0]
    assert first.tokens == ["Pa", "ris", "#10"] and first.logprobs == pytest.approx([math.log(0.5)] * 3)
    assert first.top_tokens[0][:2] == ["Pa", "Pa1"] and first.top_logprobs[0][1] == pytest.approx(math.log(0.25))
    assert first.entropies[0] == pytest.approx(top_k_entropy([math.log(0.5 / 2**i) for i in range(5)]))
    assert first.kl_from_uniform == [] and first.top_token_ids == []
    bodies = [body for method, _, body, _ in server.requests if method == "POST" and body.get("max_tokens") == 8]
    assert {body["top_k"] for body in bodies} == {40} and all(body["logprobs"] and body["top_logprobs"] == 5 for body in bodies)
    assert run_from_json(run_to_json(run)) == run


def test_the_api_key_is_sent_from_the_named_variable_and_never_written(server, tmp_path, monkeypatch):
    monkeypatch.setenv("UQVIZ_TEST_KEY", "sk-secret-123")
    out = tmp_path / "run.json"
    assert cli_main(["sample", "Hi", "--model", spec_of(server), "--api-key-env", "UQVIZ_TEST_KEY", "--n", "2",
                     "--max-new-tokens", "4", "--out", str(out)]) == 0
    assert all(headers.get("Authorization") == "Bearer sk-secret-123" for _, _, _, headers in server.requests)
    assert "sk-secret" not in out.read_text() and read_run(out).distribution == "top-5"


def test_token_ids_are_the_servers_own_or_confirmed_by_its_tokenizer_never_positions(server):
    from uqviz.engine.server import parse_chat_choice

    body = chat_response(["Hi", " \ufffd", "\ufffd"], 2)
    content = body["choices"][0]["logprobs"]["content"]
    for identifier, raw, item in zip((73, 2001, 2002), ([72, 105], [32, 240, 159], [152, 128]), content):
        item.update(id=identifier, bytes=raw)  # llama.cpp's server sends both
    answer = parse_chat_choice(body["choices"][0], parse_server_spec("openai:http://x/v1#m"), 2)
    assert answer.token_ids == [73, 2001, 2002] and answer.token_bytes == [None, [32, 240, 159], [152, 128]]
    del content[1]["id"]
    assert parse_chat_choice(body["choices"][0], parse_server_spec("openai:http://x/v1#m"), 2).token_ids is None  # all or none

    server.behaviour = "llama_tokenizer"
    run = sample(connect(parse_server_spec(spec_of(server))), "Hi", SamplingSettings(n=2, max_new_tokens=4, seed=3))
    expected = [[100 + len(piece) * 7 + ord(piece[-1]) for piece in answer.tokens] for answer in run.samples]
    assert [answer.token_ids for answer in run.samples] == expected and run.prompt_token_ids is None
    tokenized = [body["content"] for method, path, body, _ in server.requests if path == "/tokenize"]
    assert tokenized == ["Hi", "Paris#3", "Paris#4"]  # one probe, then one request per answer


def test_a_503_is_retried(server):
    server.behaviour = "busy_once"
    run = sample(connect(parse_server_spec(spec_of(server))), "Hi", SamplingSettings(n=1, max_new_tokens=4))
    assert run.samples[0].text == "Paris#0"


@pytest.mark.parametrize(
    "behaviour, model, path, options, fragment",
    [
        ("down", "tiny", "/v1", {}, "Cannot reach the server"),
        ("ok", "tiny", "/wrong", {}, "HTTP 404"),
        ("unauthorised", "tiny", "/v1", {}, "refused the request (HTTP 401)"),
        ("ok", "llama-70b", "/v1", {}, "does not serve 'llama-70b'; it serves: tiny"),
        ("no_logprobs", "tiny", "/v1", {}, "ignores `logprobs`"),
        ("cut_off", "tiny", "/v1", {}, "cut off"),
        ("slow", "tiny", "/v1", {"timeout": 0.5, "retries": 0}, "did not answer within 0.5 s"),
        ("redirect", "tiny", "/v1", {}, "redirected to http://198.51.100.7/v1/chat/completions; name that URL instead"),
        ("nan", "tiny", "/v1", {}, "malformed log-probabilities"),
    ],
)
def test_bad_servers_are_one_sentence(server, behaviour, model, path, options, fragment):
    server.behaviour = behaviour
    spec = spec_of(server, model, path)
    if behaviour == "down":
        server.shutdown()
        server.server_close()
    with pytest.raises(ServerError, match=re.escape(fragment)) as caught:
        model_ = load_model(spec, **options)
        sample(model_, "Hi", SamplingSettings(n=1, max_new_tokens=4))
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message


def test_the_cli_exits_2_with_one_line_for_a_bad_server(server, tmp_path, capsys):
    server.behaviour = "unauthorised"
    code = cli_main(["sample", "Hi", "--model", spec_of(server), "--out", str(tmp_path / "r.json")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: ") and "HTTP 401" in error and len(error.splitlines()) == 1
    assert cli_main(["sample", "Hi", "--model", spec_of(server), "--api-key-env", "UQVIZ_UNSET_VARIABLE",
                     "--out", str(tmp_path / "r.json")]) == 2
    assert "UQVIZ_UNSET_VARIABLE" in capsys.readouterr().err


def test_measures_on_server_answers_say_what_is_approximate_and_what_is_missing(server):
    from uqviz.scoring.scores import score_run
    from uqviz.statistics.base import RunStatistics

    run = sample(connect(parse_server_spec(spec_of(server))), "Hi", SamplingSettings(n=3, max_new_tokens=4))
    scores = score_run(run, RunStatistics(run), ["mean_token_entropy", "cocoa_mean_token_entropy", "self_certainty", "predictive_entropy"])
    assert scores["mean_token_entropy"].result.value == pytest.approx(run.samples[0].entropies[0])
    assert scores["mean_token_entropy"].result.reason == "approximate: entropies from the server's top-5 log-probs only"
    assert scores["self_certainty"].result.value is None and "distributions" in scores["self_certainty"].result.reason
    assert scores["predictive_entropy"].result.reason is None


def test_a_server_without_a_chat_template_samples_plain_completions(server):
    server.behaviour = "no_chat_template"
    model = connect(parse_server_spec(spec_of(server)))
    assert not model.has_chat_template and model.top_logprobs == 5
    run = sample(model, "Hi", SamplingSettings(n=2, max_new_tokens=4), chat=True, system_prompt="Be brief.")
    assert not run.chat and run.system_prompt is None  # as a local model without a template: the plain prompt
    sampled = [body for method, path, body, _ in server.requests if method == "POST" and body.get("max_tokens") == 4]
    assert [body["prompt"] for body in sampled] == ["Hi", "Hi"] and all(body["logprobs"] == 5 for body in sampled)
    assert [s.text for s in run.samples] == ["Paris#0", "Paris#1"] and run.samples[0].top_tokens[0][:2] == ["Pa", "Pa1"]


@pytest.mark.parametrize("status, message", [(500, "internal error"), (400, "top_k must be positive"), (401, "no chat template")])
def test_chat_refused_for_another_reason_is_not_taken_for_a_missing_template(server, status, message):
    server.behaviour = ("chat_refused", status, message)
    with pytest.raises(ServerError, match=f"HTTP {status}") as refused:
        connect(parse_server_spec(spec_of(server)))
    assert message in str(refused.value) and not any(path.endswith("/v1/completions") for _, path, _, _ in server.requests)


def test_a_server_refusing_chat_and_completions_gives_the_chat_refusal(server):
    server.behaviour = "no_chat_nor_completions"
    with pytest.raises(ServerError, match="HTTP 400 .*chat template is no longer allowed"):
        connect(parse_server_spec(spec_of(server)))


def test_the_server_judges_the_answers_it_gave_with_one_greedy_chat_request_each(server):
    """UQLM's judge scorers on a server run (docs/methods.md §12.15): the prompt as the user's turn, temperature 0, and
    the reply ("Paris#0", seed 0) read as UQLM reads a continuous score: its digits, "0", so J = 0 and U = 1."""
    from uqviz.measures.registry import REGISTRY
    from uqviz.statistics.base import RunStatistics, ScoreConfig

    model = connect(parse_server_spec(spec_of(server)))
    run = sample(model, "Capital of France?", SamplingSettings(n=2, max_new_tokens=4, seed=3))
    before = len(server.requests)
    result = REGISTRY["judge_continuous"].compute(RunStatistics(run, language_model=model))
    posts = [body for method, path, body, _ in server.requests[before:] if method == "POST" and path.endswith("/chat/completions")]
    assert len(posts) == 2  # "Paris#3" and "Paris#4" are different answers
    assert all(body["temperature"] == 0 and body["max_tokens"] == ScoreConfig().judge_max_new_tokens for body in posts)
    assert posts[1]["messages"] == [{"role": "user", "content": result.detail.prompts[1]}]
    assert "Proposed Answer: Paris#4." in result.detail.prompts[1]
    assert [item.reply for item in result.detail.judged] == ["Paris#0", "Paris#0"]
    assert result.value == 1.0 and result.detail.judged[0].read == "0"


def test_sampling_until_settled_from_a_server_keeps_the_fixed_run_seeds(server, tmp_path, capsys):
    """--until-settled (docs/methods.md §12.14): rounds of 4, then 2; a server seeds answer k with seed + k, so the
    answers are those of a fixed-N run ("Paris#<seed>"); a loose tolerance stops after the first round."""
    out = tmp_path / "run.json"
    base = ["sample", "Hi", "--model", spec_of(server), "--n", "6", "--max-new-tokens", "4", "--seed", "5", "--out", str(out)]
    assert cli_main([*base, "--until-settled", "--settle-variance", "0"]) == 0
    run = read_run(out)
    assert [answer.text for answer in run.samples] == [f"Paris#{seed}" for seed in range(5, 11)]
    assert run.settings.n == 6 and run.adaptive.max_n == 6 and len(run.adaptive.posterior_sd) == 2
    assert "4 answers: posterior sd of semantic entropy" in capsys.readouterr().err
    assert cli_main([*base, "--until-settled", "--settle-variance", "100"]) == 0
    run = read_run(out)
    assert len(run.samples) == 4 and run.adaptive.max_variance == 100 and len(run.adaptive.posterior_sd) == 1
    assert cli_main([*base, "--settle-variance", "0.1"]) == 2
    assert "--settle-variance applies only with --until-settled" in capsys.readouterr().err
    assert cli_main([*base, "--until-settled", "--settle-variance", "nan"]) == 2
    assert "must be a finite number ≥ 0" in capsys.readouterr().err
    assert cli_main(["sample", "--until-settled", "Hi", "--model", spec_of(server), "--n", "4", "--out", str(out)]) == 0


def test_a_batch_until_settled_draws_in_rounds_and_reports_the_mean_drawn(server, tmp_path, embedder):
    from uqviz.workflows.adaptive import AdaptiveRule
    from uqviz.workflows.batch import BatchSettings, Question, build_report, run_batch

    settings = BatchSettings(SamplingSettings(n=5, max_new_tokens=4), adaptive=AdaptiveRule(first=2, step=2, max_variance=0.0))
    model = connect(parse_server_spec(spec_of(server)))
    rows = run_batch([Question("Capital of France?", ("Paris",))], model, tmp_path / "res.csv", settings, embedder=embedder)
    assert rows[0]["samples"] == [f"Paris#{seed}" for seed in range(5)]  # rounds of 2, 2 and 1
    report = build_report(rows, settings)
    assert report["mean_samples"] == 5 and report["settings"]["adaptive"]["first"] == 2
