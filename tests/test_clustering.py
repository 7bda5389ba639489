"""Clustering rules of docs/methods.md §3.2 and the optional NLI backend (a tiny random model saved from a config)."""

import json
from itertools import permutations

import numpy as np
import pytest

from tests.conftest import make_run, run_cli
from uqviz.statistics.clustering import (
    CONTRADICTION,
    ENTAILMENT,
    NEUTRAL,
    RULES,
    answer_clustering,
    cluster_by_cosine,
    cluster_by_labels,
    cluster_texts,
    first_appearance_ids,
    kuhn_code_assignment,
    nature_code_assignment,
    representative_assignment,
    unique_texts,
)
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.affinity import nli_affinity
from uqviz.models.loading import ModelLoadError
from uqviz.models.nli import argmax_labels, label_columns, load_nli, pairwise_logits
from uqviz.statistics.base import MissingModelError, RunStatistics, ScoreConfig

E, N, C = ENTAILMENT, NEUTRAL, CONTRADICTION
# §3.2 worked example: a→b=E, b→a=N; a→c=C, c→a=N; b→c=N, c→b=N (diagonal: self-entailment).
RULE_EXAMPLE = np.array([[E, E, C], [N, E, N], [N, N, E]], dtype=object)


def partition(ids):
    return sorted(sorted(index for index, own in enumerate(ids) if own == class_id) for class_id in set(ids))


@pytest.mark.parametrize(
    "rule, expected",
    [("strict", [0, 1, 2]), ("nature_code", [0, 1, 2]), ("nature_code_non_strict", [0, 0, 1]), ("kuhn_code", [0, 0, 0])],
)
def test_rule_example_gives_3_2_1_classes(rule, expected):
    clustering = cluster_by_labels(["a", "b", "c"], RULE_EXAMPLE, rule)
    assert clustering.ids == expected
    assert clustering.count == len(set(expected))


def test_assignment_procedures_differ_where_the_papers_codes_differ():
    # 0 ≡ 2 and 1 ≡ 2 but 0 ≢ 1: the representative rule keeps 2 with 0, the Nature code re-assigns 2 to 1,
    # the Kuhn code lets the last writer (pair (1, 2)) win.
    equivalent = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=bool)
    assert representative_assignment(equivalent) == [0, 1, 0]
    assert nature_code_assignment(equivalent) == [0, 1, 1]
    assert kuhn_code_assignment(equivalent) == [0, 1, 1]


def test_representative_assignment_compares_with_the_first_member_only():
    # 2 is equivalent to 1 (a member) but not to 0 (the representative of that class): it opens a class.
    equivalent = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool)
    assert representative_assignment(equivalent) == [0, 0, 1]


def hidden_partition_labels(classes, rng):
    """NLI labels whose mutual entailment is exactly "same hidden class": within a class E both ways, across at most one E."""
    count = len(classes)
    labels = np.empty((count, count), dtype=object)
    for i in range(count):
        for j in range(count):
            if classes[i] == classes[j]:
                labels[i, j] = E
            else:
                labels[i, j] = rng.choice([E, N, C]) if i < j else rng.choice([N, C])
    return labels


def test_strict_rule_is_invariant_to_sample_order_when_mutual_entailment_is_transitive():
    rng = np.random.default_rng(0)
    texts = ["a", "b", "c", "d", "e", "f"]
    classes = [0, 1, 0, 2, 1, 0]
    labels = hidden_partition_labels(classes, rng)
    expected = partition(classes)
    for order in permutations(range(len(texts))):
        order = list(order)
        clustering = cluster_by_labels([texts[i] for i in order], labels[np.ix_(order, order)], "strict")
        assert partition([clustering.ids[order.index(i)] for i in range(len(texts))]) == expected


def test_strict_rule_depends_on_order_when_entailment_is_not_transitive():
    # a ≡ b, b ≡ c, a ≢ c: whoever comes first decides, as in lm-polygraph; documented, not hidden.
    labels = np.array([[E, E, N], [E, E, E], [N, E, E]], dtype=object)
    assert cluster_by_labels(["a", "b", "c"], labels, "strict").ids == [0, 0, 1]
    reordered = [1, 0, 2]
    assert cluster_by_labels(["b", "a", "c"], labels[np.ix_(reordered, reordered)], "strict").ids == [0, 0, 0]


def test_identical_texts_share_a_class_whatever_the_relation_says():
    texts = ["b", "a", "b", "a", "c"]
    distinct, index = unique_texts(texts)
    assert distinct == ["b", "a", "c"] and index == [0, 1, 0, 1, 2]
    clustering = cluster_texts(texts, "strict", np.eye(3, dtype=bool))
    assert clustering.ids == [0, 1, 0, 1, 2]
    assert clustering.members(1) == [1, 3]
    assert clustering.frequencies() == pytest.approx([0.4, 0.4, 0.2])
    with pytest.raises(ValueError, match="one row per distinct answer"):
        cluster_texts(texts, "strict", np.eye(5, dtype=bool))


def test_class_ids_are_numbered_by_first_appearance():
    assert first_appearance_ids([3, 3, 1, 0, 1]) == [0, 0, 1, 2, 1]


def test_embedding_rule_uses_the_threshold_on_cosine():
    angle = np.radians([0.0, 30.0, 50.0, 90.0])
    vectors = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # cos to the first: 1, .866, .643, 0
    texts = ["w", "x", "y", "z"]
    assert cluster_by_cosine(texts, vectors, 0.85).ids == [0, 0, 1, 2]
    assert cluster_by_cosine(texts, vectors, 0.6).ids == [0, 0, 0, 1]
    assert cluster_by_cosine(texts, vectors, 0.99).ids == [0, 1, 2, 3]
    assert cluster_by_cosine(texts, vectors, 0.85).threshold == 0.85


def test_unknown_rule_and_missing_nli_are_reported():
    run = make_run(["a", "b"])
    with pytest.raises(ValueError, match="unknown cluster rule"):
        answer_clustering(RunStatistics(run, ScoreConfig(cluster_rule="nope")))
    with pytest.raises(MissingModelError, match="NLI"):
        answer_clustering(RunStatistics(run, ScoreConfig(cluster_rule="strict")))


def test_label_columns_are_read_from_label2id():
    assert label_columns({"CONTRADICTION": 0, "NEUTRAL": 1, "ENTAILMENT": 2}) == (0, 1, 2)
    assert label_columns({"entailment": 0, "neutral": 1, "contradiction": 2}) == (2, 1, 0)
    with pytest.raises(ModelLoadError, match="label2id"):
        label_columns({"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2})
    with pytest.raises(ModelLoadError, match="label2id"):
        label_columns({"entailment": 0, "not_entailment": 1})


# ---- the NLI code path, with a tiny randomly initialised sequence-classification model ----

def raw_labels(nli, sentences):
    """Argmax label names straight from the model and config.id2label, for every ordered pair."""
    import torch

    count = len(sentences)
    labels = np.full((count, count), E, dtype=object)
    for i in range(count):
        for j in range(count):
            if i != j:
                encoded = nli.tokenizer(sentences[i], sentences[j], return_tensors="pt")
                with torch.no_grad():
                    label_id = int(nli.model(**encoded).logits[0].argmax())
                labels[i, j] = nli.model.config.id2label[label_id].lower()
    return labels


def test_nli_logits_follow_label2id_and_are_batched_and_cached(tiny_nli):
    import torch

    nli = load_nli(str(tiny_nli()))
    assert nli.columns == (2, 0, 1)
    premises = ["Q? Paris", "Q? Lyon is a city in France", "Q? 42", "Q?"]
    hypotheses = ["Q? Lyon", "Q? Paris", "Q? forty-two and more words here", "Q? x"]
    nli.batch_size = 3
    logits = nli.pair_logits(premises, hypotheses)
    assert nli.calls == 2
    for row, premise, hypothesis in zip(logits, premises, hypotheses):
        with torch.no_grad():
            raw = nli.model(**nli.tokenizer(premise, hypothesis, return_tensors="pt")).logits[0].numpy()
        assert row == pytest.approx([raw[2], raw[0], raw[1]], abs=1e-4)
    again = nli.pair_logits(premises[::-1], hypotheses[::-1])
    assert nli.calls == 2
    assert again == pytest.approx(logits[::-1])


def test_a_judge_with_text_layers_reads_each_text_alone_first_then_the_joined_pair(tiny_nli):
    import torch

    nli = load_nli(str(tiny_nli(text_layers=1)))
    assert nli.text_layers == 1 and nli.columns == (2, 0, 1)
    model = nli.model
    with torch.no_grad():
        model.classifier.weight.mul_(1000)  # logits of order 10, not 0.01, so that a padding or masking slip shows

    def by_hand(premise: str, hypothesis: str) -> np.ndarray:
        """Layer 0 on "[CLS] premise [SEP]" (segment 0) and on "[CLS] hypothesis [SEP]" (segment 1) alone, the hypothesis's
        [CLS] dropped, layer 1 on the joined tokens, then pooler and head: one pair, no padding."""
        with torch.no_grad():
            states = []
            for segment, text in enumerate((premise, hypothesis)):
                ids = nli.tokenizer(text, return_tensors="pt")["input_ids"]
                hidden = model.bert.embeddings(input_ids=ids, token_type_ids=torch.full_like(ids, segment))
                states.append(model.bert.encoder.layer[0](hidden, None))
            joined = model.bert.encoder.layer[1](torch.cat([states[0], states[1][:, 1:]], dim=1), None)
            raw = model.classifier(model.bert.pooler(joined))[0].numpy()
        return np.array([raw[2], raw[0], raw[1]])

    premises = ["Q? Paris", "Q? Lyon is a city in France and a large one", "Q? 42", "Q? Paris"]
    hypotheses = ["Q? Lyon", "Q? Paris", "Q? forty-two and more words here", "Q? 42"]
    nli.batch_size = 3  # pairs and texts of unequal lengths share padded batches
    logits = nli.pair_logits(premises, hypotheses)
    for row, premise, hypothesis in zip(logits, premises, hypotheses):
        assert row == pytest.approx(by_hand(premise, hypothesis), abs=1e-3)

    read = []
    hook = model.bert.embeddings.register_forward_hook(lambda module, inputs, output: read.append(output.shape[0]))
    texts = ["Paris", "Lyon", "Marseille", "Nice"]
    pairwise_logits(nli, "Capital of France?", texts)
    hook.remove()
    assert sum(read) == 2 * len(texts)  # each text once per segment, not once per each of the 12 pairs


@pytest.mark.parametrize("text_layers, layers", [(1, 1), (2, 2)])
def test_text_layers_that_leave_no_joined_layer_are_refused_in_one_sentence(tiny_nli, text_layers, layers):
    with pytest.raises(ModelLoadError, match="text_layers=") as error:
        load_nli(str(tiny_nli(text_layers=text_layers, layers=layers)))
    assert str(error.value).count(". ") == 0


def test_pairwise_logits_use_question_and_answer_and_certain_self_entailment(tiny_nli):
    nli = load_nli(str(tiny_nli()))
    texts = ["Paris", "Lyon", "Marseille"]
    logits = pairwise_logits(nli, "Capital of France?", texts)
    assert logits.shape == (3, 3, 3)
    assert list(argmax_labels(logits)[np.diag_indices(3)]) == [E, E, E]
    direct = nli.pair_logits(["Capital of France? Lyon"], ["Capital of France? Marseille"])[0]
    assert logits[1, 2] == pytest.approx(direct)
    assert (argmax_labels(logits) == raw_labels(nli, [f"Capital of France? {t}" for t in texts])).all()


def test_strict_rule_through_run_statistics_matches_the_models_own_labels(tiny_nli):
    nli = load_nli(str(tiny_nli()))
    run = make_run(["Paris", "Lyon", "Paris", "Nice", "Lyon is it"], prompt="Capital of France?")
    stats = RunStatistics(run, ScoreConfig(cluster_rule="strict"), nli=lambda: nli)
    distinct = unique_texts(stats.answers)[0]
    labels = raw_labels(nli, [f"{run.prompt} {text}" for text in distinct])
    expected = cluster_by_labels(stats.answers, labels, "strict")
    assert answer_clustering(stats).ids == expected.ids
    assert answer_clustering(stats).ids[0] == answer_clustering(stats).ids[2]
    calls = nli.calls
    for rule in ("kuhn_code", "nature_code", "nature_code_non_strict"):
        other = stats.with_config(ScoreConfig(cluster_rule=rule))
        assert answer_clustering(other).ids == cluster_by_labels(stats.answers, labels, rule).ids
    assert nli.calls == calls  # re-clustering under another rule reuses the cached pair scores


@pytest.mark.parametrize("dominant, sets", [(ENTAILMENT, 1), (CONTRADICTION, 3), (NEUTRAL, 3)])
def test_dominant_nli_label_decides_the_sets(tiny_nli, dominant, sets):
    run = make_run(["Paris", "Lyon", "Paris", "Nice"], prompt="Capital of France?")
    stats = RunStatistics(run, ScoreConfig(cluster_rule="strict"), nli=load_nli(str(tiny_nli(dominant))))
    assert REGISTRY["num_semantic_sets"].compute(stats).value == sets
    kuhn = stats.with_config(ScoreConfig(cluster_rule="kuhn_code"))
    assert REGISTRY["num_semantic_sets"].compute(kuhn).value == (3 if dominant == CONTRADICTION else 1)


def test_graph_measures_use_the_nli_affinity_under_an_nli_rule(tiny_nli):
    nli = load_nli(str(tiny_nli()))
    run = make_run(["Paris", "Lyon", "Paris"], prompt="Capital of France?")
    stats = RunStatistics(run, ScoreConfig(cluster_rule="strict"), nli=nli)
    result = REGISTRY["degree"].compute(stats)
    unique = nli_affinity(pairwise_logits(nli, run.prompt, ["Paris", "Lyon"]))
    expected = unique[np.ix_([0, 1, 0], [0, 1, 0])]
    assert result.detail.affinity == pytest.approx(expected)
    assert result.detail.affinity[0, 2] == 1.0
    assert "NLI entailment" in result.detail.affinity_name
    assert result.value == pytest.approx(np.mean(1 - expected.sum(axis=1) / 3))


@pytest.mark.slow
def test_score_cli_with_nli_clusters_by_entailment(tiny_nli, tmp_path):
    from uqviz.format.run import write_run

    path = tmp_path / "run.json"
    write_run(make_run(["Paris", "The mitochondria is the powerhouse of the cell.", "Paris"], prompt="Capital?"), path)
    result = run_cli("score", str(path), "--nli", str(tiny_nli(ENTAILMENT)))
    measures = json.loads(result.stdout)["measures"]
    assert measures["num_semantic_sets"]["value"] == 1  # the embedding rule would give 2
    assert measures["discrete_semantic_entropy"]["value"] == 0.0
    # a missing NLI folder is one sentence in scores.json's judge note; meaning falls back to embedding cosine
    fallback = json.loads(run_cli("score", str(path), "--nli", str(tmp_path / "missing")).stdout)
    assert fallback["judge"]["rule"] == "embedding" and "config.json" in fallback["judge"]["note"]
    assert fallback["measures"]["num_semantic_sets"]["value"] == 2


def test_every_rule_is_named_and_documented():
    assert set(RULES) == {"embedding", "strict", "kuhn_code", "nature_code", "nature_code_non_strict"}
    assert not RULES["embedding"].needs_nli and all(RULES[name].needs_nli for name in RULES if name != "embedding")
