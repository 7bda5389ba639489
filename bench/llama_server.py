"""llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) on the packaged GGUF, on a free port of 127.0.0.1:
started for the server-backend tests and bench/server.py, stopped when they are done."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MODEL_ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(log: Path, threads: int = 2, context: int = 2048, seconds: float = 120) -> Iterator[str]:
    """Yield the model spec `openai:http://127.0.0.1:PORT/v1#smollm2` of a running server; its output goes to `log`."""
    from uqviz.models.loading import default_gguf_path

    port = free_port()
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()), "--model_alias", MODEL_ALIAS,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context), "--n_threads", str(threads),
             "--verbose", "false"],
            stdout=output, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.time() + seconds
            while True:
                try:
                    urllib.request.urlopen(url + "/models", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"llama.cpp's server did not start: {log.read_text()[-2000:]}") from None
                    time.sleep(0.3)
            yield f"openai:{url}#{MODEL_ALIAS}"
        finally:
            server.terminate()
            server.wait(timeout=30)
