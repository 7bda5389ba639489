"""`python -m uqviz sample|score`: the command-line contract of DESIGN.md."""

from __future__ import annotations

import argparse
import json
import sys

from uqviz.models import DEFAULT_MODEL, ModelLoadError
from uqviz.run import RunFormatError, SamplingSettings
from uqviz.sampling import SamplingError

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m uqviz", description="Sample answers and score their uncertainty.")
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="sample N answers to a prompt and write run.json")
    sample.add_argument("prompt")
    sample.add_argument("--n", type=int, default=10)
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--top-p", type=float, default=1.0)
    sample.add_argument("--top-k", type=int, default=0, help="0 turns top-k off")
    sample.add_argument("--max-new-tokens", type=int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--model", default=DEFAULT_MODEL, help="'default', a model directory, a .gguf file or a hub id")
    sample.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    sample.add_argument("--no-chat", action="store_true", help="do not apply the chat template")
    sample.add_argument("--system", default=None, help="system prompt (chat template only)")
    sample.add_argument("--trust-remote-code", action="store_true")
    sample.add_argument("--out", required=True)

    score = commands.add_parser("score", help="score a run.json with every registered measure")
    score.add_argument("run")
    score.add_argument("--out", default=None, help="scores.json path; stdout when left out")
    score.add_argument("--embedder", default="default", help="'default' (packaged MiniLM) or a sentence-transformers folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sample":
            return _sample(args)
        return _score(args)
    except (RunFormatError, SamplingError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _sample(args: argparse.Namespace) -> int:
    from uqviz.models import load_language_model
    from uqviz.run import write_run
    from uqviz.sampling import sample

    settings = SamplingSettings(
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    lm = load_language_model(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    run = sample(lm, args.prompt, settings, chat=not args.no_chat, system_prompt=args.system)
    write_run(run, args.out)
    print(f"wrote {len(run.samples)} samples to {args.out} in {run.sampling_seconds:.2f} s", file=sys.stderr)
    return 0


def _score(args: argparse.Namespace) -> int:
    from uqviz.models import load_embedder
    from uqviz.run import read_run
    from uqviz.scoring import score_run, write_scores
    from uqviz.statistics import RunStatistics

    run = read_run(args.run)
    scores = score_run(run, RunStatistics(run, embedder=lambda: load_embedder(args.embedder)))
    if args.out:
        write_scores(scores, args.out)
        print(f"wrote {len(scores.measures)} measures to {args.out}", file=sys.stderr)
    else:
        json.dump(scores.to_dict(), sys.stdout, indent=1, allow_nan=False)
        print()
    return 0
