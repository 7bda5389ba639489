"""Batch evaluation: question files, grading, the results file and resuming, the report, and the CLI end to end."""

import csv
import json
from dataclasses import replace

import pytest

import uqviz.workflows.batch as batch
from tests.conftest import run_cli
from uqviz.workflows.batch import (
    BatchInputError,
    BatchSettings,
    CorrectnessRule,
    Question,
    build_report,
    demo_questions,
    match_score,
    parse_questions,
    read_results,
    result_columns,
    run_batch,
)
from uqviz.measures.lexical import rouge_l, rouge_l_matrix
from uqviz.workflows.evaluation import auroc, prediction_rejection_ratio
from uqviz.measures.registry import REGISTRY

NAMES = list(REGISTRY)


def test_csv_with_several_gold_answers_bom_and_duplicates():
    data = "\ufeffQuestion,Answer\nHow many legs does a spider have?,8| eight \nWho?,\nHow many legs does a spider have?,6\n".encode()
    questions = parse_questions(data, "q.csv")
    assert questions == [Question("How many legs does a spider have?", ("8", "eight")), Question("Who?", ())]


def test_jsonl_accepts_a_string_or_a_list_of_gold_answers():
    data = b'{"question": "Capital of France?", "answer": ["Paris", "paris, France"]}\n\n{"question": "Why?"}\n'
    assert parse_questions(data, "q.jsonl") == [Question("Capital of France?", ("Paris", "paris, France")), Question("Why?")]


@pytest.mark.parametrize(
    "name, data, fragment",
    [
        ("q.pdf", b"%PDF", "unsupported file type '.pdf'"),
        ("q", b"question\nx\n", "unsupported file type"),
        ("q.csv", b"prompt,answer\nx,y\n", "'question' column"),
        ("q.csv", b"question,answer\n ,y\n", "q.csv line 2: the question is empty"),
        ("q.csv", b"question,answer\nx,y,z\n", "line 2: more fields"),
        ("q.csv", b"question\n", "no questions"),
        ("q.csv", b"question\n\xff\xfe\n", "not UTF-8"),
        ("q.jsonl", b'{"question": "x"}\n{"question": \n', "q.jsonl line 2: not valid JSON"),
        ("q.jsonl", b'["x"]\n', "line 1: expected an object"),
        ("q.jsonl", b'{"question": "x", "answer": 5}\n', "'answer' must be"),
        ("q.csv", b"question\n" + b"x\n" * (batch.MAX_INPUT_BYTES // 2), "more than the"),
    ],
)
def test_malformed_question_files_get_one_line(name, data, fragment):
    with pytest.raises(BatchInputError) as error:
        parse_questions(data, name)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_demo_set_has_about_fifty_labelled_questions():
    questions = demo_questions()
    assert 45 <= len(questions) <= 60
    assert all(question.answers for question in questions)
    assert len({question.text for question in questions}) == len(questions)


def test_rouge_l_and_any_gold_counts():
    # "the capital of france is paris" has 6 tokens, "paris" 1: P = 1/6, R = 1, F = 2 * (1/6) / (7/6) = 2/7.
    assert rouge_l("The capital of France is Paris.", "Paris") == pytest.approx(2 / 7)
    assert rouge_l("Paris", "paris") == 1.0
    rule = CorrectnessRule("rouge", 0.3)
    # "8" in "A spider has 8 legs.": P = 1/5, R = 1 -> F = 1/3; "eight" does not occur -> 0. Best is 1/3.
    assert match_score("A spider has 8 legs.", ["eight", "8"], rule) == pytest.approx(1 / 3)
    assert match_score("anything", [], rule) is None


def test_grading_and_lexical_similarity_share_one_tokenizer_that_reads_every_script():
    # rouge-score's own tokenizer keeps [a-z0-9] only, so these were graded 0 before.
    rule = CorrectnessRule("rouge-recall", 1.0)
    assert match_score("Столица Франции — Париж.", ["Париж"], rule) == 1.0
    assert match_score("答案是 東京", ["東京"], rule) == 1.0
    assert match_score("Столица Франции — Лион.", ["Париж"], rule) == 0.0
    assert rouge_l("Париж", "Париж") == rouge_l_matrix(["Париж", "Париж!"])[0, 1] == 1.0


def test_rouge_recall_asks_only_that_the_gold_answer_appears():
    # The F-measure above punishes the sentence (2/7); the recall of "paris" is 1/1.
    assert rouge_l("The capital of France is Paris.", "Paris", "recall") == 1.0
    rule = CorrectnessRule("rouge-recall", 1.0)
    # LCS of "leonardo da vinci" with "painted by da vinci" is "da vinci": recall 2/3; the alias "da Vinci" has 2/2.
    assert match_score("It was painted by da Vinci.", ["Leonardo da Vinci"], rule) == pytest.approx(2 / 3)
    assert match_score("It was painted by da Vinci.", ["Leonardo da Vinci", "da Vinci"], rule) == 1.0
    assert match_score("The capital of France is Lyon.", ["Paris"], rule) == 0.0


def test_correctness_rule_is_validated():
    with pytest.raises(BatchInputError, match="between 0 and 1"):
        CorrectnessRule(threshold=1.5)
    with pytest.raises(BatchInputError, match="method"):
        CorrectnessRule(method="exact")


@pytest.mark.slow
def test_embedding_match_uses_the_best_gold(embedder):
    from uqviz.models.similarity import BiEncoderSimilarity

    similarity = BiEncoderSimilarity(embedder)
    rule = CorrectnessRule("embedding", 0.75)
    best = match_score("Paris", ["Rome", "Paris"], rule, similarity)
    assert best == pytest.approx(1.0, abs=1e-5)
    assert match_score("Paris", ["Rome"], rule, similarity) < best


def fake_row(question: Question, value: float) -> dict:
    row = {name: None for name in NAMES}
    row.update(
        question=question.text, gold="|".join(question.answers), greedy_answer=f"{' '.join(question.answers)} answers {question.text}",
        match_score=1.0,
        correct=1, samples=["a, \"quoted\"\nline", "b"], judge="Strict bidirectional entailment; NLI: judge \"x\", v1",
        reasons={NAMES[-1]: "no model"}, seconds=0.5,
    )
    row[NAMES[0]] = value
    return row


@pytest.fixture
def scored(monkeypatch):
    """Replace the model work by a recorder: which questions were scored."""
    calls = []

    def score_question(question, lm, settings, config, embedder, nli=None):
        calls.append(question.text)
        return fake_row(question, float(len(calls)))

    monkeypatch.setattr(batch, "score_question", score_question)
    return calls


QUESTIONS = [Question("one?", ("1",)), Question("two?", ("2",)), Question("three?", ("3",))]


def test_interrupted_batch_keeps_rows_and_resumes(tmp_path, scored):
    out = tmp_path / "results.csv"
    run_batch(QUESTIONS[:2], None, out)
    assert scored == ["one?", "two?"]
    first_rows = read_results(out)
    assert [row["question"] for row in first_rows] == ["one?", "two?"]
    assert first_rows[0]["samples"] == ["a, \"quoted\"\nline", "b"] and first_rows[0]["reasons"] == {NAMES[-1]: "no model"}
    assert first_rows[0]["judge"] == fake_row(QUESTIONS[0], 0.0)["judge"]
    progress = []
    rows = run_batch(QUESTIONS, None, out, progress=progress.append)
    # Only the new question was scored; the earlier rows come back from the file unchanged.
    assert scored == ["one?", "two?", "three?"]
    assert rows[:2] == first_rows and rows[2][NAMES[0]] == 3.0
    assert [state.done for state in progress] == [2, 3] and progress[0].resumed == 2
    assert progress[-1].seconds_left == 0.0 and progress[-1].question == "three?"
    assert len(read_results(out)) == 3


def test_a_row_cut_short_is_computed_again(tmp_path, scored):
    out = tmp_path / "results.csv"
    run_batch(QUESTIONS[:2], None, out)
    text = out.read_text(encoding="utf-8")
    out.write_text(text[: text.rindex("0.5")], encoding="utf-8")  # the last row lost its seconds
    run_batch(QUESTIONS[:2], None, out)
    assert scored == ["one?", "two?", "two?"]
    with out.open(newline="", encoding="utf-8") as handle:
        assert [row["question"] for row in csv.DictReader(handle)] == ["one?", "two?"]


def test_resumed_rows_are_graded_again_under_a_new_rule_or_new_golds(tmp_path, scored):
    out = tmp_path / "results.csv"
    run_batch(QUESTIONS[:2], None, out)  # "1 answers one?" contains its gold "1": correct
    assert [row["correct"] for row in read_results(out)] == [1, 1]
    strict = BatchSettings(correctness=CorrectnessRule("rouge", 0.5))  # F of "1" in 3 tokens is 1/2: still correct
    assert [row["correct"] for row in run_batch(QUESTIONS[:2], None, out, strict)] == [1, 1]
    stricter = BatchSettings(correctness=CorrectnessRule("rouge", 0.6))
    rows = run_batch(QUESTIONS[:2], None, out, stricter)
    assert [(row["match_score"], row["correct"]) for row in rows] == [(pytest.approx(0.5), 0)] * 2
    assert [row["correct"] for row in read_results(out)] == [0, 0]  # the file holds the new grades
    renamed = [Question("one?", ("uno",))]  # "two?" left the file: its row is kept as it was
    rows = run_batch(renamed, None, out)
    assert [(row["gold"], row["correct"]) for row in rows] == [("uno", 0)]
    assert [(row["question"], row["correct"]) for row in read_results(out)] == [("one?", 0), ("two?", 0)]
    assert scored == ["one?", "two?"]  # no question was sampled or scored again
    with pytest.raises(BatchInputError, match="needs an embedder"):
        run_batch(renamed, None, out, BatchSettings(correctness=CorrectnessRule("embedding", 0.75)))


def test_an_interrupted_rewrite_keeps_the_old_results_file(tmp_path, scored, monkeypatch):
    out = tmp_path / "results.csv"
    run_batch(QUESTIONS[:2], None, out)
    before = out.read_text(encoding="utf-8")

    def failing_cell(value):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_cell", failing_cell)
    with pytest.raises(KeyboardInterrupt):
        run_batch(QUESTIONS[:2], None, out, BatchSettings(correctness=CorrectnessRule("rouge", 0.6)))
    assert out.read_text(encoding="utf-8") == before


def test_results_file_with_other_columns_is_rewritten_keeping_rows(tmp_path, scored):
    out = tmp_path / "results.csv"
    columns = [column for column in result_columns(NAMES) if column != NAMES[1]] + ["retired_measure"]
    batch.write_results(out, [{**fake_row(QUESTIONS[0], 7.0), "retired_measure": 0.25}], columns)
    rows = run_batch(QUESTIONS[:2], None, out)
    assert scored == ["two?"]
    assert rows[0][NAMES[0]] == 7.0 and rows[0].get(NAMES[1]) is None and rows[0]["retired_measure"] == 0.25
    with out.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[: len(result_columns(NAMES))] == result_columns(NAMES) and header[-1] == "retired_measure"


def test_a_file_that_is_not_a_results_file_is_refused(tmp_path, scored):
    out = tmp_path / "results.csv"
    out.write_text("name,score\nx,1\n")
    with pytest.raises(BatchInputError, match="not a uqviz results file"):
        run_batch(QUESTIONS, None, out)
    assert scored == []


def test_report_per_measure_matches_the_evaluation_functions():
    correct = [1, 0, 1, 0, None]
    values = [0.1, 0.9, 0.4, 0.3, 0.5]
    rows = []
    for index, (label, value) in enumerate(zip(correct, values)):
        row = fake_row(Question(f"q{index}?"), value)
        row["correct"] = label
        row[NAMES[1]] = 1.0
        rows.append(row)
    report = build_report(rows, BatchSettings(), "m")
    json.dumps(report, allow_nan=False)
    assert (report["questions"], report["labelled"], report["accuracy"]) == (5, 4, 0.5)
    first = report["measures"][NAMES[0]]
    assert first["auroc"] == auroc(correct, values) == pytest.approx(0.75)
    assert first["prr"] == pytest.approx(prediction_rejection_ratio(correct, values))
    assert first["count"] == 4 and len(first["risk_coverage"]["coverage"]) == 4
    assert sum(entry["count"] for entry in first["calibration"]) == 4
    constant = report["measures"][NAMES[1]]
    assert constant["auroc"] == 0.5 and constant["prr"] == pytest.approx(0.0)
    missing = report["measures"][NAMES[-1]]
    assert missing["auroc"] is None and missing["reason"] == "no model" and missing["count"] == 0
    assert set(report["measures"]) == set(NAMES)
    assert batch.ranked_measures(report)[0][0] == NAMES[0]
    asked = BatchSettings(chat=True, system_prompt="Answer briefly.")
    assert (report["settings"]["chat"], build_report(rows, asked, "m")["settings"]["system_prompt"]) == (True, "Answer briefly.")
    base_model = build_report(rows, asked, "m", chat_template=False)["settings"]  # as each run records: no template, no chat
    assert (base_model["chat"], base_model["system_prompt"]) == (False, None)
    assert report["settings"]["judges"] == [rows[0]["judge"]]
    rows[1]["judge"], rows[2]["judge"] = "Embedding cosine ≥ 0.65", None  # a resumed file scored under another judge, and an old file's row
    assert build_report(rows, BatchSettings(), "m")["settings"]["judges"] == [rows[0]["judge"], "Embedding cosine ≥ 0.65"]


@pytest.mark.slow
def test_a_row_grades_the_greedy_answer_by_default_recall_and_uqac_analyses_that_answer(language_model, embedder, monkeypatch, tmp_path):
    from uqviz.statistics import uqac
    from uqviz.format.run import SamplingSettings
    from uqviz.engine.sampling import sample
    from uqviz.statistics.base import RunStatistics, ScoreConfig

    def no_second_greedy(*args):
        raise AssertionError("the greedy answer was generated again for UQAC")

    monkeypatch.setattr(uqac, "greedy_answer", no_second_greedy)
    question = Question("What is the capital of France?", ("Paris",))
    settings = BatchSettings(SamplingSettings(n=2, max_new_tokens=10, seed=1))
    assert settings.correctness == CorrectnessRule("rouge-recall", 1.0)
    row = run_batch([question], language_model, tmp_path / "res.csv", settings, embedder=embedder)[0]

    greedy = sample(language_model, question.text, SamplingSettings(n=1, temperature=0.0, max_new_tokens=10, seed=1))
    assert row["greedy_answer"] == greedy.samples[0].text
    assert row["match_score"] == pytest.approx(rouge_l(row["greedy_answer"], "Paris", "recall"))
    assert row["correct"] == int(row["match_score"] >= 1.0)
    alone = REGISTRY["uqac"].compute(RunStatistics(greedy, ScoreConfig(uqac_sample=0), language_model=language_model))
    assert row["uqac"] == pytest.approx(alone.value, rel=1e-6)


@pytest.mark.slow
def test_batch_command_end_to_end_with_resume(tmp_path):
    lines = ["question,answer", "What is the capital of France?,Paris", "How many legs does a spider have?,8|eight",
             "Who wrote Romeo and Juliet?,William Shakespeare|Shakespeare"]
    prefix, full = tmp_path / "prefix.csv", tmp_path / "q.csv"
    prefix.write_text("\n".join(lines[:3]) + "\n")
    full.write_text("\n".join(lines) + "\n")
    out, report_path = tmp_path / "res.csv", tmp_path / "report.json"
    common = ["--n", "2", "--max-new-tokens", "12", "--out", str(out)]
    first = run_cli("batch", str(prefix), *common, check=False, timeout=900)
    assert first.returncode == 0, first.stderr
    done_before = out.read_text(encoding="utf-8").splitlines()
    second = run_cli("batch", str(full), *common, "--report", str(report_path), check=False, timeout=900)
    assert second.returncode == 0, second.stderr
    assert "resuming: 2 of 3" in second.stderr and "[3/3" in second.stderr and "[2/3" not in second.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("\n".join(done_before))  # the first two rows were not recomputed
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["question"] for row in rows] == [line.split(",")[0] for line in lines[1:]]
    assert {"question", "correct", *NAMES} <= set(rows[0])
    assert all(row["correct"] in {"0", "1"} for row in rows)
    assert all(row["predictive_entropy"] for row in rows)
    report = json.loads(report_path.read_text())
    assert report["schema"] == "uqviz.batch-report/1" and report["questions"] == 3
    [judge] = report["settings"]["judges"]
    assert judge.startswith("Strict bidirectional entailment") and "NLI: packaged NLI judge" in judge
    assert set(report["measures"]) == set(NAMES)
    for evaluation in report["measures"].values():
        assert {"auroc", "prr", "risk_coverage", "calibration"} <= set(evaluation)


@pytest.mark.slow
def test_batch_command_rejects_bad_input_with_one_line(tmp_path):
    bad = tmp_path / "q.csv"
    bad.write_text("prompt\nx\n")
    result = run_cli("batch", str(bad), "--out", str(tmp_path / "r.csv"), check=False, timeout=900)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "'question' column" in result.stderr
    missing = run_cli("batch", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r.csv"), check=False, timeout=900)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    good = tmp_path / "good.csv"
    good.write_text("question\nx\n")
    threshold = run_cli("batch", str(good), "--out", str(tmp_path / "r.csv"), "--threshold", "2", check=False, timeout=900)
    assert threshold.returncode == 2 and "between 0 and 1" in threshold.stderr


def test_batch_key_names_the_sampling_not_the_grading():
    settings = BatchSettings()
    key = batch.batch_key(QUESTIONS, settings, "model")
    regraded = BatchSettings(correctness=CorrectnessRule("embedding", 0.8))
    assert batch.batch_key([Question(q.text, ("other",)) for q in QUESTIONS], regraded, "model") == key
    assert batch.batch_key(QUESTIONS, settings, "other model") != key
    assert batch.batch_key(QUESTIONS, settings, "model", "nli:default") != key
    assert batch.batch_key(QUESTIONS[:2], settings, "model") != key
    assert batch.batch_key(QUESTIONS, replace(settings, sampling=replace(settings.sampling, n=3)), "model") != key


@pytest.mark.parametrize("field, value", [("correct", "inf"), ("samples", "[" * 10_000 + "]" * 10_000)])
def test_a_results_row_with_an_infinite_grade_or_endless_nesting_is_refused_in_one_sentence(tmp_path, scored, field, value):
    out = tmp_path / "results.csv"
    run_batch(QUESTIONS[:1], None, out)
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0][field] = value
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(BatchInputError, match="not a uqviz results row"):
        read_results(out)


class EntailingNli:
    """P(entailment) written by hand per (premise, hypothesis): the logits are the logs of the probabilities."""

    def __init__(self, entailment: dict[tuple[str, str], float]) -> None:
        self.entailment = entailment

    def pair_logits(self, premises, hypotheses):
        import numpy as np

        rows = []
        for pair in zip(premises, hypotheses):
            p = self.entailment.get(pair, 0.1)
            rows.append([(1 - p) / 2, (1 - p) / 2, p])
        return np.log(np.asarray(rows))


def test_grading_by_the_meaning_judge_reads_the_best_gold_and_graders_are_compared(tmp_path):
    """docs/methods.md §0.3: P(entailment) of "question gold" given "question answer", the best gold, against 0.5; the
    report counts, per grader, the answers it calls correct and the labels that differ from the chosen grader's."""
    from uqviz.workflows.batch import JUDGE, grade, grader_agreement

    q = "Capital of France?"
    nli = EntailingNli({(f"{q} It is Paris.", f"{q} Paris"): 0.9, (f"{q} It is Paris.", f"{q} Paris, France"): 0.6,
                        (f"{q} Not Paris but Lyon.", f"{q} Paris"): 0.3})
    rule = CorrectnessRule(JUDGE, 0.5)
    assert match_score("It is Paris.", ["Paris, France", "Paris"], rule, question=q, nli=nli) == pytest.approx(0.9)
    assert grade("Not Paris but Lyon.", ["Paris"], rule, None, q, lambda: nli) == {"gold": "Paris", "match_score": pytest.approx(0.3), "correct": 0}
    questions = [Question(q, ("Paris",)), Question("Two?", ("2",))]
    rows = [{"question": q, "greedy_answer": "Not Paris but Lyon.", "correct": 1},  # ROUGE recall: "Paris" appears
            {"question": q, "greedy_answer": "It is Paris.", "correct": 1},
            {"question": "Two?", "greedy_answer": "3", "correct": 0}]
    agreement = grader_agreement(rows, questions, CorrectnessRule(), None, lambda: nli)
    assert set(agreement) == {"rouge", "rouge-recall", "judge"}  # no embedder: no embedding grader
    assert agreement["rouge-recall"] == {"threshold": 1.0, "labelled": 3, "correct": 2, "changed": 0}
    assert agreement["judge"] == {"threshold": 0.5, "labelled": 3, "correct": 1, "changed": 1}

    def broken():
        from uqviz.models.loading import ModelLoadError

        raise ModelLoadError("NLI model 'x' is not a folder.")

    skipped = grader_agreement(rows, questions, CorrectnessRule(), None, broken)
    assert skipped["judge"] == {"threshold": 0.5, "skipped": "NLI model 'x' is not a folder."} and skipped["rouge"]["labelled"] == 3
    with pytest.raises(BatchInputError, match="needs an NLI model"):
        run_batch(questions, None, tmp_path / "res.csv", BatchSettings(correctness=rule), nli=None)


@pytest.mark.slow
def test_the_packaged_judge_grades_a_chatty_right_answer_right_and_a_wrong_one_wrong():
    from uqviz.api import load_nli_model
    from uqviz.workflows.batch import JUDGE

    nli, rule, q = load_nli_model("default"), CorrectnessRule(JUDGE, 0.5), "What is the capital of France?"
    assert match_score("The capital of France is Paris.", ["Paris"], rule, question=q, nli=nli) >= 0.5
    assert match_score("The capital of France is Lyon.", ["Paris"], rule, question=q, nli=nli) < 0.5


def test_a_batch_scores_token_relevance_without_the_runs_budget(tmp_path, monkeypatch):
    """docs/methods.md §4.6: a batch is an explicit long job; long answers must not silently drop out of its AUROC."""
    seen = []

    def score_question(question, lm, settings, config, embedder, nli=None):
        seen.append(config.relevance_budget)
        return fake_row(question, 1.0)

    monkeypatch.setattr(batch, "score_question", score_question)
    run_batch(QUESTIONS[:1], None, tmp_path / "res.csv")
    assert seen == [None]
