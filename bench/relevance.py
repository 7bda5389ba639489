"""SAR token relevance against the sampling time of the same run.

    python bench/relevance.py [--n 10] [--max-new-tokens 64] [--repeats 3] [--model default] [--device cpu]

Samples one run, then computes the token-relevance statistic (every "token removed" variant of every answer,
embedded in batched calls) with an empty embedding cache each repeat. Prints the median seconds, the ratio to the
run's sampling time, and what the three SAR measures add on top (answer similarity from the cached embeddings).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT, measure, median, run_size_parser  # noqa: E402
from uqviz.measures import REGISTRY  # noqa: E402
from uqviz.measures.sar import TOKEN_RELEVANCE, token_relevance  # noqa: E402
from uqviz.models import load_embedder, load_language_model  # noqa: E402
from uqviz.run import SamplingSettings  # noqa: E402
from uqviz.sampling import sample  # noqa: E402
from uqviz.similarity import BiEncoderSimilarity  # noqa: E402
from uqviz.statistics import RunStatistics  # noqa: E402

def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    lm = load_language_model(args.model, device=args.device)
    embedder = load_embedder("default", device=args.device)
    run = sample(lm, PROMPT, SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))
    BiEncoderSimilarity(embedder).embed(["warm-up"])

    relevance_seconds, sar_seconds, calls = [], [], []
    for _ in range(args.repeats):
        statistics = RunStatistics(run, similarity=BiEncoderSimilarity(embedder))
        seconds, _ = measure(lambda: token_relevance(statistics), args.device)
        relevance_seconds.append(seconds)
        calls.append(statistics.costs[TOKEN_RELEVANCE].model_calls)
        seconds, _ = measure(lambda: [REGISTRY[name].compute(statistics) for name in ("token_sar", "sent_sar", "sar")], args.device)
        sar_seconds.append(seconds)
    tokens = sum(len(s) for s in run.samples)
    relevance_s = median(relevance_seconds)
    print(f"model {lm.info.name} on {lm.info.device}, embedder {embedder.name}, N={args.n}, max_new_tokens={args.max_new_tokens}, "
          f"{tokens} answer tokens = {tokens} removal variants, median of {args.repeats}")
    print(f"sampling (same run)        {run.sampling_seconds:8.3f} s")
    print(f"token relevance            {relevance_s:8.3f} s   {max(calls)} similarity-model calls")
    print(f"ratio relevance / sampling {relevance_s / run.sampling_seconds:8.3f}")
    print(f"three SAR measures after   {median(sar_seconds):8.3f} s   (answer similarity reuses the cached embeddings)")


if __name__ == "__main__":
    main()
