"""Judging time of the packaged NLI judge: all ordered pairs of N = 10 distinct answers (90 pairs), from an empty pair
cache, against the sampling time of the same answers (target <= 0.5 s on the 2-core CPU).

    python bench/judge.py [--nli default] [--repeats 5]

The answers are sampled once by the packaged model (N = 10, 64 new tokens); the judge then scores every ordered pair
on "question answer" texts in batched calls, as semantic clustering does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nli", default="default")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from uqviz.engine.sampling import sample
    from uqviz.format.run import SamplingSettings
    from uqviz.models.loading import load_language_model
    from uqviz.models.nli import load_nli, pairwise_logits, unique_texts

    lm = load_language_model("default")
    run = None
    for seed in range(20):  # ten distinct answers, as the target asks
        run = sample(lm, PROMPT, SamplingSettings(n=10, max_new_tokens=64, seed=seed))
        if len(unique_texts([s.text for s in run.samples])[0]) == 10:
            break
    answers = unique_texts([s.text for s in run.samples])[0]
    nli = load_nli(args.nli)
    times = []
    for _ in range(args.repeats):
        nli._cache.clear()
        calls = nli.calls
        started = time.perf_counter()
        pairwise_logits(nli, run.prompt, answers)
        times.append(time.perf_counter() - started)
    pairs = len(answers) * (len(answers) - 1)
    print(f"{nli.name}: {pairs} ordered pairs of {len(answers)} distinct answers in {statistics.median(times):.3f} s "
          f"(median of {args.repeats}, {nli.calls - calls} batched calls each); sampling them took {run.sampling_seconds:.2f} s")
    started = time.perf_counter()
    pairwise_logits(nli, run.prompt, answers)
    print(f"again with the pair cache: {time.perf_counter() - started:.4f} s")


if __name__ == "__main__":
    main()
