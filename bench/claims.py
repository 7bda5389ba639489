"""Claims and their support for one run (N=10 answers of 128 tokens by default, CPU): the time to split the answers
into claims and judge every claim against every other answer, against the run's sampling time.

    python bench/claims.py [--n 10] [--max-new-tokens 128]

Issue 28 asks for claims and support in <= 3 s on the 2-core CPU before they may run by default; the app computes
them on demand until then (README, "Claims"). Model loading is excluded; the NLI pair cache starts empty.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_size_parser  # noqa: E402

from uqviz.engine.sampling import sample  # noqa: E402
from uqviz.format.run import SamplingSettings  # noqa: E402
from uqviz.models.loading import load_language_model  # noqa: E402
from uqviz.models.nli import load_nli  # noqa: E402
from uqviz.statistics.base import RunStatistics  # noqa: E402
from uqviz.statistics.claims import CLAIM_SUPPORT, CLAIMS  # noqa: E402

PROMPT = "Write a short paragraph about the history of the telescope."


def main() -> None:
    parser = run_size_parser()
    parser.set_defaults(max_new_tokens=128)
    args = parser.parse_args()
    lm = load_language_model("default", device="cpu")
    nli = load_nli("default", device="cpu")
    nli.pair_logits(["warm up"], ["warm up"])
    run = sample(lm, PROMPT, SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))
    stats = RunStatistics(run, nli=nli)
    started = time.perf_counter()
    claims = CLAIMS(stats).flat
    split = time.perf_counter() - started
    CLAIM_SUPPORT(stats)
    total = time.perf_counter() - started
    pairs = len(claims) * (len(run.samples) - 1)
    print(f"{run.model.name}; N={args.n}, max_new_tokens={args.max_new_tokens}, "
          f"{sum(len(s) for s in run.samples)} answer tokens; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"sampling                        {run.sampling_seconds:8.3f} s")
    print(f"claims (sentence split, spans)  {split:8.3f} s   {len(claims)} claims")
    print(f"claims + support (NLI)          {total:8.3f} s   {pairs} pairs, {nli.calls - 1} batched calls")
    print(f"target for claims on by default  3.000 s   ({'met' if total <= 3.0 else 'not met: claims run on demand'})")
    print(f"ratio claims / sampling         {total / run.sampling_seconds:8.3f}")


if __name__ == "__main__":
    main()
