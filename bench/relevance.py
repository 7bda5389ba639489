"""SAR token relevance against the sampling time of the same run, at float32 and at bfloat16.

    python bench/relevance.py [--n 10] [--max-new-tokens 64] [--repeats 3] [--model default] [--device cpu]

Samples one run, then computes the token-relevance statistic (every "token removed" variant of every answer,
embedded in batched calls) with an empty embedding cache each repeat, once per precision. Prints the median
seconds, the ratio to the run's sampling time, the bfloat16 speed-up, and how far bfloat16 moves the numbers:
the largest change of any R_i, the correlation of all R_i, the TokenSAR/SAR values, and how many samples keep
their most relevant token.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT, measure, median, run_size_parser  # noqa: E402
from uqviz.measures.registry import REGISTRY  # noqa: E402
from uqviz.statistics.relevance import TOKEN_RELEVANCE  # noqa: E402
from uqviz.models.loading import load_embedder, load_language_model  # noqa: E402
from uqviz.format.run import SamplingSettings  # noqa: E402
from uqviz.engine.sampling import sample  # noqa: E402
from uqviz.models.similarity import BFLOAT16, FLOAT32, BiEncoderSimilarity, has_fast_bfloat16  # noqa: E402
from uqviz.statistics.base import RunStatistics, ScoreConfig  # noqa: E402


def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    lm = load_language_model(args.model, device=args.device)
    embedder = load_embedder("default", device=args.device)
    run = sample(lm, PROMPT, SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))
    for precision in (FLOAT32, BFLOAT16):
        BiEncoderSimilarity(embedder).embed(["warm-up"], precision)

    tokens = sum(len(s) for s in run.samples)
    print(f"model {lm.info.name} on {lm.info.device}, embedder {embedder.name}, N={args.n}, max_new_tokens={args.max_new_tokens}, "
          f"{tokens} answer tokens = {tokens} removal variants, median of {args.repeats}; "
          f"native bfloat16 here: {has_fast_bfloat16(args.device)}")
    print(f"sampling (same run)        {run.sampling_seconds:8.3f} s")
    seconds, relevance, values = {}, {}, {}
    for precision in (FLOAT32, BFLOAT16):
        timings, calls = [], []
        for _ in range(args.repeats):
            statistics = RunStatistics(run, ScoreConfig(relevance_precision=precision), similarity=BiEncoderSimilarity(embedder))
            timings.append(measure(lambda: TOKEN_RELEVANCE(statistics), args.device)[0])
            calls.append(statistics.costs[TOKEN_RELEVANCE.name].model_calls)
        seconds[precision] = median(timings)
        relevance[precision] = TOKEN_RELEVANCE(statistics).relevance
        values[precision] = {name: REGISTRY[name].compute(statistics).value for name in ("token_sar", "sar")}
        print(f"token relevance {precision:9s}  {seconds[precision]:8.3f} s   {max(calls)} similarity-model calls   "
              f"ratio to sampling {seconds[precision] / run.sampling_seconds:6.3f}")
    exact, fast = (np.concatenate(relevance[p]) for p in (FLOAT32, BFLOAT16))
    same_top = sum(int(np.argmax(a)) == int(np.argmax(b)) for a, b in zip(relevance[FLOAT32], relevance[BFLOAT16]) if a)
    print(f"bfloat16 speed-up          {seconds[FLOAT32] / seconds[BFLOAT16]:8.2f}x")
    print(f"bfloat16 vs float32: max |dR| {np.abs(fast - exact).max():.2e} (R: mean {exact.mean():.2e}, max {exact.max():.2e}), "
          f"correlation {np.corrcoef(exact, fast)[0, 1]:.6f}, most relevant token kept in {same_top}/{len(run.samples)} samples")
    for name in ("token_sar", "sar"):
        print(f"  {name:10s} float32 {values[FLOAT32][name]:.5f}  bfloat16 {values[BFLOAT16][name]:.5f}")


if __name__ == "__main__":
    main()
