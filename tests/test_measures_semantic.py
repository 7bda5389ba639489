"""Semantic entropy estimators, NumSet and lexical similarity: worked examples (docs/methods.md §2.1, §3.3), properties, real runs."""

import json
import math

import numpy as np
import pytest

from tests.conftest import make_run, run_cli
from uqviz.statistics.clustering import answer_clustering
from uqviz.measures.registry import REGISTRY
from uqviz.measures.lexical import lexical_similarity, rouge_l_matrix
from uqviz.measures.semantic import (
    discrete_semantic_entropy,
    num_semantic_sets,
    semantic_entropy_kuhn,
    semantic_entropy_nature,
    semantic_entropy_polygraph,
)
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics, ScoreConfig

# §1 / §3.3 worked example: classes {s1, s2}, {s3}.
LOGPROBS = [[-0.1, -0.2], [-0.5, -0.5, -0.5], [-2.0]]
IDS = [0, 0, 1]
IDENTICAL = ["Paris", "Paris", "Paris", "Paris"]
UNRELATED = [
    "Paris",
    "The mitochondria is the powerhouse of the cell.",
    "Seven hundred and twelve.",
    "Blue whales mostly eat krill.",
]
SEMANTIC_NAMES = ["semantic_entropy", "semantic_entropy_kuhn2023", "semantic_entropy_lm_polygraph", "discrete_semantic_entropy"]


def test_worked_example_estimators():
    assert semantic_entropy_kuhn(IDS, LOGPROBS).value == pytest.approx(0.808309, abs=1e-6)
    assert semantic_entropy_kuhn(IDS, LOGPROBS, length_normalised=False).value == pytest.approx(1.018359, abs=1e-6)
    assert semantic_entropy_nature(IDS, LOGPROBS).value == pytest.approx(0.289502, abs=1e-6)
    assert discrete_semantic_entropy(IDS).value == pytest.approx(0.636514, abs=1e-6)
    assert semantic_entropy_polygraph(IDS, LOGPROBS).value == pytest.approx(0.691145, abs=1e-6)
    assert semantic_entropy_polygraph(IDS, LOGPROBS, "direct").value == pytest.approx(0.341458, abs=1e-6)
    assert num_semantic_sets(IDS).value == 2


def test_worked_example_detail_holds_the_class_probabilities():
    nature = semantic_entropy_nature(IDS, LOGPROBS)
    assert np.exp(nature.detail.class_log_probability) == pytest.approx([0.915551, 0.084449], abs=1e-6)
    assert nature.detail.class_frequency == pytest.approx([2 / 3, 1 / 3])
    assert nature.detail.cluster_ids == IDS
    assert semantic_entropy_kuhn(IDS, LOGPROBS).detail.class_log_probability == pytest.approx([0.383382, -2.0], abs=1e-6)
    polygraph = semantic_entropy_polygraph(IDS, LOGPROBS)
    assert np.mean(polygraph.per_sample) == pytest.approx(polygraph.value)
    with pytest.raises(ValueError, match="estimator"):
        semantic_entropy_polygraph(IDS, LOGPROBS, "median")


def test_estimators_do_not_depend_on_sample_order():
    rng = np.random.default_rng(1)
    ids = [0, 1, 0, 2, 1, 0, 3]
    logprobs = [list(rng.uniform(-3, 0, size=rng.integers(1, 5))) for _ in ids]
    functions = [semantic_entropy_nature, semantic_entropy_kuhn, semantic_entropy_polygraph]
    expected = [function(ids, logprobs).value for function in functions] + [discrete_semantic_entropy(ids).value]
    for _ in range(5):
        order = rng.permutation(len(ids))
        shuffled_ids, shuffled_lp = [ids[i] for i in order], [logprobs[i] for i in order]
        got = [function(shuffled_ids, shuffled_lp).value for function in functions] + [discrete_semantic_entropy(shuffled_ids).value]
        assert got == pytest.approx(expected)


def test_one_class_gives_zero_and_distinct_classes_give_log_k():
    logprobs = [[-0.3], [-1.0, -2.0], [-0.1], [-4.0]]
    assert discrete_semantic_entropy([0, 0, 0, 0]).value == 0.0
    assert math.copysign(1.0, discrete_semantic_entropy([0, 0, 0, 0]).value) == 1.0  # shown as 0.000, not -0.000
    assert semantic_entropy_nature([0, 0, 0, 0], logprobs).value == pytest.approx(0.0, abs=1e-12)
    assert discrete_semantic_entropy([0, 1, 2, 3]).value == pytest.approx(math.log(4))
    equal = [[-1.0], [-1.0], [-1.0], [-1.0]]
    assert semantic_entropy_nature([0, 1, 2, 3], equal).value == pytest.approx(math.log(4))
    # unequal likelihoods concentrate the mass, so the weighted estimator drops below the discrete one
    assert semantic_entropy_nature([0, 1, 2, 3], logprobs).value < math.log(4)


def test_lexical_similarity_worked_example():
    result = lexical_similarity(["the cat sat", "the cat", "a dog"], tokenization="whitespace", use_stemmer=False)
    assert result.value == pytest.approx(-0.266667, abs=1e-6)
    assert result.detail.rouge_l[0, 1] == pytest.approx(0.8)
    assert np.mean(result.per_sample) == pytest.approx(result.value)


def test_lexical_similarity_tokenisation_is_a_parameter():
    texts = ["The cats were running", "the cat runs"]
    stemmed = rouge_l_matrix(texts)[0, 1]
    assert stemmed == pytest.approx(6 / 7)  # the, cat, run match after lower-casing and stemming: P 1, R 3/4
    assert rouge_l_matrix(texts, use_stemmer=False)[0, 1] == pytest.approx(2 / 7)  # only 'the'
    assert rouge_l_matrix(texts, tokenization="whitespace", use_stemmer=False)[0, 1] == 0.0
    # rouge-score's own tokenizer drops every non-ASCII character; identical answers must still agree
    assert lexical_similarity(["東京 です", "東京 です"]).value == -1.0
    assert lexical_similarity(["", "", "Paris"]).per_sample == pytest.approx([-0.5, -0.5, 0.0])  # rouge-score gives 0 for two empty strings
    assert math.copysign(1.0, lexical_similarity(["a b", "c d"]).value) == 1.0  # 0, not -0
    with pytest.raises(ValueError, match="tokenization"):
        rouge_l_matrix(texts, tokenization="bpe")
    single = lexical_similarity(["only one"])
    assert single.value is None and "two" in single.reason


def test_semantic_measures_need_an_embedder_or_nli_and_say_so():
    document = score_run(make_run(UNRELATED)).to_dict()["measures"]
    for name in SEMANTIC_NAMES + ["num_semantic_sets", "degree"]:
        assert document[name]["value"] is None and "embedder" in document[name]["reason"]
    assert document["lexical_similarity"]["value"] == 0.0  # no model needed; these answers share no word


@pytest.mark.slow
@pytest.mark.parametrize("answers, sets", [(IDENTICAL, 1), (UNRELATED, 4)])
def test_identical_and_unrelated_answers_with_the_real_embedder(embedder, answers, sets):
    stats = RunStatistics(make_run(answers), embedder=embedder)
    assert REGISTRY["num_semantic_sets"].compute(stats).value == sets
    assert REGISTRY["discrete_semantic_entropy"].compute(stats).value == pytest.approx(math.log(sets), abs=1e-12)
    # make_run gives every word the same log-prob, so the per-sample LN are equal and the weighted SE equals the discrete one
    assert REGISTRY["semantic_entropy"].compute(stats).value == pytest.approx(math.log(sets), abs=1e-12)
    assert answer_clustering(stats).ids == ([0, 0, 0, 0] if sets == 1 else [0, 1, 2, 3])


@pytest.mark.slow
def test_threshold_reclusters_from_cached_embeddings(embedder):
    run = make_run(["Paris", "It is Paris.", "The capital of France is Paris.", "Lyon", "Berlin"])
    stats = RunStatistics(run, ScoreConfig(cluster_threshold=0.3), embedder=embedder)
    loose = answer_clustering(stats).count
    calls = stats.similarity.calls
    strict = stats.with_config(ScoreConfig(cluster_threshold=0.99))
    assert answer_clustering(strict).count == 5 > loose
    assert strict.similarity.calls == calls  # no answer was embedded again


@pytest.mark.slow
def test_real_model_run_clusters_consistently(france_run, embedder):
    stats = RunStatistics(france_run, embedder=embedder)
    clustering = answer_clustering(stats)
    vectors = stats.answer_embeddings
    cosine = vectors @ vectors.T
    threshold = stats.config.cluster_threshold
    representatives = [clustering.members(class_id)[0] for class_id in range(clustering.count)]
    for index, class_id in enumerate(clustering.ids):
        assert cosine[representatives[class_id], index] >= threshold - 1e-6
        earlier = representatives[:class_id] if index == representatives[class_id] else []
        assert all(cosine[rep, index] < threshold for rep in earlier)
    results = {name: REGISTRY[name].compute(stats) for name in SEMANTIC_NAMES + ["num_semantic_sets", "lexical_similarity"]}
    assert all(math.isfinite(result.value) for result in results.values())
    assert results["num_semantic_sets"].value == clustering.count
    assert 0 <= results["semantic_entropy"].value <= math.log(clustering.count) + 1e-9
    assert 0 <= results["discrete_semantic_entropy"].value <= math.log(clustering.count) + 1e-9
    assert -1 <= results["lexical_similarity"].value <= 0
    assert results["semantic_entropy"].detail.cluster_ids == clustering.ids


def score_file(tmp_path, answers):
    from uqviz.format.run import write_run

    path = tmp_path / f"run-{len(set(answers))}.json"
    write_run(make_run(answers, prompt="Tell me something."), path)
    result = run_cli("score", str(path))
    return json.loads(result.stdout)["measures"]


@pytest.mark.slow
def test_score_cli_on_identical_and_unrelated_answers(tmp_path):
    identical = score_file(tmp_path, IDENTICAL)
    assert identical["num_semantic_sets"]["value"] == 1
    assert identical["discrete_semantic_entropy"]["value"] == 0.0
    assert identical["lexical_similarity"]["value"] == -1.0
    unrelated = score_file(tmp_path, UNRELATED)
    assert unrelated["num_semantic_sets"]["value"] == 4
    assert unrelated["discrete_semantic_entropy"]["value"] == pytest.approx(math.log(4), abs=1e-9)
    assert unrelated["semantic_entropy"]["value"] == pytest.approx(math.log(4), abs=1e-9)
