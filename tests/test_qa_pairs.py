"""The factual question-answer NLI pairs: determinism, label balance, and the facts and values in the answers."""

import re

import pytest

from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL
from uqviz.workflows.qa_pairs import (
    BOOKS,
    CAPITAL_CONFUSIONS,
    CAPITALS,
    ELEMENTS,
    EVENTS,
    generate_pairs,
)

KNOWN_KINDS = {"short-vs-sentence", "paraphrase", "slot-swap", "hedge", "unknown"}
PAIRS = generate_pairs(3000, seed=7)
NAMES = set(CAPITALS.values()) | set(CAPITAL_CONFUSIONS.values()) | set(BOOKS.values())
NUMBER = re.compile(r"\d+")
PRODUCT = re.compile(r"(\d+) (?:×|times|multiplied by) (\d+)\?|product of (\d+) and (\d+)\?")
SUM = re.compile(r"(\d+) (?:\+|plus) (\d+)\?|(?:sum of|add) (\d+) and (\d+)\?")


def whole(word: str, text: str, flags: int = 0) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags) is not None


def named(answer: str) -> set[str]:
    """The names (any case), element symbols (exact case) and numbers an answer mentions."""
    names = {name for name in NAMES if whole(name, answer, re.IGNORECASE)}
    symbols = {symbol for symbol in ELEMENTS.values() if whole(symbol, answer)}
    return names | symbols | set(NUMBER.findall(answer))


def operands(question: str, pattern: re.Pattern) -> tuple[int, int] | None:
    match = pattern.search(question)
    if match is None:
        return None
    a, b = (int(group) for group in match.groups() if group is not None)
    return a, b


def test_same_seed_same_pairs_and_other_seed_other_pairs():
    assert generate_pairs(500, seed=3) == generate_pairs(500, seed=3)
    assert generate_pairs(500, seed=3) != generate_pairs(500, seed=4)
    assert generate_pairs(0) == []
    with pytest.raises(ValueError):
        generate_pairs(-1)


def test_labels_are_balanced():
    for label in (ENTAILMENT, NEUTRAL, CONTRADICTION):
        share = sum(pair.label == label for pair in PAIRS) / len(PAIRS)
        assert abs(share - 1 / 3) <= 0.1 / 3, (label, share)


def test_labels_kinds_and_lengths_are_valid():
    assert {pair.label for pair in PAIRS} == {ENTAILMENT, NEUTRAL, CONTRADICTION}
    assert {pair.kind for pair in PAIRS} == KNOWN_KINDS
    for pair in PAIRS:
        assert pair.premise != pair.hypothesis, pair
        assert pair.question.endswith(("?", "."))
        for answer in (pair.premise, pair.hypothesis):
            assert answer.strip() and len(answer.split()) <= 20, pair


def test_kinds_carry_their_labels():
    expected = {"short-vs-sentence": ENTAILMENT, "paraphrase": ENTAILMENT, "slot-swap": CONTRADICTION}
    expected |= {"hedge": NEUTRAL, "unknown": NEUTRAL}
    assert all(pair.label == expected[pair.kind] for pair in PAIRS)


def test_slot_swaps_name_different_values():
    swaps = [pair for pair in PAIRS if pair.kind == "slot-swap"]
    assert len(swaps) > 500
    for pair in swaps:
        premise, hypothesis = named(pair.premise), named(pair.hypothesis)
        assert premise and hypothesis and premise != hypothesis, pair


def test_short_answer_occurs_in_its_sentence():
    pairs = [pair for pair in PAIRS if pair.kind == "short-vs-sentence"]
    assert len(pairs) > 300
    for pair in pairs:
        short, sentence = sorted((pair.premise, pair.hypothesis), key=len)
        assert short.removesuffix(".").lower() in sentence.lower(), pair


def test_entailment_pairs_name_the_true_capital():
    checked = 0
    for pair in PAIRS:
        countries = [country for country in CAPITALS if whole(country, pair.question)]
        if pair.label != ENTAILMENT or "capital" not in pair.question or not countries:
            continue
        capital = CAPITALS[max(countries, key=len)]
        assert whole(capital, pair.premise, re.IGNORECASE) and whole(capital, pair.hypothesis, re.IGNORECASE), pair
        checked += 1
    assert checked > 50


@pytest.mark.parametrize(("pattern", "compute"), [(PRODUCT, lambda a, b: a * b), (SUM, lambda a, b: a + b)])
def test_arithmetic_is_computed_correctly(pattern, compute):
    checked = 0
    for pair in PAIRS:
        numbers = operands(pair.question, pattern)
        if numbers is None:
            continue
        a, b = numbers
        assert 10 <= a <= 999 and 10 <= b <= 999
        value = str(compute(a, b))
        mentioned = [set(NUMBER.findall(answer)) for answer in (pair.premise, pair.hypothesis)]
        if pair.label == ENTAILMENT:
            assert all(value in found and found <= {str(a), str(b), value} for found in mentioned), pair
            checked += 1
        elif pair.kind == "slot-swap":
            assert sum(value in found for found in mentioned) == 1, pair
    assert checked > 20


def test_spot_checked_facts():
    assert len(CAPITALS) >= 55 and len(BOOKS) >= 45 and len(EVENTS) >= 40 and len(ELEMENTS) >= 40
    assert CAPITALS["Australia"] == "Canberra" and CAPITALS["Canada"] == "Ottawa" and CAPITALS["Turkey"] == "Ankara"
    assert BOOKS["1984"] == "George Orwell" and BOOKS["Middlemarch"] == "George Eliot"
    assert EVENTS["the first crewed Moon landing"] == 1969 and EVENTS["the Battle of Hastings"] == 1066
    assert ELEMENTS["gold"] == "Au" and ELEMENTS["tungsten"] == "W" and ELEMENTS["potassium"] == "K"
    assert all(CAPITALS[country] != city for country, city in CAPITAL_CONFUSIONS.items())
    assert len(set(ELEMENTS.values())) == len(ELEMENTS)
