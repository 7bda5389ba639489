"""P(True) and verbalized confidence: parsing, the measures' arithmetic, and the real model's passes (docs/methods.md §12.6, §12.7)."""

import math

import pytest

from uqviz.format.run import SamplingSettings
from uqviz.measures.registry import REGISTRY
from uqviz.measures.self_report import p_true, parse_confidence, verbalized_confidence
from uqviz.statistics.base import RunStatistics, ScoreConfig
from uqviz.statistics.probing import P_TRUE, PTrueProbe, VerbalizedReplies


@pytest.mark.parametrize(
    "reply, confidence",
    [
        ("Probability: 0.85", 0.85),
        ("Guess: 1889\nProbability: 0.7", 0.7),
        ("I am 90% sure", 0.9),
        ("confidence = .25", 0.25),
        ("Probability: 75", 0.75),
        ("It is 1", 1.0),
    ],
)
def test_parse_confidence_reads_the_stated_number(reply, confidence):
    assert parse_confidence(reply).confidence == pytest.approx(confidence)


@pytest.mark.parametrize("reply, reason", [("no idea", "no number"), ("Probability: 250", "not a probability")])
def test_parse_confidence_names_why_it_cannot(reply, reason):
    stated = parse_confidence(reply)
    assert stated.confidence is None and reason in stated.reason


def test_p_true_is_minus_the_log_probability_of_true():
    result = p_true(PTrueProbe(["p1", "p2"], " True", [-0.5, -2.0]))
    assert result.per_sample == [0.5, 2.0]
    assert result.value == pytest.approx(1.25)
    assert result.detail.probabilities == pytest.approx([math.exp(-0.5), math.exp(-2.0)])


def test_verbalized_averages_what_can_be_read_and_names_the_rest():
    result = verbalized_confidence(VerbalizedReplies(["q"] * 3, ["Probability: 0.8", "blah", "Probability: 0.4"]))
    assert result.value == pytest.approx(1 - 0.6)
    assert result.per_sample[0] == pytest.approx(0.2) and math.isnan(result.per_sample[1])
    nothing = verbalized_confidence(VerbalizedReplies(["q"], ["I cannot say"]))
    assert nothing.value is None and "no number" in nothing.reason


def test_p_true_on_the_real_model_is_the_next_token_probability_of_true(language_model):
    import torch

    from uqviz.engine.sampling import sample

    run = sample(language_model, "What is 2 + 2?", SamplingSettings(n=2, max_new_tokens=6, seed=1))
    stats = RunStatistics(run, language_model=language_model)
    probe = P_TRUE(stats, ScoreConfig().p_true_prompt)
    assert probe.token == "True" and len(probe.logprobs) == 2  # a chat run: "True" opens the assistant's turn
    assert "Possible answer: " + run.samples[1].text in probe.prompts[1]
    messages = [{"role": "user", "content": probe.prompts[1]}]
    text = language_model.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = language_model.tokenizer(text, add_special_tokens=False)["input_ids"]
    true_id = language_model.tokenizer("True", add_special_tokens=False)["input_ids"][0]
    with torch.inference_mode():
        logits = language_model.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    assert probe.logprobs[1] == pytest.approx(torch.log_softmax(logits, -1)[true_id].item(), abs=1e-3)
    other = P_TRUE(stats, "Is {answer} right for {question}? Answer:")
    assert other.prompts[0].startswith("Is ") and other.logprobs != probe.logprobs
    assert REGISTRY["p_true"].compute(stats).value == pytest.approx(-sum(probe.logprobs) / 2)


def test_verbalized_two_stage_asks_once_per_answer_and_keeps_the_replies(language_model):
    from uqviz.engine.sampling import sample

    run = sample(language_model, "What is the capital of Italy?", SamplingSettings(n=2, max_new_tokens=6, seed=2))
    stats = RunStatistics(run, ScoreConfig(verbalized_max_new_tokens=8), language_model=language_model)
    calls = language_model.calls
    result = REGISTRY["verbalized_two_stage"].compute(stats)
    assert language_model.calls - calls == 2
    assert len(result.detail.stated) == 2 and all(item.reply for item in result.detail.stated)
    assert (result.value is None) == (result.reason is not None)
