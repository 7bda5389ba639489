"""Sample the long answers behind `uqviz/data/labelled_claims.csv` and list their sentence claims for labelling.

    .venv/bin/python bench/make_labelled_claims.py [--limit N] [--out uqviz/data/labelled_claims_runs.jsonl.gz]
        [--to-label build/claims_to_label.csv] [--prompts uqviz/data/claims_prompts.csv] [--from-runs]

For every prompt of `uqviz/data/claims_prompts.csv` (row i, 0-based) it samples one run with the packaged model on the
CPU: 5 answers, temperature 1, top-p 1, no top-k, 128 new tokens, seed 1000 + i, chat template. The runs go to `--out`
(gzip, one `uqviz.format.run.run_to_json(run)` per line, in prompt order) and the sentence claims
(`uqviz.statistics.claims.answer_claims`) of sample 0 of every run go to `--to-label` with the columns
`run,prompt,sample,start,end,claim` (run = 0-based line of `--out`; claim = the sample's text[start:end]). Where
sample 0 has fewer than `--second-sample-below` claims (default 3), the claims of sample 1 of that run are listed too.
`--from-runs` skips sampling and lists the claims of the runs already in `--out`.

The 48 runs take about 15-20 minutes on a 2-core CPU. The labels themselves were added by hand
(`uqviz/data/labelled_claims.md`).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from uqviz.format.run import Run, SamplingSettings, run_from_json, run_to_json  # noqa: E402
from uqviz.statistics.claims import answer_claims  # noqa: E402

PROMPTS = ROOT / "uqviz" / "data" / "claims_prompts.csv"
RUNS = ROOT / "uqviz" / "data" / "labelled_claims_runs.jsonl.gz"
TO_LABEL = ROOT / "build" / "claims_to_label.csv"
SEED_BASE = 1000
N, TEMPERATURE, MAX_NEW_TOKENS = 5, 1.0, 128


def read_prompts(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as file:
        return [row["prompt"] for row in csv.DictReader(file)]


def sample_runs(prompts: list[str], out: Path) -> list[Run]:
    from uqviz.engine.sampling import sample
    from uqviz.models.loading import load_language_model

    lm = load_language_model("default", device="cpu")
    out.parent.mkdir(parents=True, exist_ok=True)
    runs, started = [], time.perf_counter()
    with gzip.open(out, "wt", encoding="utf-8") as file:
        for index, prompt in enumerate(prompts):
            settings = SamplingSettings(n=N, temperature=TEMPERATURE, max_new_tokens=MAX_NEW_TOKENS, seed=SEED_BASE + index)
            run = sample(lm, prompt, settings)
            file.write(run_to_json(run) + "\n")
            file.flush()
            runs.append(run)
            print(f"[{index + 1}/{len(prompts)}] {run.sampling_seconds:.1f}s  {prompt}", flush=True)
    print(f"sampled {len(runs)} runs in {time.perf_counter() - started:.0f}s -> {out}", flush=True)
    return runs


def read_runs(path: Path) -> list[Run]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [run_from_json(line, origin=f"{path}:{number + 1}") for number, line in enumerate(file) if line.strip()]


def claim_rows(runs: list[Run], second_sample_below: int) -> list[dict]:
    rows = []
    for run_index, run in enumerate(runs):
        claims = answer_claims(run.samples).claims
        chosen = list(claims[0])
        if len(chosen) < second_sample_below and len(claims) > 1:
            chosen += claims[1]
        for claim in chosen:
            assert run.samples[claim.sample].text[claim.start:claim.end] == claim.text
            rows.append({"run": run_index, "prompt": run.prompt, "sample": claim.sample,
                         "start": claim.start, "end": claim.end, "claim": claim.text})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=Path, default=PROMPTS)
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    parser.add_argument("--out", type=Path, default=RUNS, help="the runs, gzip JSON lines")
    parser.add_argument("--to-label", type=Path, default=TO_LABEL, help="the claims to label, CSV")
    parser.add_argument("--second-sample-below", type=int, default=3,
                        help="also list sample 1 where sample 0 has fewer claims than this (0: never)")
    parser.add_argument("--from-runs", action="store_true", help="list the claims of the runs in --out, no sampling")
    args = parser.parse_args()

    if args.from_runs:
        runs = read_runs(args.out)[: args.limit]
    else:
        runs = sample_runs(read_prompts(args.prompts)[: args.limit], args.out)
    rows = claim_rows(runs, args.second_sample_below)
    args.to_label.parent.mkdir(parents=True, exist_ok=True)
    with open(args.to_label, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=["run", "prompt", "sample", "start", "end", "claim"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} claims of {len(runs)} runs -> {args.to_label}")


if __name__ == "__main__":
    main()
