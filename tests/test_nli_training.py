"""Training the packaged NLI judge: the distillation loss against a hand computation, and a distilled student that
starts from its teacher's first layers and head."""

import json
import math

import numpy as np
import pytest
import torch

from uqviz.workflows.nli_training import (
    LABELS,
    Distillation,
    Example,
    distillation_loss,
    distillation_record,
    model_card,
    teacher_logits,
    train,
)


def log_softmax(values: np.ndarray) -> np.ndarray:
    return values - math.log(np.exp(values).sum())


def test_distillation_loss_matches_a_hand_computation():
    student, teacher, gold = np.array([2.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0]), 1
    cross_entropy = -log_softmax(student)[gold]  # log(e² + 2) = 2.2395
    teacher_soft, student_soft = np.exp(log_softmax(teacher / 2)), log_softmax(student / 2)
    kl = float(np.sum(teacher_soft * (np.log(teacher_soft) - student_soft)))  # 0.1195
    assert cross_entropy == pytest.approx(2.2395, abs=1e-4) and kl == pytest.approx(0.1195, abs=1e-4)

    def loss(weight: float, students: list, teachers: list, golds: list) -> float:
        distillation = Distillation(teacher=None, layers=1, temperature=2.0, soft_label_weight=weight)
        return float(distillation_loss(torch.tensor(np.array(students)), torch.tensor(golds), torch.tensor(np.array(teachers)), distillation))

    assert loss(0.5, [student], [teacher], [gold]) == pytest.approx(0.5 * cross_entropy + 0.5 * 4 * kl, abs=1e-5)  # 1.3588: T² keeps the soft part's scale
    assert loss(0.0, [student], [teacher], [gold]) == pytest.approx(cross_entropy, abs=1e-5)
    assert loss(1.0, [student], [student], [gold]) == pytest.approx(0.0, abs=1e-6)
    # a batch is the mean of its examples: the second one (student = teacher, gold label right) adds its cross-entropy only
    second = -log_softmax(np.array([0.0, 3.0, 0.0]))[1]
    both = loss(0.5, [student, [0.0, 3.0, 0.0]], [teacher, [0.0, 3.0, 0.0]], [gold, 1])
    assert both == pytest.approx((0.5 * cross_entropy + 0.5 * 4 * kl + 0.5 * second) / 2, abs=1e-5)


def tiny_teacher(folder, label_names=LABELS):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from uqviz.models.loading import default_embedder_path

    tokenizer = AutoTokenizer.from_pretrained(default_embedder_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, num_labels=3, id2label=dict(enumerate(label_names)),
                        label2id={name: index for index, name in enumerate(label_names)})
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "metrics.json").write_text(json.dumps({"epochs": 2, "training_seconds": 600, "snli_test_accuracy": 0.8,
                                                     "pair_set": {"accuracy": 0.9}}))
    return folder


EXAMPLES = [Example("Q? Paris.", "Q? The capital is Paris.", "entailment"), Example("Q? Paris.", "Q? London.", "contradiction"),
            Example("Q? Maybe Paris.", "Q? Paris.", "neutral"), Example("Q? Rome.", "Q? It is Rome.", "entailment")]


CARD_METRICS = {"snli_pairs": 3, "qa_pairs": 1, "seed": 0, "training_examples": 4, "epochs": 1, "learning_rate": 0.0,
                "training_precision": "float32", "training_seconds": 60, "snli_test_pairs": 10, "snli_test_accuracy": 0.7,
                "pair_set": {"pairs": 4, "accuracy": 0.5, "same kept together": 0.5, "different split": 0.5, "by kind": {"hedge": [1, 2]}}}


def test_a_distilled_student_starts_from_the_teachers_first_layers_and_head(tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertForSequenceClassification

    teacher = tiny_teacher(tmp_path / "teacher")
    distillation = Distillation(teacher, layers=1)
    logits = teacher_logits(teacher, EXAMPLES, "float32")  # batched by length: rows must still follow the examples
    model, tokenizer = BertForSequenceClassification.from_pretrained(teacher).eval(), AutoTokenizer.from_pretrained(teacher)
    with torch.inference_mode():
        one_by_one = [model(**tokenizer(e.premise, e.hypothesis, return_tensors="pt")).logits[0].numpy() for e in EXAMPLES]
    np.testing.assert_allclose(logits, np.stack(one_by_one), atol=1e-4)
    train(EXAMPLES, tmp_path / "student", epochs=1, seed=0, learning_rate=0.0, distillation=distillation)

    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["id2label"] == {"0": "entailment", "1": "neutral", "2": "contradiction"}
    student_weights, teacher_weights = load_file(tmp_path / "student" / "model.safetensors"), load_file(teacher / "model.safetensors")
    assert not any(name.startswith("bert.encoder.layer.1.") for name in student_weights)
    for name in ("bert.encoder.layer.0.attention.self.query.weight", "bert.embeddings.word_embeddings.weight", "classifier.weight"):
        assert torch.equal(student_weights[name], teacher_weights[name].half())  # learning rate 0: the start, unchanged

    record = distillation_record(distillation)
    assert record["teacher_layers"] == 2 and record["teacher_snli_test_accuracy"] == 0.8
    metrics = dict(CARD_METRICS, distillation=record)
    card = model_card(metrics)
    assert "6 layers" not in card and "the first 1 of the 2 layers" in card and "plus 10 minutes for the teacher" in card
    card = model_card({name: value for name, value in metrics.items() if name != "distillation"})
    assert "6 layers" in card and "with a new classification head" in card and "teacher" not in card


def test_a_student_with_text_layers_keeps_all_its_teachers_layers_and_judges_through_them(tmp_path):
    from safetensors.torch import load_file

    from uqviz.models.nli import load_nli

    teacher = tiny_teacher(tmp_path / "teacher")
    distillation = Distillation(teacher, layers=2, text_layers=1)
    record = distillation_record(distillation)
    assert record["text_layers"] == 1
    card = model_card(dict(CARD_METRICS, distillation=record))
    assert "2 layers, the first 1 per text)" in card and "all 2 layers, and the head" in card
    assert "the first 1 layers read each text alone" in card and "the other 1 read the joined pair" in card
    train(EXAMPLES, tmp_path / "student", epochs=1, seed=0, learning_rate=0.0, distillation=distillation)

    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["text_layers"] == 1
    student_weights, teacher_weights = load_file(tmp_path / "student" / "model.safetensors"), load_file(teacher / "model.safetensors")
    assert student_weights.keys() == teacher_weights.keys()
    assert all(torch.equal(student_weights[name], teacher_weights[name].half()) for name in teacher_weights)
    assert load_nli(str(tmp_path / "student")).text_layers == 1
    with pytest.raises(ValueError, match="cannot read each text alone in 2 of them"):
        distillation_record(Distillation(teacher, layers=2, text_layers=2))
    with pytest.raises(ValueError, match="A student of 3 layers cannot start"):
        distillation_record(Distillation(teacher, layers=3, text_layers=1))


def test_a_teacher_with_another_label_order_is_refused(tmp_path):
    teacher = tiny_teacher(tmp_path / "teacher", label_names=("neutral", "entailment", "contradiction"))
    with pytest.raises(ValueError, match="labels"):
        teacher_logits(teacher, EXAMPLES, "float32")


def test_a_student_as_deep_as_its_teacher_or_a_teacher_without_metrics_is_refused(tmp_path):
    teacher = tiny_teacher(tmp_path / "teacher")
    with pytest.raises(ValueError, match="A student of 2 layers cannot start"):
        distillation_record(Distillation(teacher, layers=2))
    (teacher / "metrics.json").unlink()
    with pytest.raises(ValueError, match="needs the config.json and metrics.json"):
        distillation_record(Distillation(teacher, layers=1))


def test_training_goes_on_from_a_judge_with_text_layers_and_the_card_says_how_it_was_adapted(tmp_path):
    from safetensors.torch import load_file

    from uqviz.workflows.nli_training import base_record

    teacher = tiny_teacher(tmp_path / "teacher")
    distillation = Distillation(teacher, layers=2, text_layers=1)
    train(EXAMPLES, tmp_path / "student", epochs=1, seed=0, learning_rate=0.0, distillation=distillation)
    student_metrics = dict(CARD_METRICS, distillation=distillation_record(distillation))
    (tmp_path / "student" / "metrics.json").write_text(json.dumps(student_metrics))
    train(EXAMPLES, tmp_path / "adapted", epochs=1, seed=0, learning_rate=0.0, base=tmp_path / "student")

    config = json.loads((tmp_path / "adapted" / "config.json").read_text())
    assert config["text_layers"] == 1 and config["num_hidden_layers"] == 2
    before, after = load_file(tmp_path / "student" / "model.safetensors"), load_file(tmp_path / "adapted" / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[name], after[name]) for name in before)

    real = {"pairs": 10, "accuracy": 0.9, "same kept together": 0.8, "different split": 1.0,
            "by kind": {"same": [4, 5], "different": [5, 5]}, "by style": {"clean": [3, 3], "truncated": [6, 7]}}
    metrics = dict(CARD_METRICS, snli_pairs=7, rough_pairs=5, real_answer_pairs=6, real_answers="answers.jsonl.gz", learning_rate=3e-5,
                   snli_test_accuracy=0.75, real_pairs=real, base=base_record(tmp_path / "student"))
    card = model_card(metrics)
    assert "Adapted to real answers" in card and "goes on training it on real-looking answers" in card
    assert "7 SNLI training pairs drawn at random" in card and "5 generated pairs with" in card and "6 weakly labelled" in card
    assert "the first 1 layers read each text alone" in card  # the base's architecture is still described
    assert "| 0.750 |" in card and "| 0.700 |" not in card  # this judge's metrics, not the base's
    assert "| … same-answer pairs kept together | 0.800 |" in card and "| … pairs with truncated judged right | 6 of 7 |" in card
    with pytest.raises(ValueError, match="was itself trained on from another"):
        (tmp_path / "adapted" / "metrics.json").write_text(json.dumps(metrics))
        base_record(tmp_path / "adapted")
