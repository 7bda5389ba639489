"""PMI and conditional PMI against worked examples on hand-made log-probs, their properties, the unconditional pass on the
real packaged model, and the reasons a run without token ids or without a model gets (docs/methods.md §12.11)."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.engine import probing
from uqviz.measures.pmi import CPMI_LAMBDA, CPMI_TAU, conditional_pmi, pmi
from uqviz.measures.registry import ON_DEMAND, REGISTRY
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.probing import UNCONDITIONAL_LOGPROBS, answer_prefix
from uqviz.workflows.importing import PastedSample, run_from_samples, score_available

NAN = math.nan
# Answer A: three tokens; B: one token (no unconditional term); C: empty.
CONDITIONAL = [[-0.5, -1.0, -2.0], [-0.2], []]
UNCONDITIONAL = [[NAN, -3.0, -1.5], [NAN], []]
ENTROPIES = [[2.0, 0.05, 0.5], [1.0], []]


def test_pmi_worked_example():
    # A: s = [-0.5, -1.0 - (-3.0), -2.0 - (-1.5)] = [-0.5, 2.0, -0.5], U_A = -(1.0 / 3) = -0.333333
    # B: s = [-0.2], U_B = 0.2;  C: U_C = 0;  U = (-0.333333 + 0.2 + 0) / 3 = -0.044444
    result = pmi(CONDITIONAL, UNCONDITIONAL)
    assert result.detail.scores[0] == pytest.approx([-0.5, 2.0, -0.5])
    assert result.detail.weights[0] == pytest.approx([0.0, 1.0, 1.0])
    assert result.per_sample == pytest.approx([-1 / 3, 0.2, 0.0])
    assert result.value == pytest.approx(-0.044444, abs=1e-6)


def test_conditional_pmi_worked_example():
    # A: H = [2.0, 0.05, 0.5] against τ = 0.0656: the first token never gets the term, the second is below τ, so
    # w = [0, 0, λ]; s = [-0.5, -1.0, -2.0 - 3.599 · (-1.5)] = [-0.5, -1.0, 3.3985], U_A = -(1.8985 / 3) = -0.632833
    # B: s = [-0.2], U_B = 0.2;  C: 0;  U = (-0.632833 + 0.2 + 0) / 3 = -0.144278
    result = conditional_pmi(CONDITIONAL, UNCONDITIONAL, ENTROPIES)
    assert (result.detail.tau, result.detail.lam) == (CPMI_TAU, CPMI_LAMBDA) == (0.0656, 3.599)
    assert result.detail.weights[0] == pytest.approx([0.0, 0.0, 3.599])
    assert result.detail.scores[0] == pytest.approx([-0.5, -1.0, 3.3985])
    assert result.per_sample == pytest.approx([-0.632833, 0.2, 0.0], abs=1e-6)
    assert result.value == pytest.approx(-0.144278, abs=1e-6)


def test_an_entropy_equal_to_tau_gets_the_unconditional_term():
    # LM-Polygraph's rule is H_t ≥ τ: s = [-1.0, -1.0 - 2 · (-2.0)] = [-1.0, 3.0], U = -1.0
    result = conditional_pmi([[-1.0, -1.0]], [[NAN, -2.0]], [[0.0, 0.5]], tau=0.5, lam=2.0)
    assert result.detail.scores[0] == pytest.approx([-1.0, 3.0])
    assert result.value == pytest.approx(-1.0)


def test_identical_conditional_and_unconditional_leave_only_the_first_token():
    rng = np.random.default_rng(0)
    conditional = [list(-rng.exponential(size=n)) for n in (1, 4, 9)]
    result = pmi(conditional, [[NAN] + row[1:] for row in conditional])
    for row, scores in zip(conditional, result.detail.scores):
        assert scores[1:] == pytest.approx(np.zeros(len(row) - 1))
    assert result.per_sample == pytest.approx([-row[0] / len(row) for row in conditional])


def test_cpmi_reduces_to_its_two_rules_when_every_entropy_is_on_one_side_of_tau():
    rng = np.random.default_rng(1)
    conditional = [list(-rng.exponential(size=n)) for n in (2, 5, 7)]
    unconditional = [[NAN] + list(-rng.exponential(size=n - 1)) for n in (2, 5, 7)]
    low = [[CPMI_TAU / 2] * len(row) for row in conditional]
    high = [[CPMI_TAU] * len(row) for row in conditional]
    # every H_t < τ: no unconditional term, U_k = -mean_t log p(y_t | y_<t, x)
    assert conditional_pmi(conditional, unconditional, low).per_sample == pytest.approx([-np.mean(row) for row in conditional])
    # every H_t ≥ τ and λ = 1: PMI itself
    assert conditional_pmi(conditional, unconditional, high, lam=1.0).per_sample == pytest.approx(pmi(conditional, unconditional).per_sample)
    # every H_t ≥ τ: PMI with the unconditional log-probs scaled by λ
    scaled = [[value * CPMI_LAMBDA for value in row] for row in unconditional]
    assert conditional_pmi(conditional, unconditional, high).per_sample == pytest.approx(pmi(conditional, scaled).per_sample)


def test_logit_batches_respect_the_batch_size_and_the_logit_budget(monkeypatch):
    monkeypatch.setattr(probing, "LOGIT_BUDGET", 128)
    # 2 × 60 positions fit 128, a third does not; 200 positions are more than the budget but still get a batch alone
    assert probing.logit_batches([60, 60, 10, 200, 5], 1) == [range(0, 2), range(2, 3), range(3, 4), range(4, 5)]
    assert probing.logit_batches([1] * 20, 1) == [range(0, probing.PROBE_BATCH), range(probing.PROBE_BATCH, 20)]


def real_run(language_model):
    """A run with the packaged model's own token ids: two answers of different lengths, a repeat, one token, an empty one."""
    tokenizer = language_model.tokenizer
    texts = ["Paris is the capital of France.", "It is Paris.", "Paris is the capital of France.", "Paris", ""]
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    assert len(ids[3]) == 1 and len(ids[0]) > len(ids[1]) >= 2
    run = make_run(texts, [[-0.5] * len(row) for row in ids], prompt="What is the capital of France?")
    samples = [dataclasses.replace(sample, token_ids=row) for sample, row in zip(run.samples, ids)]
    return dataclasses.replace(run, samples=samples, prompt_token_ids=tokenizer(run.prompt)["input_ids"])


def reference_logprobs(language_model, sequence: list[int]) -> np.ndarray:
    """log p(s_t | s_<t) for t ≥ 1 from one unpadded full pass, log_softmax over the vocabulary."""
    import torch

    with torch.inference_mode():
        logits = language_model.model(input_ids=torch.tensor([sequence])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return np.array([logprobs[t - 1, sequence[t]].item() for t in range(1, len(sequence))])


def test_unconditional_pass_on_the_real_model_matches_an_unpadded_recomputation(language_model):
    run = real_run(language_model)
    stats = RunStatistics(run, language_model=language_model)
    unconditional = UNCONDITIONAL_LOGPROBS(stats)
    # SmolLM2's tokenizer adds no BOS, so the answer is read alone; two distinct answers of ≥ 2 tokens, one batch
    assert unconditional.prefix == [] == language_model.tokenizer("Paris")["input_ids"][:-1]
    assert unconditional.passes == 2
    assert stats.costs["unconditional_logprobs"].model_calls == 1
    assert [len(row) for row in unconditional.logprobs] == [len(sample.token_ids) for sample in run.samples]
    for index in (0, 1):
        row = unconditional.logprobs[index]
        assert math.isnan(row[0]) and np.isfinite(row[1:]).all()
        assert row[1:] == pytest.approx(reference_logprobs(language_model, run.samples[index].token_ids), abs=1e-4)
    assert np.array_equal(unconditional.logprobs[2], unconditional.logprobs[0], equal_nan=True)
    assert math.isnan(unconditional.logprobs[3][0]) and len(unconditional.logprobs[4]) == 0

    scores = score_run(run, stats, ["pmi", "conditional_pmi"])
    for name, rule in (("pmi", pmi), ("conditional_pmi", lambda c, u: conditional_pmi(c, u, stats.token_entropies))):
        result = scores.measures[name].result
        assert result.reason is None and math.isfinite(result.value)
        assert result.per_sample == pytest.approx(rule(stats.logprobs, unconditional.logprobs).per_sample)
        assert result.per_sample[4] == 0.0 and result.per_sample[3] == pytest.approx(0.5)
    assert stats.costs["unconditional_logprobs"].model_calls == 1  # both measures share the one pass


def test_a_bos_tokenizer_puts_bos_before_the_answer_and_scores_from_the_second_answer_token(language_model):
    class BosTokenizer:
        bos_token_id = 1

        def __call__(self, text: str) -> dict:
            return {"input_ids": [1] + language_model.tokenizer(text)["input_ids"]}

    stub = SimpleNamespace(tokenizer=BosTokenizer())
    assert answer_prefix(RunStatistics(make_run(["a"]), language_model=stub)) == [1]
    answer = language_model.tokenizer("It is Paris.", add_special_tokens=False)["input_ids"]
    sequence = [1] + answer
    (read,) = probing.token_logprobs(language_model, [sequence], first=2)
    assert read == pytest.approx(reference_logprobs(language_model, sequence)[1:], abs=1e-4)


def test_pmi_is_on_demand_and_not_among_the_default_analyses():
    assert {"pmi", "conditional_pmi"} <= set(ON_DEMAND)
    scores = score_run(make_run(["Paris", "Lyon"]), RunStatistics(make_run(["Paris", "Lyon"])))
    for name in ("pmi", "conditional_pmi"):
        assert REGISTRY[name].cost == "one extra pass of the language model over every answer without the prompt"
        assert scores.measures[name].result.value is None
        assert "computed on demand" in scores.measures[name].result.reason


def test_a_run_without_a_language_model_gets_the_reason():
    scores = score_run(make_run(["Paris", "Lyon"]), RunStatistics(make_run(["Paris", "Lyon"])), ["pmi", "conditional_pmi"])
    for name in ("pmi", "conditional_pmi"):
        assert scores.measures[name].result.value is None
        assert scores.measures[name].result.reason == "no language model is available for this run"


def test_a_pasted_run_gets_the_reason(language_model):
    run = run_from_samples("What is the capital of France?", [PastedSample("Paris", ["Paris"], [-0.1]), PastedSample("Lyon", ["Lyon"], [-2.0])])
    stats = RunStatistics(run, language_model=language_model)
    scores = score_run(run, stats, ["pmi", "conditional_pmi"])
    assert scores.measures["pmi"].result.value is None
    assert "no prompt token ids" in scores.measures["pmi"].result.reason
    assert scores.measures["conditional_pmi"].result.value is None
    assert "no next-token distributions" in scores.measures["conditional_pmi"].result.reason
    assert "unconditional_logprobs" not in stats.costs  # refused before any pass
    available = score_available(run, stats, on_demand=["pmi", "conditional_pmi"])
    assert "the language model itself" in available.measures["pmi"].result.reason
