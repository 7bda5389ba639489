"""Bayesian semantic entropy on a budget (docs/methods.md §12.14): on cached runs, how well it ranks wrong greedy answers
with the first n answers of each run, and with adaptive sampling that stops once the posterior variance is small.

    nice -n 10 python bench/budget.py uqviz/data/demo_qa.csv --runs build/rules-demo [--nli default]

The runs are those `bench/rules.py auroc` sampled (NNNN.json, N answers at temperature 1; NNNN-greedy.json, graded by
ROUGE-L recall as the batch grades it). Classes come from the strict rule with the NLI judge, once per run: the
representative assignment over first-occurrence order gives the first n answers the first n ids of the full run,
which the script checks. Adaptive sampling starts at n = 2 and stops at the first n where `enough_samples` holds,
else at N. The "fitted" prior over the number of classes M is the paper's protocol: the histogram of
min(classes at N, 7) over the other questions (leave one out; no labels are used).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANCES = (0.005, 0.01, 0.02, 0.05, 0.1)
FIRST = 2


def fitted_support(class_counts: Sequence[int], left_out: int, max_classes: int) -> list[float]:
    """P(M = 1 … max_classes) from the other questions' class counts, each capped at max_classes."""
    others = [min(count, max_classes) for index, count in enumerate(class_counts) if index != left_out]
    return (np.bincount(others, minlength=max_classes + 1)[1:] / len(others)).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions")
    parser.add_argument("--runs", required=True)
    parser.add_argument("--nli", default="default")
    args = parser.parse_args()

    from uqviz.api import statistics
    from uqviz.format.run import read_run
    from uqviz.measures.bayesian_entropy import (
        DEFAULT_MAX_VARIANCE, MAX_CLASSES, UNIFORM_SUPPORT, bayesian_semantic_entropy, enough_samples,
    )
    from uqviz.measures.logprob import sequence_loglik
    from uqviz.measures.semantic import discrete_semantic_entropy, semantic_entropy_nature
    from uqviz.models.nli import unique_texts
    from uqviz.statistics.base import ScoreConfig
    from uqviz.statistics.clustering import ANSWER_CLUSTERING, STRICT_RULE, answer_nli_labels, cluster_by_labels
    from uqviz.workflows.batch import CorrectnessRule, grade, read_questions
    from uqviz.workflows.evaluation import auroc

    folder = Path(args.runs)
    questions = [question for number, question in enumerate(read_questions(args.questions)) if (folder / f"{number:04d}.json").is_file()]
    correct, ids, logprobs, texts, judge = [], [], [], [], ""
    for number, question in enumerate(questions):
        greedy, run = read_run(folder / f"{number:04d}-greedy.json"), read_run(folder / f"{number:04d}.json")
        correct.append(grade(greedy.samples[0].text, question.answers, CorrectnessRule(), None)["correct"])
        stats = statistics(run, nli=args.nli, language_model=None, config=ScoreConfig(cluster_rule=STRICT_RULE))
        full, labels = ANSWER_CLUSTERING(stats).ids, answer_nli_labels(stats)
        answers = stats.answers
        for n in range(FIRST, len(answers) + 1):
            distinct = len(unique_texts(answers[:n])[0])
            assert cluster_by_labels(answers[:n], labels[:distinct, :distinct], STRICT_RULE).ids == full[:n], number
        ids.append(full)
        logprobs.append(stats.logprobs)
        texts.append(answers)
        judge = stats.nli.name
        print(f"clustered {number + 1}/{len(questions)}", file=sys.stderr, flush=True)

    total = len(ids[0])
    class_counts = [max(row) + 1 for row in ids]
    supports = {"uniform": [UNIFORM_SUPPORT] * len(ids),
                "fitted": [fitted_support(class_counts, index, MAX_CLASSES) for index in range(len(ids))]}
    results = {name: [[bayesian_semantic_entropy(row[:n], [sequence_loglik(lp) for lp in lps[:n]], words[:n],
                                                 support_prior=support)
                       for n in range(FIRST, total + 1)]
                      for row, lps, words, support in zip(ids, logprobs, texts, prior, strict=True)]
               for name, prior in supports.items()}

    accuracy = float(np.mean([value for value in correct if value is not None]))
    print(f"{args.questions}: {len(ids)} questions, N = {total}; greedy accuracy {accuracy:.3f}; strict rule, judge {judge}")
    print("\nFixed budget: the first n answers of every run.\n")
    print("| n | AUROC semantic_entropy | AUROC discrete_semantic_entropy | AUROC Bayesian SE (uniform M prior) | AUROC Bayesian SE (fitted M prior) |")
    print("|---|---|---|---|---|")
    for n in range(FIRST, total + 1):
        cells = [auroc(correct, [semantic_entropy_nature(row[:n], lps[:n]).value for row, lps in zip(ids, logprobs)]),
                 auroc(correct, [discrete_semantic_entropy(row[:n]).value for row in ids])]
        cells += [auroc(correct, [row[n - FIRST].value for row in results[name]]) for name in supports]
        print(f"| {n} | " + " | ".join("–" if cell is None else f"{cell:.3f}" for cell in cells) + " |")
    print(f"\nAdaptive: stop at the first n ≥ {FIRST} with posterior variance ≤ the tolerance, else n = {total}.\n")
    print("| M prior | max variance | mean samples | AUROC Bayesian SE at the stop |")
    print("|---|---|---|---|")
    for name in supports:
        for tolerance in VARIANCES:
            stops = [next((n for n in range(FIRST, total) if enough_samples(
                row[:n], [sequence_loglik(lp) for lp in lps[:n]], words[:n], max_variance=tolerance, support_prior=support)), total)
                     for row, lps, words, support in zip(ids, logprobs, texts, supports[name], strict=True)]
            values = [row[stop - FIRST].value for row, stop in zip(results[name], stops)]
            marker = " (default)" if tolerance == DEFAULT_MAX_VARIANCE else ""
            print(f"| {name} | {tolerance:g}{marker} | {np.mean(stops):.2f} | {auroc(correct, values):.3f} |")


if __name__ == "__main__":
    main()
