"""The meaning judge: the `auto` rule (NLI when it loads, else embeddings with a note), `uqviz judge` on answer pairs,
and the packaged NLI judge on the worked examples."""

from __future__ import annotations

import csv
import json
import functools
import shutil

import pytest

from tests.conftest import make_run, run_cli
from uqviz.models.loading import ModelLoadError
from uqviz.models.nli import DEFAULT_NLI, default_nli_path, load_nli
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics, ScoreConfig
from uqviz.statistics.clustering import EMBEDDING_RULE, MEANING_JUDGE, STRICT_RULE, answer_clustering
from uqviz.workflows.judging import judge_pairs, read_pairs

ROME = ["Rome."] * 5 + ["The capital of Italy is Rome."] * 5
ROME_MILAN = ["The capital of Italy is Rome."] * 5 + ["The capital of Italy is Milan."] * 5


def broken_nli():
    raise ModelLoadError("NLI model 'gone' is not a folder with config.json.")


def test_auto_rule_is_strict_entailment_when_the_nli_model_loads(tiny_nli):
    entailing = functools.partial(load_nli, str(tiny_nli("entailment")))
    statistics = RunStatistics(make_run(["Paris", "Lyon", "Nice"]), nli=entailing)
    assert MEANING_JUDGE(statistics).rule == STRICT_RULE and MEANING_JUDGE(statistics).note is None
    assert answer_clustering(statistics).count == 1  # every pair entails both ways
    contradicting = RunStatistics(make_run(["Paris", "Lyon", "Nice"]), nli=functools.partial(load_nli, str(tiny_nli("contradiction"))))
    assert answer_clustering(contradicting).count == 3


def test_a_missing_nli_model_falls_back_to_embeddings_with_a_note(embedder):
    run = make_run(["Paris", "Paris.", "I have no idea."])
    statistics = RunStatistics(run, embedder=embedder, nli=broken_nli)
    judge = MEANING_JUDGE(statistics)
    assert judge.rule == EMBEDDING_RULE and "not a folder" in judge.note and "embedding cosine instead" in judge.note
    scores = score_run(run, statistics).to_dict()
    assert scores["judge"]["rule"] == EMBEDDING_RULE and "embedding cosine instead" in scores["judge"]["note"]
    assert scores["measures"]["num_semantic_sets"]["value"] == 2.0
    # no NLI at all: the embedding rule, without a note
    plain = RunStatistics(run, embedder=embedder)
    assert MEANING_JUDGE(plain).rule == EMBEDDING_RULE and MEANING_JUDGE(plain).note is None
    # an explicit NLI rule with no NLI model is a reason, not a silent fallback
    strict = RunStatistics(run, ScoreConfig(cluster_rule=STRICT_RULE), embedder=embedder)
    assert score_run(run, strict, ["num_semantic_sets"]).measures["num_semantic_sets"].result.reason == "no NLI model is configured"


def test_judge_pairs_reports_both_directions_and_the_rule(tiny_nli, embedder):
    pairs = [("Q?", "Paris", "The capital is Paris."), ("Q?", "Paris", "Lyon")]
    judged, note = judge_pairs(pairs, nli=functools.partial(load_nli, str(tiny_nli("entailment"))))
    assert note is None and [pair.same for pair in judged] == [1, 1] and judged[0].rule == STRICT_RULE
    assert judged[0].label_ab == judged[0].label_ba == "entailment" and judged[0].entailment_ab == pytest.approx(1.0)
    judged, _ = judge_pairs(pairs + [("Q?", "Paris", "Paris")], nli=functools.partial(load_nli, str(tiny_nli("contradiction"))))
    assert [pair.same for pair in judged] == [0, 0, 1] and judged[1].contradiction_ba == pytest.approx(1.0)
    assert judged[2].entailment_ab == judged[2].entailment_ba == 1.0 and judged[2].label_ab == "entailment"  # as clustering
    judged, note = judge_pairs(pairs, nli=broken_nli, embedder=lambda: embedder)
    assert judged[0].rule == EMBEDDING_RULE and judged[0].cosine > 0.65 and judged[0].same == 1 and "instead" in note


@pytest.mark.slow
def test_judge_command_writes_the_pairs_with_labels_and_refuses_bad_files(tmp_path, tiny_nli):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text('question,a,b\nWhat is the capital of Italy?,Rome,"The capital of Italy is Rome."\n', encoding="utf-8")
    out = tmp_path / "judged.csv"
    judged = run_cli("judge", str(pairs), "--out", str(out), "--nli", str(tiny_nli("neutral")), progress_bars=True)
    assert judged.stderr.splitlines() == [f"judged 1 pairs under the strict rule: 0 same, 1 different; wrote {out}"]
    (row,) = csv.DictReader(out.open(encoding="utf-8"))
    assert row["same"] == "0" and row["label_ab"] == row["label_ba"] == "neutral" and row["rule"] == STRICT_RULE
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nQ,A\n", encoding="utf-8")
    result = run_cli("judge", str(bad), "--out", str(out), check=False)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and "lacks a, b" in result.stderr
    result = run_cli("judge", str(pairs), "--out", str(tmp_path / "missing" / "x.csv"), check=False)
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = run_cli("judge", str(pairs), "--out", str(out), "--nli", str(tmp_path / "gone"))
    assert "embedding cosine instead" in result.stderr and next(csv.DictReader(out.open()))["rule"] == EMBEDDING_RULE


def test_read_pairs_names_the_problem(tmp_path):
    header_only = tmp_path / "header.csv"
    header_only.write_text("question,a,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no pairs"):
        read_pairs(header_only)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        read_pairs(empty)
    short = tmp_path / "short.csv"
    short.write_text("question,a,b\nQ?,Paris,Lyon\nQ?,Paris\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3 has fewer fields"):
        read_pairs(short)


@pytest.mark.slow
def test_the_packaged_judge_separates_facts_and_joins_short_and_long_forms(embedder):
    assert (default_nli_path() / "config.json").is_file() and (default_nli_path() / "README.md").is_file()
    judge = functools.cache(lambda: load_nli(DEFAULT_NLI))
    question = "What is the capital of Italy?"
    same = RunStatistics(make_run(ROME, prompt=question), embedder=embedder, nli=judge)
    assert MEANING_JUDGE(same).rule == STRICT_RULE and answer_clustering(same).count == 1
    different = RunStatistics(make_run(ROME_MILAN, prompt=question), embedder=embedder, nli=judge)
    assert answer_clustering(different).count == 2
    pairs = [
        ("What is the capital of France?", "The capital of France is Paris.", "The capital of France is London."),
        ("What is 17 times 23?", "17 times 23 is 391.", "17 times 23 is 401."),
        ("Who wrote Middlemarch?", "Middlemarch was written by George Eliot.", "Middlemarch was written by Charles Dickens."),
        ("What is 17 times 23?", "The answer is 391.", "It equals 391."),
    ]
    judged, note = judge_pairs(pairs, nli=judge)
    assert note is None and [pair.same for pair in judged] == [0, 0, 0, 1]


def test_load_nli_refuses_a_missing_folder_in_one_sentence(tmp_path):
    with pytest.raises(ModelLoadError, match="not a folder with config.json"):
        load_nli(str(tmp_path / "nothing-here"))
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="Could not load NLI model"):
        load_nli(str(tmp_path / "corrupt"))
    (tmp_path / "corrupt" / "config.json").write_text("[1, 2]", encoding="utf-8")  # JSON, but no object
    with pytest.raises(ModelLoadError, match="Could not load NLI model .*TypeError"):
        load_nli(str(tmp_path / "corrupt"))


def test_load_nli_refuses_cut_weights_and_missing_tokenizer_files(tmp_path, tiny_nli):
    cut = shutil.copytree(tiny_nli(), tmp_path / "cut")
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="Could not load NLI model .*SafetensorError"):
        load_nli(str(cut))
    untokenized = shutil.copytree(tiny_nli(), tmp_path / "untokenized")
    for tokenizer_file in untokenized.glob("*token*"):
        tokenizer_file.unlink()
    with pytest.raises(ModelLoadError, match="tokenizer of .* tokens for 30522 embeddings"):
        load_nli(str(untokenized))


def test_a_judge_that_fails_to_load_is_tried_once_per_process(tmp_path, monkeypatch):
    from uqviz import api
    from uqviz.models import nli

    attempts = []
    monkeypatch.setattr(nli, "load_nli", lambda spec: attempts.append(spec) or broken_nli())
    spec = str(tmp_path / "once")
    for _ in range(3):
        with pytest.raises(ModelLoadError, match="not a folder"):
            api.load_nli_model(spec)
    assert attempts == [spec]


def test_pairs_saved_by_a_spreadsheet_with_a_byte_order_mark_are_read(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("question,a,b\r\nQ?,Paris,Lyon\r\n".encode("utf-8-sig"))
    assert read_pairs(path) == [("Q?", "Paris", "Lyon")]


def test_the_nli_hover_shows_both_directions_on_separate_escaped_lines():
    import numpy as np

    from uqviz.viz.clusters import pairwise_heatmap_figure

    hover = np.array([["<b>a</b>\nsecond", "x\ny"], ["p\nq", "r\ns"]], dtype=object)
    figure = pairwise_heatmap_figure(np.eye(2), [0, 1], "P", hover=hover)
    assert figure.data[0].customdata[0][0] == "&lt;b&gt;a&lt;/b&gt;<br>second"
    assert "%{customdata}" in figure.data[0].hovertemplate


def test_long_empty_and_unseen_script_answers_get_a_verdict_and_the_cut_is_counted(packaged_nli, embedder):
    question = "What is the capital of France?"
    long_answer = "The capital of France is Paris. " + "It has many museums and long avenues. " * 700  # about 5,600 tokens
    pairs = [(question, long_answer, "Paris."), (question, "", "Paris."), (question, "ᚠᚢᚦᚨᚱᚲ ᚷᚹ", "𓀀𓀁𓀂 𓀃"),
             (question, long_answer + " Yes.", long_answer)]
    judged, note = judge_pairs(pairs, STRICT_RULE, lambda: packaged_nli, lambda: embedder)
    assert [pair.same in (0, 1) for pair in judged] == [True] * 4 and all(pair.label_ab and pair.label_ba for pair in judged)
    assert note == (f"2 answers are longer than the NLI judge reads ({packaged_nli.context_length} tokens with the question) "
                    "and judged on their beginning only.")
    assert judge_pairs(pairs[1:3], STRICT_RULE, lambda: packaged_nli, lambda: embedder)[1] is None

    run = make_run([long_answer, "Paris.", "", "ᚠᚢᚦᚨᚱᚲ"], prompt=question)
    statistics = RunStatistics(run, ScoreConfig(), embedder=embedder, nli=packaged_nli)
    assert answer_clustering(statistics).count >= 2
    assert MEANING_JUDGE(statistics).note.startswith("1 answer is longer than the NLI judge reads")


def test_an_nli_folder_with_remote_code_is_refused_without_asking_and_its_code_never_runs(tmp_path, monkeypatch):
    folder = tmp_path / "judge"
    shutil.copytree(default_nli_path(), folder)
    marker = tmp_path / "ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import BertConfig as EvilConfig\n")
    config = json.loads((folder / "config.json").read_text())
    config |= {"model_type": "evil-bert", "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilConfig"}}
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr("builtins.input", lambda *args: pytest.fail("the loader asked on the terminal"))
    with pytest.raises(ModelLoadError, match="Could not load NLI model"):
        load_nli(str(folder))
    assert not marker.exists()
