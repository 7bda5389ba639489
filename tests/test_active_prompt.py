"""Active-Prompt metrics against the worked example of docs/methods.md §9, the extractors and the ranking."""

import numpy as np
import pytest

from uqviz.workflows.active_prompt import (
    answer_entropy,
    answer_variance,
    disagreement,
    extract_number,
    normalise_answer,
    question_uncertainty,
    rank_questions,
)

TEXTS = ["The answer is 12.", "12", "I think it is 15", "12 apples", "13"]


def test_worked_example():
    result = question_uncertainty("q", TEXTS, extract_number)
    assert result.answers == [12, 12, 15, 12, 13]
    assert result.disagreement == pytest.approx(0.6, abs=1e-6)
    assert result.entropy == pytest.approx(0.950271, abs=1e-6)
    assert result.variance == pytest.approx(1.36, abs=1e-6)


def test_unextractable_answer_counts_for_disagreement_and_entropy_but_not_variance():
    result = question_uncertainty("q", [*TEXTS[:4], "I do not know"], extract_number)
    assert result.answers == [12, 12, 15, 12, None]
    # Still three distinct answers with counts 3, 1, 1.
    assert result.disagreement == pytest.approx(0.6, abs=1e-6)
    assert result.entropy == pytest.approx(0.950271, abs=1e-6)
    # Variance of 12, 12, 15, 12: mean 12.75, (3 * 0.5625 + 5.0625) / 4 = 1.6875, not the sentinel's 16 317 561.6.
    assert result.variance == pytest.approx(1.6875, abs=1e-9)
    assert np.var([12, 12, 15, 12, -10086]) == pytest.approx(16317561.6)


def test_all_unextractable():
    result = question_uncertainty("q", ["no", "none"], extract_number)
    assert result.disagreement == 0.5 and result.entropy == 0.0 and result.variance is None


def test_metrics_on_plain_lists():
    assert disagreement(["a", "a", "a"]) == pytest.approx(1 / 3)
    assert answer_entropy(["a", "b"]) == pytest.approx(np.log(2))
    assert answer_variance(["x", 2.0, 4.0, None]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text, number",
    [("It costs 1,234.5 dollars", 1234.5), ("from -3 to 7", 7.0), ("-3", -3.0), ("no digits", None), ("", None)],
)
def test_extract_number(text, number):
    assert extract_number(text) == number


def test_normalise_answer():
    assert normalise_answer("The Eiffel Tower!\nIt is in Paris.") == "eiffel tower"
    assert normalise_answer("  Paris. ") == normalise_answer("paris") == "paris"
    assert normalise_answer("") is None and normalise_answer("The.") is None


def test_ranking_top_n_and_missing_variance():
    pool = [
        question_uncertainty("agree", ["1", "1", "1"], extract_number),
        question_uncertainty("split", ["1", "2", "3"], extract_number),
        question_uncertainty("words", ["yes", "no", "maybe"], extract_number),
        question_uncertainty("half", ["1", "1", "5"], extract_number),
    ]
    # "words" has no number at all: three unextractable answers are one answer value, like "agree".
    assert [item.question for item in rank_questions(pool, "disagreement")] == ["split", "half", "agree", "words"]
    assert [item.question for item in rank_questions(pool, "variance", top=2)] == ["half", "split"]
    # No numeric answer means no variance: ranked last.
    assert rank_questions(pool, "variance")[-1].question == "words"
    with pytest.raises(ValueError, match="metric"):
        rank_questions(pool, "confidence")
