"""UQLM 0.6.7's LLM-as-a-judge against uqviz's `judge_categorical` and `judge_continuous`, on the same replies
(docs/methods.md §12.15). UQLM's pins (numpy < 2, pandas < 3, transformers < 5) cannot share uqviz's venv, so the two
sides run in two venvs and meet in a JSON file; `make bench-uqlm` runs both:

    python bench/uqlm_judge.py dump --out build/uqlm-judge.json          # uqviz's venv: sample, judge, write
    .venv-uqlm/bin/python bench/uqlm_judge.py check build/uqlm-judge.json  # UQLM's venv: rebuild and re-read

`dump` samples answers with the packaged model on the first demo questions, has the same model judge every answer
with both templates, and writes each prompt, the reply and the J uqviz read from it; it adds fixed edge-case replies
(keyword order, decimals, out-of-range digits, non-decimal digits). `check` builds UQLM's prompt for each
(question, answer) with `LLMJudge._default_template_ques_ans(instruction).format(question, answer)`, compares it with
uqviz's after removing each line's indentation, reads every reply with `LLMJudge._extract_score_from_text`, and prints
the agreement. UQLM calls its judge through a LangChain chat model, which cannot drive the local transformers model
offline, so only what the methods define (prompt and reading) is compared; the model call is the same greedy reply.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

EDGE_REPLIES = {
    "categorical": ["Correct", "Incorrect.", "I am not sure", "That is right!", "I am not sure whether it is wrong",
                    "Uncertain", "", "The answer is \"Incorrect\"", "no idea"],
    "continuous": ["85", "0.85", "Score: 99 (highly certain the proposed answer is correct)", "100", "0", "85 out of 100",
                   "no idea", "١٢", "x²", ""],
}


def dump(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from uqviz.engine.sampling import sample
    from uqviz.format.run import SamplingSettings
    from uqviz.measures.judge import CATEGORICAL, CONTINUOUS, READERS
    from uqviz.models.loading import load_language_model
    from uqviz.scoring.scores import score_run
    from uqviz.statistics.base import RunStatistics
    from uqviz.workflows.batch import read_questions

    model = load_language_model("default", device="cpu")
    rows, seconds = [], 0.0
    for number, question in enumerate(read_questions(args.questions)[: args.limit]):
        run = sample(model, question.text, SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=number))
        started = time.perf_counter()
        scores = score_run(run, RunStatistics(run, language_model=model), ["judge_categorical", "judge_continuous"])
        seconds += time.perf_counter() - started
        for name, template in (("judge_categorical", CATEGORICAL), ("judge_continuous", CONTINUOUS)):
            detail = scores.measures[name].result.detail
            for sample_, prompt, judged in zip(run.samples, detail.prompts, detail.judged):
                rows.append({"template": template, "question": run.prompt, "answer": sample_.text, "prompt": prompt,
                             "reply": judged.reply, "uqviz": judged.score})
        print(f"judged {number + 1}/{args.limit}", file=sys.stderr, flush=True)
    edges = [{"template": template, "reply": reply, "uqviz": READERS[template](reply).score}
             for template, replies in EDGE_REPLIES.items() for reply in replies]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "edges": edges, "judge_seconds": seconds}, ensure_ascii=False))
    print(f"{len(rows)} judged replies and {len(edges)} edge replies written to {args.out} ({seconds:.1f} s judging)")


UQLM_TEMPLATES = {"categorical": "true_false_uncertain", "continuous": "continuous"}


def unindented(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def uqlm_read(judge, reply: str) -> float | str | None:
    try:
        score = judge._extract_score_from_text(reply)
    except ValueError as error:  # float() of digits that are not decimal ones
        return f"raises ValueError ({error})"
    return None if score is None or math.isnan(score) else float(score)


def check(args: argparse.Namespace) -> None:
    from uqlm.judges.judge import LLMJudge

    data = json.loads(Path(args.file).read_text())
    judges = {kind: LLMJudge(llm=None, scoring_template=name) for kind, name in UQLM_TEMPLATES.items()}
    for kind, judge in judges.items():
        rows = [row for row in data["rows"] if row["template"] == kind]
        template = judge._default_template_ques_ans(judge.standard_instruction)
        prompts_equal = sum(unindented(template.format(row["question"], row["answer"])) == row["prompt"] for row in rows)
        scores_equal = sum(uqlm_read(judge, row["reply"]) == row["uqviz"] for row in rows)
        read = sum(row["uqviz"] is not None for row in rows)
        print(f"{kind}: {len(rows)} replies of the packaged model; prompts equal {prompts_equal}/{len(rows)}, "
              f"J equal {scores_equal}/{len(rows)} (read by uqviz: {read})")
        for row in (row for row in data["edges"] if row["template"] == kind):
            theirs = uqlm_read(judge, row["reply"])
            mark = "=" if theirs == row["uqviz"] else "≠"
            print(f"  {mark} {row['reply']!r}: uqviz {row['uqviz']}, UQLM {theirs}")
    print(f"uqviz spent {data['judge_seconds']:.1f} s judging (the model's greedy replies); UQLM's time is its model call, "
          "not measured here (see the module docstring)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    first = commands.add_parser("dump")
    first.add_argument("--out", default="build/uqlm-judge.json")
    first.add_argument("--questions", default="uqviz/data/demo_qa.csv")
    first.add_argument("--limit", type=int, default=8)
    first.add_argument("--n", type=int, default=3)
    first.add_argument("--max-new-tokens", type=int, default=24)
    second = commands.add_parser("check")
    second.add_argument("file")
    args = parser.parse_args()
    dump(args) if args.command == "dump" else check(args)


if __name__ == "__main__":
    main()
