"""UQLM's black-box consistency scorers against numbers worked by hand (docs/methods.md §12.9), and the reasons when
they cannot run."""

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.measures.consistency import (
    bert_score_consistency,
    cosine_consistency,
    directional_entailment_graph,
    entailment_probability,
    exact_match_rate,
    monte_carlo_meaning_probability,
    noncontradiction,
)
from uqviz.measures.registry import REGISTRY
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import MissingInputError, RunStatistics

ANSWERS = ["Paris", "Paris", "Lyon"]
# premise i → hypothesis j as (contradiction, neutral, entailment); identical answers are certain entailment
PROBABILITIES = np.array([
    [[0, 0, 1], [0, 0, 1], [0.8, 0.1, 0.1]],
    [[0, 0, 1], [0, 0, 1], [0.8, 0.1, 0.1]],
    [[0.6, 0.2, 0.2], [0.6, 0.2, 0.2], [0, 0, 1]],
])


def test_worked_example():
    assert exact_match_rate(ANSWERS).per_sample == pytest.approx([0.5, 0.5, 1.0])
    # cos(Paris, Paris) = 1 → 1; cos(Paris, Lyon) = 0 → 0.5: U = [1 − 0.75, 1 − 0.75, 1 − 0.5]
    result = cosine_consistency(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert result.per_sample == pytest.approx([0.25, 0.25, 0.5]) and result.value == pytest.approx(1 / 3)
    # Paris–Lyon: 1 − (0.8 + 0.6)/2 = 0.3; Paris–Paris: 1
    assert noncontradiction(PROBABILITIES).per_sample == pytest.approx([0.35, 0.35, 0.7])
    # Paris–Lyon entailment (0.1 + 0.2)/2 = 0.15
    result = entailment_probability(PROBABILITIES)
    assert result.per_sample == pytest.approx([0.425, 0.425, 0.85]) and result.value == pytest.approx(0.566667, abs=1e-6)


def test_unanimous_answers_are_certain_and_one_answer_gives_a_reason():
    assert exact_match_rate(["a", "a", "a"]).value == 0.0
    single = make_run(["Paris"])
    scored = score_run(single, RunStatistics(single), ["exact_match_rate"])["exact_match_rate"].result
    assert scored.value is None and "fewer than two answers" in scored.reason


def test_the_nli_scorers_read_the_runs_judge_and_say_why_without_one(embedder):
    run = make_run(ANSWERS)
    cosine = REGISTRY["cosine_consistency"].compute(RunStatistics(run, embedder=embedder))
    assert cosine.per_sample[0] == pytest.approx(cosine.per_sample[1]) and cosine.per_sample[2] > cosine.per_sample[0]
    without = score_run(run, RunStatistics(run, embedder=embedder), ["noncontradiction"])["noncontradiction"].result
    assert without.value is None and without.reason


# Three answers' token vectors: a = two tokens along x and y, b = one along x, c = one at (0.6, 0.8).
TOKENS = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0]]), np.array([[0.6, 0.8]])]


def test_bert_score_worked_example():
    result = bert_score_consistency(TOKENS)
    # a→b: P = (max(1) + max(0))/2 = 0.5, R = 1, F1 = 2·0.5/1.5 = 2/3; a→c: P = (0.6 + 0.8)/2 = 0.7, R = 0.8,
    # F1 = 2·0.56/1.5 = 0.746667; b→c: P = R = 0.6, F1 = 0.6
    assert result.detail.precision[0, 1] == pytest.approx(0.5) and result.detail.precision[1, 0] == pytest.approx(1.0)
    assert result.detail.f1[0, 2] == pytest.approx(0.746667, abs=1e-6) and result.detail.f1[2, 0] == pytest.approx(0.746667, abs=1e-6)
    assert result.per_sample == pytest.approx([0.293333, 0.366667, 0.326667], abs=1e-6)
    assert result.value == pytest.approx(0.328889, abs=1e-6)


def test_bert_score_normalises_tokens_and_an_empty_answer_matches_nothing():
    scaled = bert_score_consistency([3.0 * TOKENS[0], TOKENS[1], 10.0 * TOKENS[2]])
    assert scaled.per_sample == pytest.approx(bert_score_consistency(TOKENS).per_sample, abs=1e-6)
    with_empty = bert_score_consistency([*TOKENS, np.zeros((0, 2))])
    assert with_empty.detail.f1[3].tolist() == [0.0] * 4 and with_empty.per_sample[3] == 1.0
    # a's F1 to the others is now (2/3 + 0.746667 + 0)/3
    assert with_empty.per_sample[0] == pytest.approx(1 - 1.413333 / 3, abs=1e-6)


def test_monte_carlo_meaning_probability_worked_example():
    # classes {0, 1, 3} and {2}: the other answers in a_0's class are 2 of 3
    result = monte_carlo_meaning_probability([0, 0, 1, 0], "embedding cosine")
    assert result.per_sample == pytest.approx([1 / 3, 1 / 3, 1.0, 1 / 3]) and result.value == pytest.approx(0.5)
    assert result.detail.recurrence == pytest.approx([2 / 3, 2 / 3, 0.0, 2 / 3]) and result.detail.judge == "embedding cosine"
    # mean over answers is 1 − P(two different samples share a class) = 1 − (3·2)/(4·3)
    assert monte_carlo_meaning_probability([0, 1, 0, 1]).value == pytest.approx(1 - 4 / 12)


def nli_from_entailment(entailment: np.ndarray) -> np.ndarray:
    """K × K × 3 NLI probabilities with the given entailment and the rest neutral."""
    entailment = np.asarray(entailment, dtype=np.float64)
    return np.stack([np.zeros_like(entailment), 1.0 - entailment, entailment], axis=-1)


def test_directional_entailment_graph_worked_example():
    # A = [[1, 1, .1], [1, 1, .1], [.2, .2, 1]] from PROBABILITIES; out-degrees 2.1, 2.1, 1.4. P's first two rows are
    # equal (eigenvalue 0), 1 is always one, and the third is trace − 1 = 10/21 + 10/21 + 15/21 − 1 = 2/3.
    result = directional_entailment_graph(PROBABILITIES)
    assert sorted(result.detail.eigenvalues.real) == pytest.approx([0.0, 2 / 3, 1.0], abs=1e-12)
    assert result.value == pytest.approx(5 / 3) and result.per_sample == pytest.approx([10 / 21, 10 / 21, 15 / 21])
    assert result.detail.correction == pytest.approx(0.0, abs=1e-12)
    assert result.detail.transition[2].tolist() == pytest.approx([1 / 7, 1 / 7, 5 / 7])


def test_directional_entailment_graph_keeps_only_positive_real_parts():
    # each of {0, 1} entails each of {2, 3} and not its partner: A = I + B, B the 4-cycle's adjacency (eigenvalues
    # 2, 0, 0, −2), so P = A/3 has 1, 1/3, 1/3, −1/3: U = 5/3 while Σ P_kk = 4/3, the −1/3 is the correction
    entailment = np.array([[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 1]])
    result = directional_entailment_graph(nli_from_entailment(entailment))
    assert sorted(result.detail.eigenvalues.real) == pytest.approx([-1 / 3, 1 / 3, 1 / 3, 1.0])
    assert result.value == pytest.approx(5 / 3) and result.per_sample == pytest.approx([1 / 3] * 4)
    assert result.detail.correction == pytest.approx(1 / 3)
    # a directed 3-cycle a→b→c→a: complex eigenvalues 1/4 ± i√3/4 count their real parts
    cycle = directional_entailment_graph(nli_from_entailment([[1, 1, 0], [0, 1, 1], [1, 0, 1]]))
    assert np.abs(cycle.detail.eigenvalues.imag).max() == pytest.approx(np.sqrt(3) / 4) and cycle.value == pytest.approx(1.5)


def test_identical_answers_give_the_least_uncertainty():
    assert monte_carlo_meaning_probability([0, 0, 0]).per_sample == [0.0, 0.0, 0.0]
    same = bert_score_consistency([TOKENS[0]] * 3)
    assert same.value == pytest.approx(0.0, abs=1e-6) and bert_score_consistency(TOKENS).value > 0.3
    # all-entailing answers: P = J/K with eigenvalues 1, 0, 0, the least U any graph has (1 is always an eigenvalue)
    assert directional_entailment_graph(nli_from_entailment(np.ones((3, 3)))).value == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    for _ in range(20):
        entailment = rng.uniform(size=(4, 4))
        np.fill_diagonal(entailment, 1.0)
        assert directional_entailment_graph(nli_from_entailment(entailment)).value > 1.0 + 1e-9
    # no answer entails another: four separate meanings, U = K
    assert directional_entailment_graph(nli_from_entailment(np.eye(4))).value == pytest.approx(4.0)


def test_the_new_measures_do_not_depend_on_the_order_of_the_answers():
    rng = np.random.default_rng(11)
    order = np.array([2, 0, 3, 1])
    ids = [0, 1, 0, 2]
    assert monte_carlo_meaning_probability([ids[i] for i in order]).per_sample == pytest.approx(
        np.asarray(monte_carlo_meaning_probability(ids).per_sample)[order])
    tokens = [rng.normal(size=(size, 5)) for size in (2, 4, 1, 3)]
    plain, shuffled = bert_score_consistency(tokens), bert_score_consistency([tokens[i] for i in order])
    assert shuffled.per_sample == pytest.approx(np.asarray(plain.per_sample)[order]) and shuffled.value == pytest.approx(plain.value)
    entailment = rng.uniform(size=(4, 4))
    np.fill_diagonal(entailment, 1.0)
    plain = directional_entailment_graph(nli_from_entailment(entailment))
    shuffled = directional_entailment_graph(nli_from_entailment(entailment[np.ix_(order, order)]))
    assert shuffled.per_sample == pytest.approx(np.asarray(plain.per_sample)[order]) and shuffled.value == pytest.approx(plain.value)


def test_the_new_measures_give_reasons_for_one_answer_and_without_their_models():
    with pytest.raises(MissingInputError, match="fewer than two answers"):
        monte_carlo_meaning_probability([0])
    with pytest.raises(MissingInputError, match="fewer than two answers"):
        directional_entailment_graph(np.array([[[0.0, 0.0, 1.0]]]))
    run = make_run(ANSWERS)
    scores = score_run(run, RunStatistics(run), ["bert_score_consistency", "directional_entailment_graph"])
    assert "no embedder" in scores["bert_score_consistency"].result.reason
    assert scores["directional_entailment_graph"].result.value is None and scores["directional_entailment_graph"].result.reason


@pytest.mark.slow
def test_the_new_measures_on_the_packaged_models(embedder, packaged_nli):
    run = make_run(["The capital is Paris.", "The capital is Paris.", "Lyon", ""], prompt="What is the capital of France?")
    stats = RunStatistics(run, embedder=embedder, nli=packaged_nli)
    tokens = stats.similarity.token_embeddings(["The capital is Paris.", ""])
    # the, capital, is, paris, . without [CLS] and [SEP]; unit vectors; the empty answer has none
    assert tokens[0].shape == (5, 384) and np.linalg.norm(tokens[0], axis=1) == pytest.approx([1.0] * 5, abs=1e-5)
    assert tokens[1].shape == (0, 384)
    scores = score_run(run, stats, ["bert_score_consistency", "monte_carlo_meaning_probability", "directional_entailment_graph"])
    bert = scores["bert_score_consistency"].result
    assert bert.detail.f1[0, 1] == pytest.approx(1.0, abs=1e-5) and bert.detail.f1[0, 3] == 0.0
    assert bert.per_sample[0] == pytest.approx(bert.per_sample[1]) and bert.per_sample[0] < bert.per_sample[2] < bert.per_sample[3] == 1.0
    assert bert.detail.encoder == "all-MiniLM-L6-v2 (packaged)"
    assert stats.costs["answer_token_embeddings"].model_calls == 1  # the pass above was kept: one more call for the rest
    monte_carlo = scores["monte_carlo_meaning_probability"].result
    assert monte_carlo.detail.cluster_ids[0] == monte_carlo.detail.cluster_ids[1] != monte_carlo.detail.cluster_ids[2]
    assert monte_carlo.per_sample[0] == pytest.approx(monte_carlo.per_sample[1]) and monte_carlo.per_sample[2] == 1.0
    graph = scores["directional_entailment_graph"].result
    assert graph.detail.entailment[0, 1] == 1.0 and graph.per_sample[0] == pytest.approx(graph.per_sample[1])
    assert 1.0 < graph.value < 4.0 and graph.value == pytest.approx(sum(graph.per_sample) + graph.detail.correction)
