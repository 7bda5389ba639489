"""Perturbations of the question: the documented prompt, cleaning, pasted lists, and a real generation."""

import pytest

from uqviz.engine.perturbation import (
    MAX_PERTURBATIONS,
    PerturbationError,
    clean_perturbation,
    generate_perturbations,
    parse_perturbations,
    perturbation_prompt,
)


def test_prompt_is_the_documented_wording():
    assert perturbation_prompt("  Who won the game?\n") == "Rewrite or clarify this question in a different way: Who won the game?"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("What's the capital of France?", "What's the capital of France?"),
        ('Here\'s a possible re-write of the question: "What\'s the capital of France?"', "What's the capital of France?"),
        ("Sure! Here is a clearer version:\n\n**Which city is the capital of France?**", "Which city is the capital of France?"),
        ("1. Which team won the final?\n2. Who took the title?", "Which team won the final?"),
        ("  - “Who won   the match?”  ", "Who won the match?"),
        ("Who\x00 won\x1b?", "Who won?"),
        ("Rewritten:", ""),
        ("   \n \n", ""),
    ],
)
def test_clean_perturbation(raw, expected):
    assert clean_perturbation(raw) == expected


def test_parse_pasted_perturbations_one_per_line():
    text = "1. Who won the match?\n\n- Which team won the game?\r\n   Who won the election?   \n"
    assert parse_perturbations(text) == ["Who won the match?", "Which team won the game?", "Who won the election?"]


@pytest.mark.parametrize(
    "text, fragment",
    [("", "No perturbations"), ("\n  \n- \n", "No perturbations"), ("\n".join(["q?"] * (MAX_PERTURBATIONS + 1)), "at most")],
)
def test_parse_refuses_empty_or_too_many(text, fragment):
    with pytest.raises(PerturbationError, match=fragment):
        parse_perturbations(text)


@pytest.mark.slow
def test_real_model_generates_cleaned_perturbations(language_model):
    question = "What is the capital of France?"
    first = generate_perturbations(language_model, question, 3, max_new_tokens=16, seed=3)
    second = generate_perturbations(language_model, question, 3, max_new_tokens=16, seed=3)
    assert first == second
    assert 1 <= len(first) <= 3
    for text in first:
        assert text and text == text.strip() and "\n" not in text
        assert clean_perturbation(text) == text
