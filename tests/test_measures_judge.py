"""UQLM's LLM-as-a-judge scorers: the replies read as UQLM 0.6.7 reads them, the arithmetic, and the run's real model
asked once per distinct answer (docs/methods.md §12.15)."""

import math
from dataclasses import replace

import pytest

from uqviz.format.run import SamplingSettings
from uqviz.measures.judge import CATEGORICAL, CONTINUOUS, judge_uncertainty, read_categorical, read_continuous
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import MissingModelError, RunStatistics, ScoreConfig
from uqviz.statistics.probing import JUDGE_REPLIES, JudgeReplies


@pytest.mark.parametrize(
    "reply, score, keyword",
    [
        ("Correct", 1.0, "correct"),
        ("Incorrect.", 0.0, "incorrect"),  # "correct" is inside it, but the 0-group is searched first
        ("I am not sure", 0.5, "not sure"),
        ("That is right!", 1.0, "right"),
        ("I am not sure whether it is wrong", 0.0, "wrong"),  # group order, not position in the reply
        ("The answer is \"Incorrect\"", 0.0, "incorrect"),
        ("Uncertain", 0.5, "uncertain"),
    ],
)
def test_categorical_reply_reads_the_first_keyword_group_found(reply, score, keyword):
    judged = read_categorical(reply)
    assert (judged.score, judged.read) == (score, keyword)


@pytest.mark.parametrize(
    "reply, score, digits",
    [
        ("85", 0.85, "85"),
        ("Score: 99 (highly certain the proposed answer is correct)", 0.99, "99"),
        ("0.85", 0.85, "085"),  # every digit joined: the decimal point is dropped, as UQLM does
        ("100", 1.0, "100"),
        ("0", 0.0, "0"),
    ],
)
def test_continuous_reply_joins_every_digit_and_divides_by_100(reply, score, digits):
    judged = read_continuous(reply)
    assert judged.score == pytest.approx(score) and judged.read == digits


@pytest.mark.parametrize(
    "reply, reason",
    [("no idea", "no digits"), ("85 out of 100", "85100, outside 0–100"), ("x²", "not a decimal number")],
)
def test_continuous_reply_that_cannot_be_read_says_why(reply, reason):
    judged = read_continuous(reply)
    assert judged.score is None and reason in judged.reason


def test_judge_uncertainty_is_one_minus_the_mean_readable_score():
    replies = JudgeReplies(["p1", "p2", "p3"], ["Correct", "blah", "I am not sure"], "tiny")
    result = judge_uncertainty(replies, CATEGORICAL)
    assert result.value == pytest.approx(1 - (1.0 + 0.5) / 2)
    assert result.per_sample[0] == 0.0 and math.isnan(result.per_sample[1]) and result.per_sample[2] == 0.5
    assert [item.read for item in result.detail.judged] == ["correct", None, "not sure"]
    assert result.detail.judge == "tiny"
    nothing = judge_uncertainty(JudgeReplies(["p"], ["no idea"], "tiny"), CONTINUOUS)
    assert nothing.value is None and "no digits" in nothing.reason


def test_judging_needs_a_language_model(france_run):
    with pytest.raises(MissingModelError):
        JUDGE_REPLIES(RunStatistics(france_run), ScoreConfig().judge_categorical_prompt, 4)
    result = REGISTRY["judge_continuous"]
    assert result.on_demand and "language model" in result.needs


def test_the_real_model_judges_each_distinct_answer_once_with_its_chat_template(language_model):
    import torch
    from transformers import GenerationConfig

    from uqviz.engine.sampling import eos_token_ids, sample

    run = sample(language_model, "What is the capital of Italy?", SamplingSettings(n=2, max_new_tokens=6, seed=2))
    run = replace(run, samples=[run.samples[0], run.samples[1], run.samples[0]])  # one answer given twice
    stats = RunStatistics(run, ScoreConfig(judge_max_new_tokens=6), language_model=language_model)
    calls = language_model.calls
    result = REGISTRY["judge_categorical"].compute(stats)
    distinct = len({sample.text for sample in run.samples})
    assert language_model.calls - calls == distinct
    detail = result.detail
    assert detail.prompts[0].startswith("Question: What is the capital of Italy?, Proposed Answer: " + run.samples[0].text + ". ")
    assert detail.judged[2].reply == detail.judged[0].reply
    tokenizer = language_model.tokenizer
    text = tokenizer.apply_chat_template([{"role": "user", "content": detail.prompts[1]}], add_generation_prompt=True, tokenize=False)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    config = GenerationConfig(do_sample=False, max_new_tokens=6, eos_token_id=eos_token_ids(language_model),
                              pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        greedy = language_model.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
    assert detail.judged[1].reply == tokenizer.decode(greedy[0, ids.shape[1]:], skip_special_tokens=True)
    assert (result.value is None) == (result.reason is not None)


def test_placeholders_are_filled_once_so_an_answer_or_question_holding_one_stays_text():
    from uqviz.statistics.probing import filled

    assert filled("Question: {question}, Proposed Answer: {answer}.", question="Is {answer} a word?", answer="x {question}") == (
        "Question: Is {answer} a word?, Proposed Answer: x {question}.")
