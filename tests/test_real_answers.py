"""Real answers for the meaning judge: which answer a sampled text gives, the weak labels drawn from that, the pairs
drawn for labelling by hand, and the roughened generated pairs (docs/methods.md §0.2)."""

import csv
import gzip
import json
import random
import re

import pytest

from uqviz.workflows import qa_pairs
from uqviz.workflows.nli_training import REAL_ANSWERS, REAL_PAIRS, read_real_pairs
from uqviz.workflows.real_answers import (
    HAND_LABELS,
    AnsweredQuestion,
    fold,
    GoldQuestion,
    given_answer,
    labelling_pairs,
    read_answers,
    swapped_answer,
    swapped_pairs,
    training_questions,
    weak_pairs,
)

QUESTIONS = {question.question: question for question in training_questions()}
FRANCE = QUESTIONS["What is the capital of France?"]


def test_the_answer_a_text_gives_is_the_first_name_of_its_kind_not_named_in_the_question():
    germany = QUESTIONS["Which city is the capital of Germany?"]
    assert given_answer(germany, "Globally, the capital of Germany is Berlin. In English, the capital of Germany is Berlin.") == "berlin"
    assert given_answer(germany, "Sydney, not Berlin.") == "sydney"
    assert given_answer(germany, "The capital of Germany is a beautiful city.") is None
    brazil = next(q for q in QUESTIONS.values() if "Brazil" in q.question)
    assert given_answer(brazil, "It is Brasilia.") == given_answer(brazil, "It is Brasília.") == "brasilia"
    pride = QUESTIONS["Who wrote Pride and Prejudice?"]
    assert given_answer(pride, "It was written by Austen.") == given_answer(pride, "Jane Austen wrote it.") == "jane austen"
    assert given_answer(pride, "Charlotte Brontë, I think.") == "charlotte bronte"


def test_a_number_answer_skips_the_questions_numbers_a_cut_last_number_and_for_a_year_anything_but_four_digits():
    product = GoldQuestion("What is 6 times 10?", ("60",), numeric=True)
    assert given_answer(product, "6 times 10 is 60.") == "60"
    assert given_answer(product, "6 times 10 is sixty.") == "60"
    assert given_answer(product, "To get it, compute 6 × 1") is None  # the last number may be cut by the token limit
    assert given_answer(product, "It is one of my favourite sums.") is None  # "one" is mostly a pronoun
    year = GoldQuestion("In what year did the signing of the Treaty of Versailles take place?", ("1919",), numeric=True)
    assert given_answer(year, "It took place on June 28th, 1919, in France.") == "1919"
    assert given_answer(year, "It took place in 1918.") == "1918"


def test_weak_pairs_label_the_same_recognised_answer_entailment_different_ones_contradiction_and_none_neutral():
    answers = ("Paris.", "The capital of France is Paris.", "Lyon is the capital.", "Maybe Paris.", "Sydney.", "Paris.", "")
    pairs = weak_pairs([AnsweredQuestion(FRANCE, answers)], per_question=8, seed=0)
    # recognised: "Paris.", "The capital of France is Paris.", "Sydney." (duplicates once); Lyon is no known capital,
    # "Maybe" hedges and is left out, "" is no answer: 1 same pair, 2 different, 3 answered-vs-Lyon, of which 8 // 4 = 2
    labels = {(a, b): label for _, a, b, label in pairs}
    assert len(pairs) == 2 * 5 and all(question == FRANCE.question for question, *_ in pairs)
    assert labels[("Paris.", "The capital of France is Paris.")] == labels[("The capital of France is Paris.", "Paris.")] == "entailment"
    assert labels[("Paris.", "Sydney.")] == labels[("Sydney.", "The capital of France is Paris.")] == "contradiction"
    assert [label for (a, b), label in labels.items() if "Lyon is the capital." in (a, b)] == ["neutral"] * 4
    assert not [pair for pair in labels if "Maybe Paris." in pair]
    two_unknown = weak_pairs([AnsweredQuestion(FRANCE, ("Lyon.", "France has many cities."))], per_question=8, seed=0)
    assert [label for *_, label in two_unknown] == ["neutral", "neutral"]
    # 4 // 4 = 1 neutral pair; of the other 3, half (1) the same answer and the rest different ones
    assert sorted(label for *_, label in weak_pairs([AnsweredQuestion(FRANCE, answers)], per_question=4, seed=0)) == (
        ["contradiction"] * 4 + ["entailment"] * 2 + ["neutral"] * 2)


def test_a_swapped_answer_changes_only_the_answer_it_gives_and_pairs_as_a_contradiction_both_ways():
    rng = random.Random(0)
    swapped = swapped_answer(FRANCE, "Globally, the capital of France is Paris, a city of light.", rng)
    swapped_in = swapped.split("is ", 1)[1].split(",", 1)[0]
    assert swapped.startswith("Globally, the capital of France is ") and swapped.endswith(", a city of light.")
    assert given_answer(FRANCE, swapped) == fold(swapped_in) != "paris"
    assert swapped_answer(FRANCE, "France has many cities.", rng) is None
    product = GoldQuestion("What is 6 times 10?", ("60",), numeric=True)
    number = swapped_answer(product, "6 times 10 is 60, of course.", rng)
    assert number.startswith("6 times 10 is ") and number.endswith(", of course.") and given_answer(product, number) not in (None, "60")
    pairs = swapped_pairs([AnsweredQuestion(FRANCE, ("Paris.", "Paris.", "Maybe Paris.", "Lyon is it.", "It is Sydney."))], 5, 0)
    # "Paris." once (duplicates drop), the hedge and the unknown Lyon left out: two answers, both orders
    assert len(pairs) == 4 and {label for *_, label in pairs} == {"contradiction"}
    assert {(a, b) for _, a, b, _ in pairs} == {(b, a) for _, a, b, _ in pairs}
    assert len(swapped_pairs([AnsweredQuestion(FRANCE, ("Paris.", "It is Sydney."))], 1, 0)) == 2


def test_labelling_pairs_put_two_right_answers_together_first_and_never_pair_an_answer_with_itself():
    answers = ("Paris.", "It is Paris.", "Sydney.", "Sydney.", "Bananas are yellow.")
    rows = labelling_pairs([AnsweredQuestion(FRANCE, answers)], per_question=3, seed=0)
    assert len(rows) == 3 and {rows[0]["a"], rows[0]["b"]} == {"Paris.", "It is Paris."}
    assert all(row["a"] != row["b"] and row["gold"] == "Paris" for row in rows)
    assert len({frozenset((row["a"], row["b"])) for row in rows}) == 3


def test_rough_pairs_keep_the_labels_and_the_answers_and_add_every_kind_of_noise():
    clean, rough = qa_pairs.generate_pairs(600, seed=3), qa_pairs.rough_pairs(600, seed=3)
    assert rough == qa_pairs.rough_pairs(600, seed=3)
    assert [pair.label for pair in rough] == [pair.label for pair in clean]
    assert [pair.kind.split("+")[0] for pair in rough] == [pair.kind for pair in clean]
    for before, after in zip(clean, rough):
        for original, changed in ((before.premise, after.premise), (before.hypothesis, after.hypothesis)):
            assert original.removesuffix(".") in changed
    added = {kind for pair in rough if "+" in pair.kind for kind in pair.kind.split("+")[1].split(",")}
    assert added == set(qa_pairs.ROUGH_KINDS)
    assert 0.6 < sum("+" in pair.kind for pair in rough) / len(rough) < 1.0


def test_a_side_fact_names_its_own_subject_so_it_cannot_be_read_as_the_answer():
    rng = random.Random(0)
    facts = [qa_pairs._side_fact(rng) for _ in range(300)]
    assert not [fact for fact in facts if qa_pairs.ANSWER_ALONE.search(fact)]
    assert not [fact for fact in facts if re.match(r"(it|it's|that|in \d)\b", fact.lower()) or fact.endswith((" it", " it."))]


def test_the_committed_real_answers_and_hand_labelled_pairs_are_complete_and_kept_apart():
    answered = read_answers(REAL_ANSWERS)
    # `make real-answers`: every other training question (--stride 2), 6 answers each
    assert [item.question.question for item in answered] == [question.question for question in training_questions()[::2]]
    assert all(len(item.answers) == 6 for item in answered)
    with gzip.open(REAL_ANSWERS, "rt", encoding="utf-8") as file:
        assert all(json.loads(line)["question"] in QUESTIONS for line in file)
    with REAL_PAIRS.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) >= 300 and {row["label"] for row in rows} == set(HAND_LABELS)
    assert all(row["reason"].strip() and row["a"] != row["b"] for row in rows)
    assert sum(row["style"] != "clean" for row in rows) >= len(rows) / 2
    test = read_real_pairs()
    assert test and {row["split"] for row in rows} == {"dev", "test"}
    # a question is in one split only, and none is asked in the training answers
    splits: dict[str, set[str]] = {}
    for row in rows:
        splits.setdefault(row["question"], set()).add(row["split"])
    assert all(len(kinds) == 1 for kinds in splits.values())
    assert not set(splits) & set(QUESTIONS)


@pytest.mark.parametrize("label", HAND_LABELS)
def test_every_hand_label_occurs_in_the_test_split(label):
    assert any(row["label"] == label for row in read_real_pairs())
