"""The clustering rules, measured (docs/methods.md §3.2): each rule's agreement with the hand-labelled real answer
pairs, and how well semantic entropy and the number of sets under each rule rank wrong answers on a QA set, on the
same samples for every rule, beside lexical similarity.

    python bench/rules.py pairs [--pairs uqviz/data/real_answer_pairs.csv] [--split test] [--nli default]
    python bench/rules.py auroc QA.csv --runs build/rules-demo [--limit 120] [--n 10] [--max-new-tokens 24] [--nli default]

`auroc` samples every question once (a greedy answer, graded by ROUGE-L recall as the batch grades it, and N answers
at temperature 1, seed 0) into --runs, one JSON file a question, and reuses them on the next call; then it scores
the same runs under every rule.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MEASURES = ("semantic_entropy", "discrete_semantic_entropy", "num_semantic_sets")
PAIR_RULES = ("strict", "nature_code_non_strict", "kuhn_code", "embedding")


def pairs_table(args: argparse.Namespace) -> None:
    from uqviz.api import load_embedder_model, load_nli_model
    from uqviz.statistics.base import ScoreConfig
    from uqviz.workflows.judging import judge_pairs
    from uqviz.workflows.nli_training import read_real_pairs
    from uqviz.workflows.real_answers import HAND_LABELS, SAME

    rows = read_real_pairs(Path(args.pairs), None if args.split == "all" else args.split)
    pairs = [(row["question"], row["a"], row["b"]) for row in rows]
    labels = np.asarray([row["label"] for row in rows])
    nli = load_nli_model(args.nli)
    counts = ", ".join(f"{int(np.sum(labels == label))} {label}" for label in HAND_LABELS)
    print(f"{args.pairs} ({args.split} split): {len(rows)} pairs, {counts}; judge {nli.name}")
    print("| rule | accuracy | same kept together | different split | no-answer split |")
    print("|---|---|---|---|---|")
    for rule in PAIR_RULES:
        judged_pairs, _ = judge_pairs(pairs, rule, lambda: nli, lambda: load_embedder_model("default"), ScoreConfig().cluster_threshold)
        judged = np.asarray([pair.same for pair in judged_pairs], dtype=bool)
        right = judged == (labels == SAME)
        print(f"| {rule} | {right.mean():.3f} | " + " | ".join(f"{right[labels == label].mean():.3f}" for label in HAND_LABELS) + " |")


def sampled_runs(args: argparse.Namespace) -> list[tuple[object, object, object]]:
    """(question, greedy run, run) for every question, sampled once and kept in --runs."""
    from dataclasses import replace

    from uqviz.engine.sampling import sample
    from uqviz.format.run import SamplingSettings, read_run, write_run
    from uqviz.models.loading import load_language_model
    from uqviz.workflows.batch import read_questions

    questions = read_questions(args.questions)[: args.limit]
    folder = Path(args.runs)
    folder.mkdir(parents=True, exist_ok=True)
    settings = SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0)
    lm = None
    runs = []
    for number, question in enumerate(questions):
        greedy_path, path = folder / f"{number:04d}-greedy.json", folder / f"{number:04d}.json"
        if not path.is_file():
            lm = lm or load_language_model("default")
            write_run(sample(lm, question.text, replace(settings, n=1, temperature=0.0)), greedy_path)
            write_run(sample(lm, question.text, settings), path)
            print(f"sampled {number + 1}/{len(questions)}", file=sys.stderr, flush=True)
        runs.append((question, read_run(greedy_path), read_run(path)))
    return runs


def auroc_table(args: argparse.Namespace) -> None:
    from uqviz.api import load_nli_model, score
    from uqviz.statistics.base import ScoreConfig
    from uqviz.statistics.clustering import RULES
    from uqviz.workflows.batch import CorrectnessRule, grade
    from uqviz.workflows.evaluation import auroc

    runs = sampled_runs(args)
    if args.sample_only:
        return
    correct = [grade(greedy.samples[0].text, question.answers, CorrectnessRule(), None)["correct"] for question, greedy, _ in runs]
    nli = load_nli_model(args.nli)
    table: dict[str, dict[str, float | None]] = {}
    for rule in RULES:
        values: dict[str, list[float | None]] = {name: [] for name in MEASURES}
        for _, _, run in runs:
            scores = score(run, list(MEASURES), nli=args.nli, language_model=None, config=ScoreConfig(cluster_rule=rule))
            for name in MEASURES:
                values[name].append(scores[name].result.value)
        table[rule] = {name: auroc(correct, values[name]) for name in MEASURES} | {"mean sets": float(np.mean(values["num_semantic_sets"]))}
        print(f"scored under {rule}", file=sys.stderr, flush=True)
    lexical = [score(run, ["lexical_similarity"], nli=None, language_model=None)["lexical_similarity"].result.value
               for _, _, run in runs]
    accuracy = float(np.mean([value for value in correct if value is not None]))
    print(f"{args.questions}: {len(runs)} questions, N = {args.n}, {args.max_new_tokens} new tokens, seed 0; greedy accuracy {accuracy:.3f}; judge {nli.name}")
    print("| rule | " + " | ".join(f"AUROC {name}" for name in MEASURES) + " | mean sets |")
    print("|---|" + "---|" * (len(MEASURES) + 1))
    for rule, row in table.items():
        cells = " | ".join("–" if row[name] is None else f"{row[name]:.3f}" for name in MEASURES)
        print(f"| {rule} | {cells} | {row['mean sets']:.2f} |")
    print(f"lexical similarity AUROC: {auroc(correct, lexical):.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": str(args.questions), "accuracy": accuracy, "rules": table,
                                               "lexical_similarity": auroc(correct, lexical), "judge": nli.name}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pairs = commands.add_parser("pairs")
    pairs.add_argument("--pairs", default="uqviz/data/real_answer_pairs.csv")
    pairs.add_argument("--split", default="test", choices=("dev", "test", "all"))
    pairs.add_argument("--nli", default="default")
    ranking = commands.add_parser("auroc")
    ranking.add_argument("questions")
    ranking.add_argument("--runs", required=True)
    ranking.add_argument("--limit", type=int, default=None)
    ranking.add_argument("--n", type=int, default=10)
    ranking.add_argument("--max-new-tokens", type=int, default=24)
    ranking.add_argument("--nli", default="default")
    ranking.add_argument("--json", default=None)
    ranking.add_argument("--sample-only", action="store_true", help="sample the runs and stop (score them later, with another judge)")
    args = parser.parse_args()
    pairs_table(args) if args.command == "pairs" else auroc_table(args)


if __name__ == "__main__":
    main()
