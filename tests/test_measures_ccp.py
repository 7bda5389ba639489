"""Claim-conditioned probability: the label combination, a worked example, and the real NLI judge (docs/methods.md §12.5)."""

import math

import pytest

from tests.conftest import make_run
from uqviz.measures.ccp import answer_ccp, combined_label, token_ccp
from uqviz.measures.registry import REGISTRY
from uqviz.models.nli import CONTRADICTION as C, ENTAILMENT as E, NEUTRAL as N
from uqviz.statistics.alternatives import TOKEN_ALTERNATIVES, TokenAlternatives
from uqviz.statistics.base import MissingInputError, RunStatistics


@pytest.mark.parametrize(
    "forward, backward, expected",
    # lm-polygraph's _combine_nli: agreement wins, entail vs contra is neutral, else the one that is not neutral
    [(E, E, E), (C, C, C), (N, N, N), (E, C, N), (C, E, N), (E, N, E), (N, E, E), (C, N, C), (N, C, C)],
)
def test_label_combination(forward, backward, expected):
    assert combined_label(forward, backward) == expected


def test_worked_example():
    first = TokenAlternatives(0, [" Paris", " Lyon", " Rome"], [-0.1, -2.5, -3.0], [E, E, C], [E, N, C])
    second = TokenAlternatives(1, [".", "!"], [-0.2, -1.9], [E, N], [E, N])
    assert token_ccp(first).labels == [E, E, C]
    value = (math.exp(-0.1) + math.exp(-2.5)) / (math.exp(-0.1) + math.exp(-2.5) + math.exp(-3.0))
    assert token_ccp(first).ccp == pytest.approx(0.9519758726172621)
    assert token_ccp(first).ccp == pytest.approx(value)
    assert token_ccp(second).ccp == pytest.approx(1.0)  # a neutral alternative counts in neither sum
    u, tokens = answer_ccp([first, second])
    assert u == pytest.approx(0.04802412738273787)
    assert [token.position for token in tokens] == [0, 1]


def test_an_answer_whose_alternatives_all_keep_the_meaning_is_certain():
    tokens = [TokenAlternatives(i, ["a", "b"], [-0.5, -1.0], [E, E], [E, E]) for i in range(3)]
    assert answer_ccp(tokens)[0] == pytest.approx(0.0)


def test_real_judge_sees_a_swapped_city_as_a_change_and_punctuation_as_none(packaged_nli):
    run = make_run(["Paris ."], [[-0.3, -0.2]], prompt="What is the capital of France?")
    sample = run.samples[0]
    sample.tokens[:] = ["Paris", "."]
    sample.token_ids[:] = [10, 11]
    sample.top_token_ids[:] = [[10, 20, 21], [11, 30]]
    sample.top_tokens[:] = [["Paris", "London", "Berlin"], [".", "!"]]
    sample.top_logprobs[:] = [[-0.3, -1.5, -2.5], [-0.2, -2.0]]
    stats = RunStatistics(run, nli=packaged_nli)
    alternatives = TOKEN_ALTERNATIVES(stats, 0)
    assert alternatives[0].tokens == ["Paris", "London", "Berlin"]
    city, stop = (token_ccp(token) for token in alternatives)
    assert city.labels[1:] == [C, C]
    assert city.ccp == pytest.approx(math.exp(-0.3) / (math.exp(-0.3) + math.exp(-1.5) + math.exp(-2.5)))
    assert stop.ccp > city.ccp
    assert REGISTRY["claim_conditioned_probability"].compute(stats).value == pytest.approx(1 - city.ccp * stop.ccp)


def test_a_run_without_alternatives_names_why(packaged_nli):
    run = make_run(["a b"])
    run.samples[0].top_tokens.clear()
    with pytest.raises(MissingInputError, match="alternatives"):
        REGISTRY["claim_conditioned_probability"].compute(RunStatistics(run, nli=packaged_nli))


def test_the_saturation_note_names_the_longest_saturated_answer_only_when_one_is():
    from uqviz.measures.ccp import saturation_note

    assert saturation_note([0.1, 0.94], [5, 60]) is None
    # 40 tokens at CCP 0.95 each: U = 1 − 0.95^40 = 0.871; 80 tokens: 0.983485 (saturated)
    u40, u80 = 1 - 0.95**40, 1 - 0.95**80
    assert u40 == pytest.approx(0.871488, abs=1e-6) and u80 == pytest.approx(0.983485, abs=1e-6)
    note = saturation_note([u40, u80, 0.99], [40, 80, 12])
    assert note.startswith("2 of 3 answers have U ≥ 0.95 (S2: 80 tokens, U = 0.983)") and "per claim" in note
