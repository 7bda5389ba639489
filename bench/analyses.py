"""All analyses of a run vs the sampling time of the same run (N=10, 64 tokens, CPU by default).

    python bench/analyses.py [--n 10] [--max-new-tokens 64] [--device cpu]

Samples one run, then scores it with every registered measure (embeddings, relevance, clusters, volume,
the UQAC attention pass and expansions). Prints each measure's seconds and model calls, the shared
statistics' costs, and the ratio of all analyses to sampling (target <= 1.0). Model loading is excluded.
It scores the run twice from empty caches: with the default settings (token relevance at `auto` precision,
bfloat16 where the device runs it natively) and with token relevance at float32.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT, run_size_parser  # noqa: E402

from uqviz.models.loading import load_embedder, load_language_model  # noqa: E402
from uqviz.models.nli import load_nli  # noqa: E402
from uqviz.format.run import SamplingSettings  # noqa: E402
from uqviz.engine.sampling import sample  # noqa: E402
from uqviz.scoring.scores import score_run  # noqa: E402
from uqviz.models.similarity import FLOAT32  # noqa: E402
from uqviz.statistics.base import RunStatistics, ScoreConfig  # noqa: E402


def score_and_report(run, config: ScoreConfig, embedder, lm, nli) -> float:
    """Score every measure from empty caches (the NLI judge's pair cache too), print each measure's and statistic's
    cost, return the total seconds."""
    nli._cache.clear()
    statistics = RunStatistics(run, config, embedder=embedder, nli=nli, language_model=lm)
    started = time.perf_counter()
    scores = score_run(run, statistics)
    analyses = time.perf_counter() - started
    print(f"relevance precision {config.relevance_precision} -> {statistics.relevance_precision}")
    for name, scored in scores.measures.items():
        value = "null" if scored.result.value is None else f"{scored.result.value:.4f}"
        print(f"  {name:28s} {scored.seconds:8.3f} s  {scored.model_calls:4d} calls  U={value}")
    for name, cost in statistics.costs.items():
        print(f"  statistic {name:18s} {cost.seconds:8.3f} s  {cost.model_calls:4d} calls")
    print(f"all analyses             {analyses:8.3f} s")
    return analyses


def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    lm = load_language_model("default", device=args.device)
    embedder = load_embedder("default", device=args.device)
    embedder.model.encode(["warm up"])
    nli = load_nli("default", device=args.device)  # the default meaning judge; loading it is model loading, not analysis
    nli.pair_logits(["warm up"], ["warm up"])
    sample(lm, "warm up", SamplingSettings(n=1, max_new_tokens=2))
    run = sample(lm, PROMPT, SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))
    tokens = sum(len(s) for s in run.samples)
    print(f"{lm.info.name} on {lm.info.device}; N={args.n}, max_new_tokens={args.max_new_tokens}, {tokens} answer tokens")
    print(f"sampling                 {run.sampling_seconds:8.3f} s")
    default = score_and_report(run, ScoreConfig(), embedder, lm, nli)
    exact = score_and_report(run, ScoreConfig(relevance_precision=FLOAT32), embedder, lm, nli)
    print(f"ratio analyses / sampling, default settings       {default / run.sampling_seconds:7.3f}   (target <= 1.0)")
    print(f"ratio analyses / sampling, relevance at float32   {exact / run.sampling_seconds:7.3f}")


if __name__ == "__main__":
    main()
