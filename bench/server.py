"""Questions per second through llama.cpp's server vs the local backend, same questions and settings, one run.

    python bench/server.py [--questions 8] [--n 5] [--max-new-tokens 32] [--concurrency 4]

Both sides answer the same demo questions with `run_batch` (greedy answer + N samples, every default measure the
backend allows: the server gives no attention or hidden states, so UQAC and EigenScore are skipped there, with
their reason). Also prints how far the server's log-probs are from the local teacher-forced pass of the same GGUF.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_size_parser  # noqa: E402
from bench.llama_server import llama_server  # noqa: E402


def throughput(lm, questions, settings, folder: Path, name: str, embedder, nli) -> float:
    from uqviz.workflows.batch import run_batch

    started = time.perf_counter()
    run_batch(questions, lm, folder / f"{name}.csv", settings, embedder=embedder, nli=nli)
    seconds = time.perf_counter() - started
    print(f"{name:7s} {len(questions)} questions in {seconds:7.2f} s: {len(questions) / seconds:.3f} questions/s")
    return len(questions) / seconds


def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.set_defaults(n=5, max_new_tokens=32)
    args = parser.parse_args()

    import numpy as np
    import torch

    from uqviz.engine.sampling import sample
    from uqviz.engine.server import load_model
    from uqviz.format.run import SamplingSettings
    from uqviz.models.loading import load_embedder, load_language_model
    from uqviz.models.nli import load_nli
    from uqviz.workflows.batch import BatchSettings, demo_questions

    local = load_language_model("default", device="cpu")
    embedder, nli = load_embedder("default", device="cpu"), load_nli("default", device="cpu")
    questions = demo_questions()[: args.questions]
    settings = BatchSettings(SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))
    folder = Path(tempfile.mkdtemp(prefix="uqviz-server-bench-"))
    with llama_server(folder / "server.log") as spec:
        server = load_model(spec, concurrency=args.concurrency)
        print(f"llama.cpp server {spec}, top_logprobs {server.top_logprobs}, concurrency {args.concurrency}; "
              f"N={args.n}, max_new_tokens={args.max_new_tokens}, CPU")
        remote = throughput(server, questions, settings, folder, "server", embedder, nli)
        here = throughput(local, questions, settings, folder, "local", embedder, nli)
        print(f"ratio server / local (questions per second) {remote / here:.2f}")

        differences = []
        for question in questions:
            answer = sample(server, question.text, SamplingSettings(n=1, max_new_tokens=args.max_new_tokens, seed=1), chat=False).samples[0]
            prompt_ids = local.tokenizer(question.text)["input_ids"]
            ids = local.tokenizer(question.text + answer.text)["input_ids"]
            if ids[: len(prompt_ids)] != prompt_ids or len(ids) - len(prompt_ids) != len(answer.logprobs):
                continue  # the text does not re-tokenise into the same pieces
            with torch.inference_mode():
                logits = local.model(input_ids=torch.tensor([ids])).logits[0].float()
            mine = torch.log_softmax(logits, -1)[np.arange(len(prompt_ids) - 1, len(ids) - 1), ids[len(prompt_ids):]].numpy()
            differences.extend(np.abs(mine - np.array(answer.logprobs)).tolist())
        print(f"server log-probs vs the local teacher-forced pass, {len(differences)} sampled tokens: "
              f"mean |Δ| {np.mean(differences):.3f}, max |Δ| {np.max(differences):.3f} nats")


if __name__ == "__main__":
    main()
