"""A 200-question batch through uqviz against vLLM serving a small random-weight model on a GPU (README, "Servers").

    pip install vllm            # on the GPU machine; not part of requirements.txt
    python bench/vllm.py [--questions 200] [--n 5] [--max-new-tokens 32] [--concurrency 16] [--shape tiny|1b]

Writes a random-weight Llama (the packaged SmolLM2 tokenizer and chat template) to a temporary folder, serves it
with `vllm serve` on a free port of 127.0.0.1, runs `uqviz batch` logic over the demo questions repeated to
--questions, and prints questions per second and answers per second. Without CUDA or without vLLM it says so and
exits 0: nothing here runs on a CPU-only machine.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_size_parser  # noqa: E402
from bench.gpu import random_model  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 600) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"vllm exited with {process.returncode} before it served {url}")
        try:
            urllib.request.urlopen(url + "/models", timeout=2)
            return
        except OSError:
            time.sleep(2)
    raise SystemExit(f"vllm did not serve {url} within {seconds:.0f} s")


def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--shape", default="tiny", help="tiny (a few layers) or 1b, as in bench/gpu.py")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("bench/vllm.py: no CUDA device here, so vLLM cannot run; nothing was measured.")
        return
    if importlib.util.find_spec("vllm") is None:
        print("bench/vllm.py: vLLM is not installed (pip install vllm); nothing was measured.")
        return

    from uqviz.engine.server import load_model
    from uqviz.format.run import SamplingSettings
    from uqviz.models.loading import load_language_model
    from uqviz.workflows.batch import BatchSettings, demo_questions, run_batch

    tokenizer = load_language_model("default", device="cpu").tokenizer
    folder = Path(tempfile.mkdtemp(prefix="uqviz-vllm-"))
    model = random_model(args.shape, tokenizer, "cpu")
    model.model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    port = free_port()
    name = f"random-llama-{args.shape}"
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder), "--served-model-name", name,
         "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "2048", "--max-logprobs", "20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        started = time.perf_counter()
        wait_until_up(url, server)
        print(f"vllm served {name} after {time.perf_counter() - started:.1f} s on {torch.cuda.get_device_name()}")
        lm = load_model(f"openai:{url}#{name}", concurrency=args.concurrency)
        base = demo_questions()
        questions = [type(q)(f"{q.text} (variant {i // len(base)})", q.answers) for i, q in enumerate(base * (args.questions // len(base) + 1))][: args.questions]
        settings = BatchSettings(SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))
        started = time.perf_counter()
        rows = run_batch(questions, lm, folder / "results.csv", settings)
        seconds = time.perf_counter() - started
        print(f"{len(rows)} questions, N={args.n}, max_new_tokens={args.max_new_tokens}, concurrency {args.concurrency}: "
              f"{seconds:.1f} s, {len(rows) / seconds:.2f} questions/s, {len(rows) * (args.n + 1) / seconds:.1f} answers/s")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
