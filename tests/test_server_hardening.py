"""The server backend against hostile servers: `timeout` is a deadline for the whole request, deeply nested replies
are refused, and no error quotes the API key or the server's control characters (issue: timeouts, keys leave)."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.test_server import chat_response, spec_of
from uqviz.cli import main as cli_main
from uqviz.engine.server import ServerError, load_model, parse_server_spec

KEY = "opaque-key-4711"
TRICKLED_BYTES = 20  # one every TRICKLE_SECONDS: 10 s, far beyond the 1 s deadline
TRICKLE_SECONDS = 0.5
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Hostile(BaseHTTPRequestHandler):
    """Answers /v1/models and /v1/chat/completions as `self.server.behaviour` says: (what, path, detail) for the path
    it concerns, a well-behaved answer elsewhere."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer()

    def _answer(self) -> None:
        what, path, detail = self.server.behaviour
        if self.path != path:
            ok = {"data": [{"id": "tiny"}]} if self.path.endswith("/models") else chat_response(["Pa", "ris"], 5)
            return self._raw(200, json.dumps(ok).encode())
        auth = self.headers.get("Authorization", "")
        leak = f"{auth} | Bearer sk-secret-123 | sk-secret-123 | {auth.removeprefix('Bearer ')} \x1b[31mred\x1b[0m\nline\x07"
        if what == "trickle":  # detail: trickle from the status line (True) or from the body's leading spaces
            return self._raw(200, b" " * TRICKLED_BYTES + json.dumps({"data": [{"id": "tiny"}]}).encode(), trickle_head=detail)
        if what == "deep":
            return self._raw(200, detail)
        if what == "echo_status":
            return self._raw(detail, json.dumps({"error": {"message": leak}}).encode())
        if what == "echo_ids":
            return self._raw(200, json.dumps({"data": [{"id": leak}, {"id": "evil\x1b[31m\nid"}]}).encode())
        if what == "echo_logprob":
            body = chat_response(["Pa"], 5)
            body["choices"][0]["logprobs"]["content"][0]["logprob"] = leak
            return self._raw(200, json.dumps(body).encode())
        assert what == "echo_redirect"
        self._raw(307, b"", location=f"http://198.51.100.7/v1?key={auth.removeprefix('Bearer ')}&also=sk-secret-123")

    def _raw(self, status: int, body: bytes, trickle_head: bool | None = None, location: str | None = None) -> None:
        """The whole response written by hand; with `trickle_head` set, its first TRICKLED_BYTES bytes (of the status
        line when True, of the body when False) go one at a time."""
        head = f"HTTP/1.0 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        head += f"Location: {location}\r\n\r\n" if location else "\r\n"
        whole = head.encode() + body
        start = 0 if trickle_head else len(head)
        try:
            if trickle_head is not None:
                self.wfile.write(whole[:start])
                for index in range(start, start + TRICKLED_BYTES):
                    self.wfile.write(whole[index:index + 1])
                    time.sleep(TRICKLE_SECONDS)
                whole = whole[start + TRICKLED_BYTES:]
            self.wfile.write(whole)
        except OSError:  # the client gave up
            pass


@pytest.fixture
def hostile():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def one_line_error(spec: str, **options) -> str:
    with pytest.raises(ServerError) as caught:
        load_model(spec, **options)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    return message


@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions"])
@pytest.mark.parametrize("trickle_head", [True, False], ids=["status-line", "body"])
def test_a_trickling_server_fails_at_the_deadline(hostile, path, trickle_head):
    hostile.behaviour = ("trickle", path, trickle_head)
    started = time.monotonic()
    message = one_line_error(spec_of(hostile), timeout=1.0, retries=0)
    assert time.monotonic() - started < 1.0 + 1.5
    assert "did not answer within 1 s" in message


@pytest.mark.parametrize("timeout", [math.inf, math.nan, 0, -1, 1e12])
def test_timeouts_that_are_no_deadline_are_refused_in_one_sentence(timeout):
    with pytest.raises(ServerError, match=r"^The timeout must be more than 0 and at most 86400 s \(one day\), got [^\n]*\.$"):
        parse_server_spec("openai:http://127.0.0.1:9/v1#m", timeout=timeout, retries=0)


@pytest.mark.parametrize("timeout", ["inf", "1e12", "nan", "0"])
def test_the_cli_refuses_such_timeouts_with_one_line(timeout, tmp_path, capsys):
    code = cli_main(["sample", "Hi", "--model", "openai:http://127.0.0.1:9/v1#m", "--timeout", timeout, "--out", str(tmp_path / "r.json")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: ") and "timeout" in error and len(error.splitlines()) == 1


@pytest.mark.parametrize(
    "path, body, refused",
    [
        ("/v1/models", b"[" * 100_000 + b"]" * 100_000, True),
        ("/v1/chat/completions", b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", True),
        ("/v1/models", b"[" * 65 + b"]" * 65, True),
        ("/v1/models", b"[" * 64 + b"]" * 64, False),  # the deepest accepted
        ("/v1/models", json.dumps({"data": [{"id": "tiny", "note": "[{" * 1000 + '\\"['}]}).encode(), False),  # in strings
    ],
    ids=["models-100k", "chat-100k", "65", "64", "brackets-in-strings"],
)
def test_deeply_nested_replies_are_one_sentence(hostile, path, body, refused):
    hostile.behaviour = ("deep", path, body)
    if not refused:
        assert load_model(spec_of(hostile), retries=0).top_logprobs == 5
        return
    assert "nests its JSON more than 64 levels deep" in one_line_error(spec_of(hostile), retries=0)


@pytest.mark.parametrize(
    "what, path, detail, fragment",
    [
        ("echo_status", "/v1/models", 401, "refused the request (HTTP 401) ("),
        ("echo_status", "/v1/chat/completions", 500, "answered HTTP 500 ("),
        ("echo_ids", "/v1/models", None, "does not serve 'tiny'; it serves: "),
        ("echo_logprob", "/v1/chat/completions", None, "malformed log-probabilities ("),
        ("echo_redirect", "/v1/chat/completions", None, "redirected to http://198.51.100.7/v1?key=***&also=***;"),
    ],
)
def test_errors_quoting_the_server_mask_the_key_and_strip_control_characters(hostile, monkeypatch, what, path, detail, fragment):
    monkeypatch.setenv("UQVIZ_TEST_KEY", KEY)
    hostile.behaviour = (what, path, detail)
    message = one_line_error(spec_of(hostile), api_key_env="UQVIZ_TEST_KEY", retries=0)
    assert fragment in message
    assert "sk-secret-123" not in message and KEY not in message and not CONTROL.search(message)
    if what != "echo_redirect":
        assert "*** | *** | *** | ***" in message
    if what in ("echo_status", "echo_ids"):
        assert "*** [31mred[0m line" in message  # quoted text is kept, the escapes' ESC dropped, the newline a space
    if what == "echo_ids":
        assert message.endswith(", evil[31m id.")


def test_the_cli_error_never_prints_an_echoed_key(hostile, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("UQVIZ_TEST_KEY", KEY)
    hostile.behaviour = ("echo_status", "/v1/models", 401)
    code = cli_main(["sample", "Hi", "--model", spec_of(hostile), "--api-key-env", "UQVIZ_TEST_KEY", "--out", str(tmp_path / "r.json")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "HTTP 401" in error and len(error.splitlines()) == 1
    assert KEY not in error and "sk-secret-123" not in error and not CONTROL.search(error)
