"""Real answers for the meaning judge (docs/methods.md §0.2): the packaged model's own sampled answers to questions with
known answers, weak same/different labels for training, and pairs drawn for labelling by hand.

    python -m uqviz.workflows.real_answers sample --out FILE.jsonl.gz [--questions CSV] [--n 10] [--max-new-tokens 32] [--stride 1] [--skip 0]
    python -m uqviz.workflows.real_answers pairs --answers FILE.jsonl.gz --out pairs.csv [--per-question 3]

Without --questions, `sample` asks the training questions built from the generator's facts (`training_questions`);
with a CSV (question,answer as the batch reads it) it asks those. The answers file is JSON lines, one question each:
{question, golds, candidates, answers: [{text, finish_reason}]}.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL
from uqviz.workflows import qa_pairs

SAME = "same"
DIFFERENT = "different"
NO_ANSWER = "no_answer"
HAND_LABELS = (SAME, DIFFERENT, NO_ANSWER)
ROUGH_STYLES = ("chatter", "truncated", "side-facts", "repetition", "other-language")  # the hand labels' style tags
HEDGE_WORDS = re.compile(r"\b(not sure|maybe|might|possibly|perhaps|i think|i believe|probably|not certain|don't know|no idea)\b", re.I)
NUMBER_WORDS = {qa_pairs.number_words(number): number for number in range(2, 1000)}  # "one" is more often a pronoun
NUMBER_PATTERN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\b(?:" + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True)) + r")\b", re.I)


@dataclass(frozen=True)
class GoldQuestion:
    """A question, the names of its right answer, and the names of every answer of its kind (right or wrong), each name
    mapped to the one answer it names; `numeric` questions are answered by the first number instead."""

    question: str
    golds: tuple[str, ...]
    names: dict[str, str] = field(default_factory=dict)
    numeric: bool = False

    @property
    def gold(self) -> str:
        """The right answer as `given_answer` names it."""
        return str(_number(self.golds[0])) if self.numeric else self.names[fold(self.golds[0])]


def fold(text: str) -> str:
    """Lower case without accents or a leading "the", for matching names ("Brasília" and "brasilia")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().strip()
    return text.removeprefix("the ").strip()


def _names(groups: Iterable[Sequence[str]]) -> dict[str, str]:
    """Every name of every group mapped to its group's first name (folded)."""
    names: dict[str, str] = {}
    for group in groups:
        for name in group:
            names.setdefault(fold(name), fold(group[0]))
    return names


def _number(text: str) -> int | float | None:
    text = text.lower().replace(",", "")
    if text in NUMBER_WORDS:
        return NUMBER_WORDS[text]
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def given_answer(question: GoldQuestion, answer: str) -> str | None:
    """The answer a text gives: the first name of the question's kind (or the first number) in it that the question
    itself does not mention; None when there is none."""
    asked = fold(question.question)
    if question.numeric:
        asked_numbers = {_number(match) for match in NUMBER_PATTERN.findall(question.question)}
        year = re.fullmatch(r"\d{4}", question.golds[0]) is not None
        for match in NUMBER_PATTERN.finditer(answer):
            value = _number(match.group())
            cut = match.end() == len(answer.rstrip()) and match.start() > 0  # the token limit may have cut it
            if value is None or value in asked_numbers or cut or (year and not re.fullmatch(r"\d{4}", match.group())):
                continue
            return str(value)
        return None
    folded = fold(answer)
    first: tuple[int, str] | None = None
    for name, canonical in question.names.items():
        if re.search(rf"\b{re.escape(name)}\b", asked):
            continue
        found = re.search(rf"\b{re.escape(name)}\b", folded)
        if found and (first is None or found.start() < first[0]):
            first = (found.start(), canonical)
    return first[1] if first else None


def _grouped(table: dict[str, str]) -> list[tuple[str, ...]]:
    """Names of people: the full name and the surname."""
    return [(name, name.split()[-1]) for name in dict.fromkeys(table.values())]


def training_questions(seed: int = 0) -> list[GoldQuestion]:
    """Questions about the generator's facts (qa_pairs.py), each with every right and wrong name of its kind, so that a
    sampled answer can be read for the one it gives. None is asked in the hand-written or held-out evaluation sets."""
    rng = random.Random(seed)
    questions: list[GoldQuestion] = []
    capitals = _names([(capital,) for capital in qa_pairs.CAPITALS.values()] + [(city,) for city in qa_pairs.CAPITAL_CONFUSIONS.values()])
    for index, (country, capital) in enumerate(qa_pairs.CAPITALS.items()):
        template = qa_pairs.CAPITAL_QUESTIONS[index % len(qa_pairs.CAPITAL_QUESTIONS)]
        questions.append(GoldQuestion(template.format(s=country), (capital,), capitals))
    authors = _names(_grouped(qa_pairs.BOOKS))
    for index, (title, author) in enumerate(qa_pairs.BOOKS.items()):
        template = qa_pairs.BOOK_QUESTIONS[index % len(qa_pairs.BOOK_QUESTIONS)]
        questions.append(GoldQuestion(template.format(s=title), (author, author.split()[-1]), authors))
    people = _names([(full, short) for _, full, short in qa_pairs.PEOPLE.values()])
    for work, (verb, full, short) in qa_pairs.PEOPLE.items():
        questions.append(GoldQuestion(f"Who {verb} {work}?", (full, short), people))
    languages = _names({tuple(names) for names in qa_pairs.LANGUAGES.values()})
    for index, (country, names) in enumerate(qa_pairs.LANGUAGES.items()):
        template = qa_pairs.LANGUAGE_QUESTIONS[index % len(qa_pairs.LANGUAGE_QUESTIONS)]
        questions.append(GoldQuestion(template.format(s=country), names, languages))
    for index, (category, (_, answer, wrongs)) in enumerate(qa_pairs.SUPERLATIVES.items()):
        template = qa_pairs.SUPERLATIVE_QUESTIONS[index % len(qa_pairs.SUPERLATIVE_QUESTIONS)]
        questions.append(GoldQuestion(template.format(s=category), (answer,), _names([(answer,), *[(wrong,) for wrong in wrongs]])))
    ingredients = _names(qa_pairs.INGREDIENTS.values())
    for index, (dish, names) in enumerate(qa_pairs.INGREDIENTS.items()):
        template = qa_pairs.INGREDIENT_QUESTIONS[index % len(qa_pairs.INGREDIENT_QUESTIONS)]
        questions.append(GoldQuestion(template.format(s=dish), names, ingredients))
    for question, names in qa_pairs.ALIASES.items():
        questions.append(GoldQuestion(question, names, _names([names])))
    for index, (event, year) in enumerate(qa_pairs.EVENTS.items()):
        template = qa_pairs.EVENT_QUESTIONS[index % len(qa_pairs.EVENT_QUESTIONS)]
        questions.append(GoldQuestion(template.format(s=event), (str(year),), numeric=True))
    for question, (count, _) in qa_pairs.COUNTS.items():
        questions.append(GoldQuestion(question, (str(count),), numeric=True))
    for index in range(40):
        a, b = rng.randint(2, 15), rng.randint(2, 15)
        if index % 2:
            questions.append(GoldQuestion(f"What is {a} times {b}?", (str(a * b),), numeric=True))
        else:
            a, b = rng.randint(10, 99), rng.randint(10, 99)
            questions.append(GoldQuestion(f"What is {a} plus {b}?", (str(a + b),), numeric=True))
    return questions


def csv_questions(path: Path) -> list[GoldQuestion]:
    """Questions of a batch file with gold answers: numeric when the first gold is a number; otherwise an answer is read
    for the gold names only (its wrong names are unknown), which is enough to choose pairs for labelling."""
    from uqviz.workflows.batch import read_questions

    questions = []
    for item in read_questions(path):
        if not item.answers:
            continue
        numeric = _number(item.answers[0]) is not None
        questions.append(GoldQuestion(item.text, item.answers, {} if numeric else _names([item.answers]), numeric))
    return questions


def sample_answers(questions: Sequence[GoldQuestion], out: Path, n: int, max_new_tokens: int, seed: int, model: str = "default",
                   questions_per_call: int = 8) -> None:
    """N answers to every question from the model as the app samples them (chat template, temperature 1, top-p 1, no
    top-k), texts only, several questions per generate call (left-padded), written as they come."""
    import torch

    from uqviz.engine.sampling import eos_token_ids, generation_kwargs, prepare_prompt
    from uqviz.format.run import SamplingSettings
    from uqviz.models.loading import load_language_model

    lm = load_language_model(model)
    settings = SamplingSettings(n=n, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=max_new_tokens, seed=seed)
    eos_ids = eos_token_ids(lm)
    torch.manual_seed(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as file:
        for start in range(0, len(questions), questions_per_call):
            group = questions[start : start + questions_per_call]
            prompts = [prepare_prompt(lm, question.question).token_ids for question in group for _ in range(n)]
            width = max(map(len, prompts))
            pad = lm.tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts])
            attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts])
            with torch.inference_mode():
                generated = lm.model.generate(input_ids=input_ids, attention_mask=attention_mask, **generation_kwargs(lm, settings, eos_ids))
            rows = generated[:, width:].tolist()
            for index, question in enumerate(group):
                answers = []
                for ids in rows[index * n : (index + 1) * n]:
                    stop = next((position for position, token in enumerate(ids) if token in eos_ids), None)
                    text = lm.tokenizer.decode(ids[:stop], skip_special_tokens=True).strip()
                    answers.append({"text": text, "finish_reason": "length" if stop is None else "stop"})
                record = {"question": question.question, "golds": list(question.golds), "names": question.names,
                          "numeric": question.numeric, "answers": answers}
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
            print(f"{start + len(group)}/{len(questions)} questions", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AnsweredQuestion:
    question: GoldQuestion
    answers: tuple[str, ...]


def read_answers(path: Path) -> list[AnsweredQuestion]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        records = [json.loads(line) for line in file if line.strip()]
    return [AnsweredQuestion(GoldQuestion(r["question"], tuple(r["golds"]), r["names"], r["numeric"]),
                             tuple(answer["text"] for answer in r["answers"])) for r in records]


def weak_pairs(answered: Sequence[AnsweredQuestion], per_question: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(question, a, b, NLI label) for pairs of distinct answers that hedge neither: entailment when both give the same
    recognised answer, contradiction when they give different ones, neutral when only one or neither gives a
    recognised answer (an unknown answer or none: on these questions the small model's unrecognised answers are almost
    all nonsense or off topic, so such pairs are not one meaning). Both orders; at most `per_question` unordered pairs
    a question: up to a quarter of each neutral kind, the rest half of each other label where the answers allow."""
    rng = random.Random(seed)
    pairs = []
    for item in answered:
        given = {text: given_answer(item.question, text) for text in dict.fromkeys(item.answers) if text.strip() and not HEDGE_WORDS.search(text)}
        usable = [text for text, answer in given.items() if answer is not None]
        unknown = [text for text, answer in given.items() if answer is None]
        same = [(a, b) for i, a in enumerate(usable) for b in usable[i + 1 :] if given[a] == given[b]]
        different = [(a, b) for i, a in enumerate(usable) for b in usable[i + 1 :] if given[a] != given[b]]
        neutral = [(a, b) for a in usable for b in unknown]
        unanswered = [(a, b) for i, a in enumerate(unknown) for b in unknown[i + 1 :]]
        for group in (same, different, neutral, unanswered):
            rng.shuffle(group)
        neutral = neutral[: per_question // 4] + unanswered[: per_question // 4]
        budget = per_question - len(neutral)
        chosen = [(pair, ENTAILMENT) for pair in same[: max(budget // 2, budget - len(different))]]
        chosen += [(pair, CONTRADICTION) for pair in different[: budget - len(chosen)]]
        chosen += [(pair, NEUTRAL) for pair in neutral]
        for (a, b), label in chosen:
            pairs += [(item.question.question, a, b, label), (item.question.question, b, a, label)]
    return pairs


def swapped_answer(question: GoldQuestion, answer: str, rng: random.Random) -> str | None:
    """The answer with the name (or number) it gives replaced by another of the question's kind, everything around it
    kept: the counterfactual that differs from the answer in what it answers and nothing else; None when the answer
    gives no recognised answer or the name cannot be found in its own spelling."""
    given = given_answer(question, answer)
    if given is None:
        return None
    if question.numeric:
        for match in NUMBER_PATTERN.finditer(answer):
            if str(_number(match.group())) == given:
                other = _number(given) + rng.choice([-1, 1]) * rng.randint(1, 9 if len(given) < 4 else 40)
                return answer[: match.start()] + str(other) + answer[match.end() :]
        return None
    spellings = [name for name, canonical in question.names.items() if canonical == given]
    others = sorted({canonical for canonical in question.names.values() if canonical != given})
    found = [match for name in spellings if (match := re.search(rf"\b{re.escape(name)}\b", answer, re.I))]
    if not found or not others:
        return None
    match = min(found, key=lambda m: m.start())
    other = rng.choice(others)
    return answer[: match.start()] + (other.title() if match.group()[:1].isupper() else other) + answer[match.end() :]


def swapped_pairs(answered: Sequence[AnsweredQuestion], per_question: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(question, answer, the answer with another answer swapped in, contradiction), both orders, for up to
    `per_question` of each question's answers that give a recognised answer (docs/methods.md §0.2)."""
    rng = random.Random(seed)
    pairs = []
    for item in answered:
        texts = [text for text in dict.fromkeys(item.answers) if text.strip() and not HEDGE_WORDS.search(text)]
        rng.shuffle(texts)
        made = 0
        for text in texts:
            if made == per_question:
                break
            if (swapped := swapped_answer(item.question, text, rng)) is not None and swapped != text:
                pairs += [(item.question.question, text, swapped, CONTRADICTION), (item.question.question, swapped, text, CONTRADICTION)]
                made += 1
    return pairs


def labelling_pairs(answered: Sequence[AnsweredQuestion], per_question: int, seed: int) -> list[dict[str, str]]:
    """Pairs of distinct answers to label by hand, per question: one that gives the gold answer with one that gives the
    same where possible, and the rest drawn at random, so that both labels occur."""
    rng = random.Random(seed)
    rows = []
    for item in answered:
        distinct = [text for text in dict.fromkeys(item.answers) if text.strip()]
        if len(distinct) < 2:
            continue
        given = {text: given_answer(item.question, text) for text in distinct}
        right = [text for text in distinct if given[text] == item.question.gold]
        all_pairs = [(a, b) for i, a in enumerate(distinct) for b in distinct[i + 1 :]]
        rng.shuffle(all_pairs)
        chosen = []
        if len(right) >= 2:
            chosen.append(tuple(rng.sample(right, 2)))
        chosen += [pair for pair in all_pairs if pair not in chosen and pair[::-1] not in chosen][: per_question - len(chosen)]
        for a, b in chosen:
            if rng.random() < 0.5:
                a, b = b, a
            rows.append({"question": item.question.question, "gold": "|".join(item.question.golds), "a": a, "b": b})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uqviz.workflows.real_answers", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sampling = commands.add_parser("sample", help="sample answers to questions with known answers")
    sampling.add_argument("--out", required=True, type=Path)
    sampling.add_argument("--questions", type=Path, default=None, help="a question,answer CSV (default: the training questions)")
    sampling.add_argument("--n", type=int, default=10)
    sampling.add_argument("--max-new-tokens", type=int, default=32)
    sampling.add_argument("--seed", type=int, default=0)
    sampling.add_argument("--model", default="default")
    sampling.add_argument("--stride", type=int, default=1, help="ask every STRIDE-th question only (every domain, fewer questions)")
    sampling.add_argument("--skip", type=int, default=0, help="leave out the first SKIP questions")
    labelling = commands.add_parser("pairs", help="draw pairs of sampled answers for labelling by hand")
    labelling.add_argument("--answers", required=True, type=Path)
    labelling.add_argument("--out", required=True, type=Path)
    labelling.add_argument("--per-question", type=int, default=3)
    labelling.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "sample":
        questions = (csv_questions(args.questions) if args.questions else training_questions(args.seed))[args.skip :: args.stride]
        sample_answers(questions, args.out, args.n, args.max_new_tokens, args.seed, args.model)
        return 0
    import csv

    rows = labelling_pairs(read_answers(args.answers), args.per_question, args.seed)
    with args.out.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["question", "gold", "a", "b"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} pairs written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
