"""Claims: sentence spans, token spans across split characters, support and LUQ against numbers worked by hand
(docs/methods.md §13), bad input, and `uqviz claims` / `uqviz.claims` on a real run with the packaged judge."""

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import make_run, run_cli
from uqviz.format.run import Sample
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import RunStatistics
from uqviz.statistics.claims import MAX_CLAIMS_PER_ANSWER, answer_claims, sentence_spans, token_character_spans
from uqviz.workflows.claims import COLUMNS, claim_ccp_uncertainty, claims_table, relevance_weighted_entropy


def sentences(text):
    return [text[start:end] for start, end in sentence_spans(text)]


@pytest.mark.parametrize("text, expected", [
    ("He met Mr. Smith on Jan. 5. They talked.", ["He met Mr. Smith on Jan. 5.", "They talked."]),
    ("The U.S. economy grew 2.5% in 2020. Prices rose.", ["The U.S. economy grew 2.5% in 2020.", "Prices rose."]),
    ("Steps:\n1. Boil water.\n2. Add tea.", ["Steps:", "1. Boil water.", "2. Add tea."]),
    ("北京是中国的首都。它有很多人！你去过吗？", ["北京是中国的首都。", "它有很多人！", "你去过吗？"]),
    ("भारत एक देश है। इसकी राजधानी दिल्ली है।", ["भारत एक देश है।", "इसकी राजधानी दिल्ली है।"]),
    ("  Paris is the capital of France  ", ["Paris is the capital of France"]),
    ("", []),
    ("   \n ", []),
])
def test_sentences_are_exact_substrings_split_at_real_boundaries(text, expected):
    assert sentences(text) == expected


def test_token_spans_cover_split_characters_exactly():
    # "Hi 😀." : the emoji's four bytes are split over two byte tokens, whose texts cannot hold them
    sample = Sample(text="Hi 😀.", token_ids=None, tokens=["Hi", " \ufffd", "\ufffd", "."], logprobs=[-0.1] * 4,
                    entropies=[], finish_reason="stop", token_bytes=[None, [32, 240, 159], [152, 128], None])
    assert token_character_spans(sample) == [(0, 2), (2, 4), (3, 4), (4, 5)]
    claim = answer_claims([sample]).claims[0][0]
    assert (claim.text, claim.start, claim.end, claim.first_token, claim.last_token) == ("Hi 😀.", 0, 5, 0, 3)
    unspelt = replace(sample, token_bytes=[])  # without the bytes the texts do not spell the answer
    assert token_character_spans(unspelt) is None and answer_claims([unspelt]).claims[0][0].first_token is None


@pytest.mark.slow
def test_token_spans_on_hebrew_cjk_and_emoji_answers_of_the_real_tokenizer(language_model):
    from tests.test_measures_sar import split_character_run

    for sample in split_character_run(language_model, "none").samples:
        spans = token_character_spans(sample)
        assert spans is not None and spans[0][0] == 0 and spans[-1][1] == len(sample.text)
        for claim in answer_claims([sample]).flat:
            covered = sample.text[spans[claim.first_token][0] : spans[claim.last_token][1]]
            assert claim.text in covered and covered.strip() == claim.text  # exactly the claim, nothing of a neighbour


class ScriptedNli:
    """NLI probabilities written by hand: logits are their logs, so softmax gives them back exactly."""

    calls = 0

    def pair_logits(self, premises, hypotheses):
        self.calls += 1
        return np.log([self.probabilities(p, h) for p, h in zip(premises, hypotheses)])

    @staticmethod
    def probabilities(premise, hypothesis):  # (contradiction, neutral, entailment)
        if hypothesis == "It is big.":
            return (0.1, 0.8, 0.1)
        if "Paris" in hypothesis:
            return (0.05, 0.15, 0.8) if "Paris" in premise else (0.7, 0.2, 0.1)
        return (0.6, 0.3, 0.1)  # Lyon, against an answer naming Paris


WORKED = make_run(["Paris is the capital. It is big.", "Paris is the capital.", "Lyon is the capital."])


def test_support_and_luq_worked_example():
    """docs/methods.md §13.4: one answer contradicts the Paris claims, two contradict the Lyon claim."""
    table = claims_table(RunStatistics(WORKED, nli=ScriptedNli()))
    assert [(row.sample, row.claim) for row in table.rows] == [
        (0, "Paris is the capital."), (0, "It is big."), (1, "Paris is the capital."), (2, "Lyon is the capital.")]
    # support = mean P(e): (0.8 + 0.1) / 2; LUQ score = mean P(e) / (P(e) + P(c)) = (0.8/0.85 + 0.1/0.8) / 2 = 0.533088
    assert [row.support for row in table.rows] == pytest.approx([0.45, 0.1, 0.45, 0.1])
    assert [row.luq_uncertainty for row in table.rows] == pytest.approx([0.466912, 0.5, 0.466912, 0.857143], abs=1e-6)
    assert [row.contradicting for row in table.rows] == [1, 0, 1, 2]
    luq = REGISTRY["luq"].compute(RunStatistics(WORKED, nli=ScriptedNli()))
    assert luq.per_sample == pytest.approx([0.483456, 0.466912, 0.857143], abs=1e-6) and luq.value == pytest.approx(0.602504, abs=1e-6)
    least = REGISTRY["max_claim_uncertainty"].compute(RunStatistics(WORKED, nli=ScriptedNli()))
    assert least.per_sample == pytest.approx([0.5, 0.466912, 0.857143], abs=1e-6) and least.value == pytest.approx(0.608018, abs=1e-6)


def test_a_contradicted_claim_has_lower_support_than_the_same_claim_backed():
    backed = claims_table(RunStatistics(make_run(["Paris is the capital.", "Paris is the capital.", "Paris is the capital."]), nli=ScriptedNli()))
    contradicted = claims_table(RunStatistics(WORKED, nli=ScriptedNli()))
    assert backed.rows[0].support == pytest.approx(0.8) and contradicted.rows[0].support < backed.rows[0].support
    assert backed.rows[0].luq_uncertainty < contradicted.rows[0].luq_uncertainty


def test_claim_token_statistics_worked_examples():
    # Σ R H / Σ R = (0.1·1 + 0.3·2 + 0·3) / 0.4 = 1.75; no relevant token: the plain mean 2
    assert relevance_weighted_entropy([1.0, 2.0, 3.0], [0.1, 0.3, 0.0]) == pytest.approx(1.75)
    assert relevance_weighted_entropy([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == pytest.approx(2.0)
    assert claim_ccp_uncertainty([0.9, 0.8]) == pytest.approx(0.28)  # 1 − 0.9·0.8, over the claim's tokens only
    run = make_run(["Cats purr. Dogs bark.", "Cats purr."], [[-0.5, -1.0, -2.0, -0.1], [-0.3, -0.2]])
    first = replace(run.samples[0], tokens=["Cats", " purr.", " Dogs", " bark."], entropies=[0.5, 1.5, 2.5, 0.2])
    run = replace(run, samples=[first, replace(run.samples[1], tokens=["Cats", " purr."], entropies=[1.0, 0.0])])
    rows = claims_table(RunStatistics(run, nli=ScriptedNli())).rows
    assert [(row.first_token, row.last_token) for row in rows] == [(0, 1), (2, 3), (0, 1)]
    assert (rows[1].mean_logprob, rows[1].min_logprob, rows[1].max_token_entropy) == pytest.approx((-1.05, -2.0, 2.5))


def test_bad_answers_are_bounded_and_say_so():
    long = " ".join(f"Sentence {i}." for i in range(10_000))
    run = make_run(["", "Paris", "no sentence mark at all", long[:19_000]])
    found = answer_claims(run.samples)
    assert [len(claims) for claims in found.claims] == [0, 1, 1, MAX_CLAIMS_PER_ANSWER]
    assert found.left_out[:3] == [0, 0, 0] and found.left_out[3] > 1000
    table = claims_table(RunStatistics(run, nli=ScriptedNli()))
    assert len(table.notes) == 1 and "S4 has" in table.notes[0] and "left out" in table.notes[0]
    luq = REGISTRY["luq"].compute(RunStatistics(run, nli=ScriptedNli()))
    assert luq.per_sample[0] == 1.0 and all(math.isfinite(u) for u in luq.per_sample)  # the empty answer backs nothing
    alone = claims_table(RunStatistics(make_run(["Paris is big."]), nli=ScriptedNli()))
    assert alone.rows[0].support is None and "at least two answers" in alone.reasons["support"]


@pytest.mark.slow
def test_claims_cli_and_api_agree_on_a_real_run(france_run, tmp_path):
    import uqviz
    from uqviz.format.run import write_run

    path, out = tmp_path / "run.json", tmp_path / "claims.csv"
    write_run(france_run, path)
    result = run_cli("claims", str(path), "--out", str(out))
    assert f"claims of {len(france_run.samples)} answers" in result.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    frame = uqviz.claims(france_run).to_frame()
    assert len(frame) == len(rows) > 0
    for row, expected in zip(rows, frame.itertuples()):
        sample = france_run.samples[int(row["sample"])]
        assert sample.text[int(row["start"]) : int(row["end"])] == row["claim"] == expected.claim
        tokens = "".join(sample.tokens[int(row["first_token"]) : int(row["last_token"]) + 1])
        assert row["claim"] in tokens
        assert float(row["support"]) == pytest.approx(expected.support, abs=1e-6) and 0 <= expected.support <= 1
        assert float(row["max_token_entropy"]) == pytest.approx(max(sample.entropies[int(row["first_token"]) : int(row["last_token"]) + 1]))
    assert frame["ccp_uncertainty"].isna().all()
    refused = run_cli("claims", str(tmp_path / "missing.json"), "--out", str(out), check=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1


def test_claims_evaluation_matches_labels_to_claims_and_ranks_false_ones(tmp_path):
    """Two true and two false claims (and one unverifiable, left out): LUQ uncertainty [0.1, 0.3] for the true ones and
    [0.2, 0.9] for the false ones ranks 3 of the 4 (false, true) pairs right: AUROC 0.75."""
    import gzip

    from uqviz.format.run import run_to_json
    from uqviz.workflows.claims import ClaimRow, ClaimsTable, evaluate_claims

    run = make_run(["Paris is big. Rome is old. Lyon is new.", "Oslo is cold. Bonn is far."])
    with gzip.open(tmp_path / "labelled_claims_runs.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(run_to_json(run) + "\n")
    spans = [(0, 0, 13, "true"), (0, 14, 26, "false"), (0, 27, 39, "unverifiable"), (1, 0, 13, "true"), (1, 14, 26, "false")]
    with open(tmp_path / "claims.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "prompt", "sample", "start", "end", "claim", "label", "reason"])
        for sample, start, end, label in spans:
            writer.writerow([0, "Q?", sample, start, end, run.samples[sample].text[start:end], label, "by hand"])
    luq = {(0, 0): 0.1, (0, 14): 0.2, (0, 27): 0.5, (1, 0): 0.3, (1, 14): 0.9}
    rows = [ClaimRow(sample, "x", start, end, 0, 1, 1 - value, 0, value, None, None, None, None, None)
            for (sample, start), value in luq.items() for end in [next(e for s, b, e, _ in spans if (s, b) == (sample, start))]]
    result = evaluate_claims(tmp_path / "claims.csv", lambda _: ClaimsTable(rows, {}, []))
    assert (result.true_claims, result.false_claims, result.unverifiable, result.unmatched) == (2, 2, 1, 0)
    assert result.auroc["luq_uncertainty"] == pytest.approx(0.75) and result.auroc["support"] == pytest.approx(0.75)
    assert result.auroc["max_token_entropy"] is None  # no values: nothing to rank


@pytest.mark.parametrize("reply, facts", [
    ("### Paris is the capital.\n### Paris is big.", ["Paris is the capital.", "Paris is big."]),
    ("Here:\n  ###   Paris is big.  \nnot a fact\n###", ["Paris is big."]),
    ("### NONE", []),
    ("Paris is the capital.", None),
    ("", None),
])
def test_atomic_facts_are_the_lines_starting_with_three_hashes(reply, facts):
    from uqviz.statistics.claims import atomic_facts

    assert atomic_facts(reply) == facts


def test_atomic_claims_keep_their_sentence_and_fall_back_to_it_with_a_note(monkeypatch):
    """docs/methods.md §13.6: each distinct sentence is asked once; its facts become claims with the sentence's span,
    tokens and index; an unreadable reply keeps the sentence, "### NONE" drops it, each with a note; support, LUQ and
    the table follow the atomic claims."""
    from uqviz.engine import probing
    from uqviz.statistics.base import ScoreConfig
    from uqviz.statistics.claims import ATOMIC, ATOMIC_CLAIMS, run_claims

    replies = {"Paris is the capital.": "### Paris is the capital.\n### Paris is a city.", "It is big.": "### NONE",
               "Lyon is the capital.": "Sure! Lyon."}
    asked = []

    def scripted(model, conversations, chat, system_prompt, max_new_tokens):
        prompts = [turns[0][1] for turns in conversations]
        asked.extend(prompts)
        return [next(reply for sentence, reply in replies.items() if sentence in prompt) for prompt in prompts]

    monkeypatch.setattr(probing, "replies_to", scripted)
    config = ScoreConfig(claim_unit=ATOMIC)
    stats = RunStatistics(WORKED, config, nli=ScriptedNli(), language_model=object())
    claims = run_claims(stats)
    assert len(asked) == 3 and all(prompt.endswith("You should only return the final answer. Now your answer is:") for prompt in asked)
    assert [(c.sample, c.index, c.text, c.sentence, c.start, c.end) for c in claims.flat] == [
        (0, 0, "Paris is the capital.", 0, 0, 21), (0, 1, "Paris is a city.", 0, 0, 21),
        (1, 0, "Paris is the capital.", 0, 0, 21), (1, 1, "Paris is a city.", 0, 0, 21),
        (2, 0, "Lyon is the capital.", 0, 0, 20)]  # "It is big." had no fact; Lyon's reply had no ### line
    notes = {item.text: item.note for item in ATOMIC_CLAIMS(stats, config.claim_decomposition_prompt, config.claim_decomposition_max_new_tokens).sentences}
    assert notes == {"Paris is the capital.": None, "It is big.": "the model found no independent fact",
                     "Lyon is the capital.": "the reply has no ### lines; the sentence is kept"}
    table = claims_table(stats)
    assert [row.claim for row in table.rows] == [claim.text for claim in claims.flat] and [row.sentence for row in table.rows] == [0] * 5
    assert "1 of 4 sentences: the model found no independent fact." in table.notes
    assert table.rows[1].support == pytest.approx(0.45)  # "Paris is a city." against answers naming Paris or Lyon
    assert REGISTRY["luq"].compute(stats).per_sample[2] == pytest.approx(0.857143, abs=1e-6)


def test_atomic_claims_without_a_model_score_the_sentences_with_a_note(tmp_path, capsys):
    from uqviz.api import claims
    from uqviz.cli import main as cli_main

    table = claims(WORKED, atomic=True, nli=None, language_model=None)
    assert [row.claim for row in table.rows] == ["Paris is the capital.", "It is big.", "Paris is the capital.", "Lyon is the capital."]
    assert table.notes[0].startswith("Atomic claims could not be made (") and all(row.sentence is None for row in table.rows)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(WORKED.to_dict()))
    assert cli_main(["claims", str(path), "--atomic", "--nli", "none", "--out", str(tmp_path / "c.csv")]) == 0
    assert "is loaded only with --run-model" in capsys.readouterr().err
    assert next(csv.reader((tmp_path / "c.csv").open()))[-1] == "sentence"
