"""TokenSAR, SentSAR and SAR against the docs/methods.md §4.7 worked examples, their properties, the shared relevance
statistic, an independent recomputation on a real run with the real MiniLM, `python -m uqviz score`, and the
cross-encoder backend on a tiny randomly initialised model (no real cross-encoder weights are available offline)."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_run, run_cli
from uqviz.format.run import Sample
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.relevance import (
    REPLACEMENT_CHARACTER,
    SENTENCE_SIMILARITY,
    TOKEN_RELEVANCE,
    compute_token_relevance,
    computed_token_relevance,
    removal_variants,
    sentence_similarity_matrix,
)
from uqviz.measures.sar import (
    relevance_weights,
    sar,
    sent_sar,
    token_sar,
)
from uqviz.models.loading import ModelLoadError, default_embedder_path
from uqviz.scoring.scores import score_run
from uqviz.models.similarity import EMBED_BATCH_SIZE, CrossEncoderSimilarity, has_fast_bfloat16, load_cross_encoder, resolve_precision
from uqviz.statistics.base import RunStatistics, ScoreConfig

SECTION_4_G = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
SECTION_4_LOGPROBS = [[-0.1, -0.2], [-0.5, -0.5, -0.5], [-2.0]]


# --- worked examples (§4.7) -------------------------------------------------------------------------------


def test_token_sar_worked_example():
    result = token_sar([[-0.1, -2.0, -0.5]], [[1 - 0.9, 1 - 0.2, 1 - 0.6]])
    assert result.value == pytest.approx(1.392308, abs=1e-6)
    assert result.detail.weights[0] == pytest.approx([0.076923, 0.615385, 0.307692], abs=1e-6)
    assert result.detail.ln_pe == pytest.approx([0.866667], abs=1e-6)
    assert result.detail.uniform_fallback == [False]


@pytest.mark.parametrize(
    "temperature, entropies, value",
    [
        (1e-3, [-5.371063, -6.542510, -4.777805], -5.563793),
        (1.0, [0.045867, 0.086720, 1.370251], 0.500946),
    ],
)
def test_sent_sar_worked_example(temperature, entropies, value):
    result = sent_sar(SECTION_4_LOGPROBS, SECTION_4_G, temperature)
    assert result.per_sample == pytest.approx(entropies, abs=1e-6)
    assert result.value == pytest.approx(value, abs=1e-6)
    assert result.detail.log_probabilities == pytest.approx([-0.3, -1.5, -2.0])


@pytest.mark.parametrize("temperature, value", [(1e-3, -5.717837), (1.0, 0.327548)])
def test_sar_worked_example(temperature, value):
    # One-token answers have weight R̃ = 1 whatever their relevance, so TokenSAR = [0.3, 1.2, 1.5] as in §4.7.
    logprobs = [[-0.3], [-1.2], [-1.5]]
    assert token_sar(logprobs, [[0.4], [0.0], [1.0]]).per_sample == pytest.approx([0.3, 1.2, 1.5])
    assert sar(logprobs, [[0.4], [0.0], [1.0]], SECTION_4_G, temperature).value == pytest.approx(value, abs=1e-6)


# --- properties -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_equal_relevance_reduces_token_sar_to_the_samples_ln_pe(seed):
    rng = np.random.default_rng(seed)
    logprobs = [list(-rng.exponential(1.0, size=rng.integers(1, 30))) for _ in range(4)]
    relevance = [[float(rng.uniform(0.05, 1.0))] * len(lp) for lp in logprobs]
    result = token_sar(logprobs, relevance)
    expected = [-sum(lp) / len(lp) for lp in logprobs]
    assert result.per_sample == pytest.approx(expected, rel=1e-12)
    assert result.detail.ln_pe == pytest.approx(expected, rel=1e-12)
    assert all(abs(shift) < 1e-12 for row in result.detail.shifts for shift in row)


def test_all_zero_relevance_falls_back_to_uniform_weights():
    result = token_sar([[-0.2, -1.0, -3.0], [-0.5, -0.1]], [[0.0, 0.0, 0.0], [0.3, 0.0]])
    assert result.detail.uniform_fallback == [True, False]
    assert result.detail.weights[0] == pytest.approx([1 / 3] * 3)
    assert result.per_sample == pytest.approx([4.2 / 3, 0.5])
    assert not any(math.isnan(value) for value in result.per_sample)


def test_shifts_explain_the_move_from_ln_pe_to_token_sar():
    result = token_sar([[-0.1, -2.0, -0.5]], [[0.1, 0.8, 0.4]])
    assert sum(result.detail.shifts[0]) == pytest.approx(result.per_sample[0] - result.detail.ln_pe[0])
    assert sum(result.detail.contributions[0]) == pytest.approx(result.per_sample[0])


@pytest.mark.parametrize("temperature", [1e-3, 0.5, 1.0])
def test_all_g_zero_reduces_sar_to_minus_mean_log_p_prime(temperature):
    logprobs = [[-0.1, -2.0, -0.5], [-0.7, -0.2], [-1.5]]
    relevance = [[0.1, 0.8, 0.4], [0.5, 0.25], [0.9]]
    independent = np.eye(3)
    token_level = token_sar(logprobs, relevance).per_sample
    assert sar(logprobs, relevance, independent, temperature).value == pytest.approx(np.mean(token_level))
    assert sent_sar(logprobs, independent, temperature).value == pytest.approx(np.mean([-sum(lp) for lp in logprobs]))


def test_sent_sar_is_invariant_to_permuting_samples():
    order = [2, 0, 1]
    permuted = SECTION_4_G[np.ix_(order, order)]
    result = sent_sar([SECTION_4_LOGPROBS[i] for i in order], permuted, 1e-3)
    assert result.value == pytest.approx(-5.563793, abs=1e-6)


def test_long_answers_do_not_underflow():
    # LL = -2000 and -2001: exp() underflows, log space must not. E_0 = 2000 - log(1 + 0.5·e^{-1}).
    result = sent_sar([[-1.0] * 2000, [-1.0] * 2001], np.array([[1.0, 0.5], [0.5, 1.0]]), 1.0)
    assert result.per_sample == pytest.approx([2000 - math.log(1 + 0.5 * math.exp(-1)), 2001 - math.log(1 + 0.5 * math.e)])


def test_empty_and_single_sample_runs():
    assert token_sar([[]], [[]]).per_sample == [0.0]
    assert relevance_weights([]).size == 0
    assert sent_sar([[-0.4, -0.6]], np.eye(1), 1e-3).value == pytest.approx(1.0)


# --- the relevance statistic --------------------------------------------------------------------------------


def test_removal_is_position_exact_not_a_global_replace():
    # SAR's own code would delete every "the" (§4.2); only the chosen position goes here.
    tokens = ["the", " cat", " sat", " on", " the", " mat"]
    variants = removal_variants(tokens)
    assert variants[0] == " cat sat on the mat"
    assert variants[4] == "the cat sat on mat"
    assert removal_variants(["Paris"]) == [""]


class RecordingBackend:
    """g = shorter length / longer length: a deterministic stand-in in [0, 1] that records every call."""

    name = "recording"
    device = "cpu"
    auto_bfloat16 = True

    def __init__(self):
        self.calls = 0
        self.requests = []
        self.precisions = []

    def pair_scores(self, left, right, precision="float32"):
        self.calls += 1
        self.requests.append((list(left), list(right)))
        self.precisions.append(precision)
        return np.array([min(len(l), len(r)) / max(len(l), len(r)) for l, r in zip(left, right)], dtype=np.float64)


def test_all_variants_of_all_samples_go_in_one_call():
    backend = RecordingBackend()
    variants = [removal_variants(tokens) for tokens in (["Paris", " is", " nice"], ["Lyon"])]
    relevance = compute_token_relevance("Q?", variants, ["Paris is nice", "Lyon"], backend)
    assert backend.calls == 1
    left, right = backend.requests[0]
    assert left == ["Q? Paris is nice"] * 3 + ["Q? Lyon"]
    assert right == ["Q?  is nice", "Q? Paris nice", "Q? Paris is", "Q? "]
    assert relevance.similarity[1] == pytest.approx([3 / 7])
    assert relevance.relevance[0] == pytest.approx([5 / 16, 3 / 16, 5 / 16])


def test_sentence_similarity_scores_each_pair_once_and_mirrors():
    backend = RecordingBackend()
    matrix = sentence_similarity_matrix("Q?", ["a", "bb", "ccc"], backend)
    left, right = backend.requests[0]
    assert list(zip(left, right)) == [("Q? a", "Q? bb"), ("Q? a", "Q? ccc"), ("Q? bb", "Q? ccc")]
    assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0)
    assert matrix[0, 2] == pytest.approx(4 / 6)


def hand_run():
    run = make_run(["Paris is nice", "Lyon", "Paris"], [[-0.2, -1.0, -0.4], [-2.0], [-0.1]], prompt="Q?")
    samples = [replace(run.samples[0], tokens=["Paris", " is", " nice"]), *run.samples[1:]]
    return replace(run, samples=samples)


def test_statistic_is_shared_by_the_three_measures_and_reaches_scores_json():
    backend = RecordingBackend()
    run = hand_run()
    statistics = RunStatistics(run, ScoreConfig(sar_temperature=1.0), similarity=backend)
    scores = score_run(run, statistics, ["token_sar", "sent_sar", "sar"])
    assert backend.calls == 2  # one relevance call, one sentence-similarity call
    assert statistics.costs[TOKEN_RELEVANCE.name].model_calls == 1 and statistics.costs[SENTENCE_SIMILARITY.name].model_calls == 1
    document = scores.to_dict()
    assert document["similarity"] == "recording"
    assert document["token_relevance"] == [pytest.approx([5 / 16, 3 / 16, 5 / 16]), pytest.approx([4 / 7]), pytest.approx([5 / 8])]
    relevance = computed_token_relevance(statistics).relevance
    matrix = sentence_similarity_matrix(run.prompt, [s.text for s in run.samples], RecordingBackend())
    assert document["measures"]["sar"]["value"] == pytest.approx(sar(statistics.logprobs, relevance, matrix, 1.0).value)
    assert document["measures"]["sent_sar"]["value"] == pytest.approx(sent_sar(statistics.logprobs, matrix, 1.0).value)


def test_without_a_similarity_model_sar_is_none_with_a_reason_and_no_relevance():
    document = score_run(hand_run()).to_dict()
    for name in ("token_sar", "sent_sar", "sar"):
        assert document["measures"][name]["value"] is None
        assert "embedder" in document["measures"][name]["reason"]
    assert document["token_relevance"] is None


# --- the real models --------------------------------------------------------------------------------------


def written_out_sar(run, embed, temperature):
    """§4 by hand: one pair embedded at a time, removal by dropping position i from the decoded tokens, plain exp/log."""
    question = run.prompt
    relevance, token_level = [], []
    for sample in run.samples:
        full = embed(question + " " + sample.text)
        r = []
        for i in range(len(sample.tokens)):
            removed = embed(question + " " + "".join(sample.tokens[:i] + sample.tokens[i + 1 :]))
            r.append(1.0 - max(0.0, float(np.dot(full, removed))))
        total = sum(r)
        weights = [x / total for x in r] if total > 0 else [1 / len(r)] * len(r)
        relevance.append(r)
        token_level.append(sum(w * -lp for w, lp in zip(weights, sample.logprobs)))
    count = len(run.samples)
    g = [[0.0] * count for _ in range(count)]
    for j in range(count):
        for k in range(j + 1, count):
            a, b = embed(question + " " + run.samples[j].text), embed(question + " " + run.samples[k].text)
            g[j][k] = g[k][j] = max(0.0, float(np.dot(a, b)))

    def shifted(log_p):
        p = [math.exp(x) for x in log_p]
        return [-math.log(p[j] + sum(g[j][k] * p[k] for k in range(count) if k != j) / temperature) for j in range(count)]

    sent = shifted([sum(s.logprobs) for s in run.samples])
    both = shifted([-value for value in token_level])
    return relevance, float(np.mean(token_level)), float(np.mean(sent)), float(np.mean(both))


@pytest.mark.slow
def test_real_run_matches_an_independent_recomputation(france_run, embedder, language_model):
    for sample in france_run.samples:  # the joined tokens are the decoded remaining ids
        for i, variant in enumerate(removal_variants(sample.tokens)):
            assert variant == language_model.tokenizer.decode(sample.token_ids[:i] + sample.token_ids[i + 1 :], skip_special_tokens=True)

    def embed(text):
        return embedder.model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0].astype(np.float64)

    relevance, token_value, sent_value, sar_value = written_out_sar(france_run, embed, 1e-3)
    statistics = RunStatistics(france_run, ScoreConfig(relevance_precision="float32"), embedder=embedder)
    document = score_run(france_run, statistics, ["token_sar", "sent_sar", "sar"]).to_dict()
    for row, expected in zip(document["token_relevance"], relevance):
        assert row == pytest.approx(expected, abs=1e-5)
    assert document["measures"]["token_sar"]["value"] == pytest.approx(token_value, abs=1e-5)
    assert document["measures"]["sent_sar"]["value"] == pytest.approx(sent_value, abs=1e-5)
    assert document["measures"]["sar"]["value"] == pytest.approx(sar_value, abs=1e-5)
    assert "all-MiniLM-L6-v2" in document["similarity"]
    # Batched: the answers plus every removal variant took a handful of encode calls, not one per token.
    tokens = sum(len(s) for s in france_run.samples)
    assert statistics.costs[TOKEN_RELEVANCE.name].model_calls <= 2 + tokens // EMBED_BATCH_SIZE
    assert statistics.costs[SENTENCE_SIMILARITY.name].model_calls == 0


@pytest.mark.slow
def test_score_command_reports_the_three_sar_measures(france_run, embedder, tmp_path):
    from uqviz.format.run import write_run

    run_path, scores_path = tmp_path / "run.json", tmp_path / "scores.json"
    write_run(france_run, run_path)
    run_cli("score", str(run_path), "--out", str(scores_path))
    document = json.loads(scores_path.read_text())
    expected = score_run(france_run, RunStatistics(france_run, embedder=embedder), ["token_sar", "sent_sar", "sar"]).to_dict()
    for name in ("token_sar", "sent_sar", "sar"):
        assert document["measures"][name]["value"] == pytest.approx(expected["measures"][name]["value"], abs=1e-6)
        assert len(document["measures"][name]["per_sample"]) == len(france_run.samples)
    assert [len(row) for row in document["token_relevance"]] == [len(s) for s in france_run.samples]
    assert all(0.0 <= r <= 1.0 for row in document["token_relevance"] for r in row)
    assert "all-MiniLM-L6-v2" in document["similarity"]


# --- the cross-encoder backend ----------------------------------------------------------------------------


def build_cross_encoder(folder: Path, labels: int = 1) -> Path:
    """A tiny randomly initialised BERT cross-encoder that reuses the packaged MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(default_embedder_path())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        num_labels=labels, initializer_range=0.5,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def cross_encoder_folder(tmp_path_factory):
    return build_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


def direct_sigmoid_scores(folder, pairs):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    scores = []
    for left, right in pairs:
        with torch.no_grad():
            logits = model(**tokenizer(left, right, return_tensors="pt", truncation=True)).logits
        scores.append(torch.sigmoid(logits[0, 0]).item())
    return scores


@pytest.mark.slow
def test_cross_encoder_scores_are_its_sigmoid_and_each_pair_is_scored_once(cross_encoder_folder, embedder):
    backend = CrossEncoderSimilarity(load_cross_encoder(str(cross_encoder_folder), device="cpu"), embedder)
    pairs = [("Q? Paris is nice", "Q? Paris nice"), ("Q? Paris is nice", "Q?  is nice"), ("Q? Lyon", "Q? ")]
    scores = backend.pair_scores([a for a, _ in pairs], [b for _, b in pairs])
    assert scores == pytest.approx(direct_sigmoid_scores(cross_encoder_folder, pairs), abs=1e-5)
    assert np.ptp(scores) > 1e-3  # the tiny model tells these pairs apart, so the comparison means something
    assert backend.calls == 1
    backend.pair_scores([pairs[0][0]], [pairs[0][1]])
    assert backend.calls == 1
    assert backend.name == f"cross-encoder ({cross_encoder_folder.name}); embeddings: {embedder.name}"
    assert backend.embed(["Paris"]).shape == (1, 384)  # embedding views keep working


@pytest.mark.slow
def test_cross_encoder_scores_each_pair_once_per_precision(cross_encoder_folder, embedder):
    backend = CrossEncoderSimilarity(load_cross_encoder(str(cross_encoder_folder), device="cpu"), embedder)
    left, right = ["Q? Paris is nice", "Q? Lyon"], ["Q? Paris nice", "Q? "]
    exact = backend.pair_scores(left, right, "float32")
    fast = backend.pair_scores(left, right, "bfloat16")
    assert backend.calls == 2 and not np.array_equal(exact, fast)
    assert fast == pytest.approx(exact, abs=0.05)  # a random tiny model: only a sanity bound, not a measurement
    backend.pair_scores(left, right, "bfloat16")
    assert backend.calls == 2


@pytest.mark.slow
def test_cross_encoder_drives_token_relevance(cross_encoder_folder, embedder):
    run = hand_run()
    backend = CrossEncoderSimilarity(load_cross_encoder(str(cross_encoder_folder), device="cpu"), embedder)
    statistics = RunStatistics(run, similarity=backend)
    assert statistics.relevance_precision == "float32"  # `auto` never picks bf16 for the unmeasured cross-encoder
    result = REGISTRY["token_sar"].compute(statistics)
    pairs = [("Q? Paris is nice", "Q?  is nice"), ("Q? Paris is nice", "Q? Paris nice"), ("Q? Paris is nice", "Q? Paris is")]
    expected_relevance = [1 - g for g in direct_sigmoid_scores(cross_encoder_folder, pairs)]
    assert computed_token_relevance(statistics).relevance[0] == pytest.approx(expected_relevance, abs=1e-5)
    assert result.value == pytest.approx(token_sar(statistics.logprobs, computed_token_relevance(statistics).relevance).value)


@pytest.mark.slow
def test_cross_encoder_load_errors_are_one_sentence(tmp_path):
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_cross_encoder(str(tmp_path))
    with pytest.raises(ModelLoadError, match="3 output labels"):
        load_cross_encoder(str(build_cross_encoder(tmp_path / "nli-like", labels=3)), device="cpu")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="Could not load cross-encoder"):
        load_cross_encoder(str(broken), device="cpu")


@pytest.mark.slow
def test_score_command_with_a_cross_encoder(france_run, cross_encoder_folder, tmp_path):
    from uqviz.format.run import write_run

    run_path = tmp_path / "run.json"
    write_run(france_run, run_path)
    result = run_cli("score", str(run_path), "--cross-encoder", str(cross_encoder_folder), "--relevance-precision", "float32")
    document = json.loads(result.stdout)
    assert document["similarity"].startswith(f"cross-encoder ({cross_encoder_folder.name})")
    sample = france_run.samples[0]
    full = france_run.prompt + " " + sample.text
    pairs = [(full, france_run.prompt + " " + variant) for variant in removal_variants(sample.tokens)]
    expected = [1 - g for g in direct_sigmoid_scores(cross_encoder_folder, pairs)]
    assert document["token_relevance"][0] == pytest.approx(expected, abs=1e-5)
    missing = run_cli("score", str(run_path), "--cross-encoder", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1 and "not a model folder" in missing.stderr


# --- relevance precision ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, device, native",
    [("fpu avx2 avx512f avx512_bf16", "cpu", True), ("fpu amx_bf16 amx_tile", "cpu", True),
     ("fpu avx2 avx512f avx512_vnni", "cpu", False), ("fpu avx512_bf16", "mps", False)],
)
def test_bfloat16_counts_as_native_only_with_the_cpu_flags(tmp_path, flags, device, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert has_fast_bfloat16(device, cpuinfo) is native
    assert has_fast_bfloat16("cpu", tmp_path / "missing") is False


@pytest.mark.parametrize("capability, native", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bfloat16_counts_as_native_on_ampere_and_newer_gpus(monkeypatch, capability, native):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: asked.append(device) or capability)
    assert has_fast_bfloat16("cuda:1") is native
    assert asked == [torch.device("cuda:1")]  # the GPU named, not the current one


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_follows_the_device_and_explicit_choices_win(monkeypatch, native):
    from uqviz.models import similarity

    monkeypatch.setattr(similarity, "has_fast_bfloat16", lambda device: native)
    backend = RecordingBackend()
    assert resolve_precision("auto", backend) == ("bfloat16" if native else "float32")
    assert resolve_precision("float32", backend) == "float32" and resolve_precision("bfloat16", backend) == "bfloat16"
    with pytest.raises(ValueError, match="not one of auto, float32, bfloat16"):
        resolve_precision("fp8", backend)
    unmeasured = RecordingBackend()
    unmeasured.auto_bfloat16 = False  # like the cross-encoder: auto keeps float32, an explicit bfloat16 is honoured
    assert resolve_precision("auto", unmeasured) == "float32" and resolve_precision("bfloat16", unmeasured) == "bfloat16"
    statistics = RunStatistics(hand_run(), similarity=backend)
    document = score_run(statistics.run, statistics, ["token_sar"]).to_dict()
    assert backend.precisions == ["bfloat16" if native else "float32"]
    assert document["token_relevance_precision"] == backend.precisions[0]


@pytest.mark.slow
def test_bfloat16_relevance_stays_close_to_float32_on_the_real_minilm(france_run, embedder):
    """bf16 rounds both texts of a pair alike, so g keeps its float32 value to about 1e-3 and the ranking of tokens holds."""
    results = {}
    for precision in ("float32", "bfloat16"):
        statistics = RunStatistics(france_run, ScoreConfig(relevance_precision=precision), embedder=embedder)
        scores = score_run(france_run, statistics, ["token_sar", "sar"]).to_dict()
        assert scores["token_relevance_precision"] == precision
        results[precision] = scores
    exact = np.concatenate(results["float32"]["token_relevance"])
    fast = np.concatenate(results["bfloat16"]["token_relevance"])
    assert 0 < np.abs(fast - exact).max() < 2e-3  # bf16 really ran, and stayed close
    assert np.corrcoef(fast, exact)[0, 1] > 0.999
    for name in ("token_sar", "sar"):
        values = [results[p]["measures"][name]["value"] for p in ("float32", "bfloat16")]
        assert values[1] == pytest.approx(values[0], rel=1e-2)
    for exact_row, fast_row in zip(results["float32"]["token_relevance"], results["bfloat16"]["token_relevance"]):
        assert int(np.argmax(exact_row)) == int(np.argmax(fast_row))


@pytest.mark.slow
def test_each_text_is_embedded_once_per_precision(embedder):
    from uqviz.models.similarity import BiEncoderSimilarity

    backend = BiEncoderSimilarity(embedder)
    exact = backend.embed(["Paris is the capital of France."], "float32")
    fast = backend.embed(["Paris is the capital of France."], "bfloat16")
    assert backend.calls == 2 and not np.array_equal(exact, fast)
    assert float(exact[0] @ fast[0]) > 0.999
    backend.embed(["Paris is the capital of France."], "bfloat16")
    assert backend.calls == 2


SPLIT_CHARACTER_ANSWERS = (" שלום עולם", " 你好，世界。", " Hi 😀🎉 ok")


def split_character_run(language_model, source: str):
    """Hebrew, CJK and emoji answers whose byte tokens split characters, as sampling records them (with their bytes)."""
    from uqviz.engine.sampling import token_texts
    from uqviz.format.run import recorded_token_bytes
    from uqviz.models.tokens import token_byte_pieces

    tokenizer = language_model.tokenizer
    prompt_ids = tokenizer.encode("Say hello.")
    samples = []
    for index, answer in enumerate(SPLIT_CHARACTER_ANSWERS):
        ids = tokenizer.encode(answer, add_special_tokens=False)
        tokens, _ = token_texts(tokenizer, prompt_ids, ids, [[] for _ in ids])
        assert any(REPLACEMENT_CHARACTER in token for token in tokens)  # the case the bytes are for
        samples.append(Sample(text=tokenizer.decode(ids, skip_special_tokens=True), token_ids=ids, tokens=tokens,
                              logprobs=[-0.2 - 0.1 * ((i * 7 + index) % 5) for i in range(len(ids))], entropies=[],
                              finish_reason="stop", token_bytes=recorded_token_bytes(tokens, token_byte_pieces(tokenizer, ids))))
    run = make_run(["x"] * len(samples), prompt="Say hello.")
    return replace(run, prompt_token_ids=prompt_ids, samples=samples, model=replace(run.model, source=source))


@pytest.mark.slow
def test_removal_variants_from_recorded_bytes_equal_decoding_the_remaining_ids(language_model):
    """Hebrew, CJK and emoji: SmolLM2's byte tokens split the characters, so their in-context texts hold U+FFFD."""
    def decode(ids):
        return language_model.tokenizer.decode(ids, skip_special_tokens=True)

    run = split_character_run(language_model, "none")
    for sample in run.samples:
        ids = sample.token_ids
        decoded = [decode(ids[:i] + ids[i + 1 :]) for i in range(len(ids))]
        assert sample.token_bytes and removal_variants(sample.tokens, sample.exact_token_bytes()) == decoded
        assert removal_variants(sample.tokens, None, ids, decode) == decoded  # runs from before bytes, with the model
        joined = removal_variants(sample.tokens)
        assert sum(v.count(REPLACEMENT_CHARACTER) for v in joined) > sum(v.count(REPLACEMENT_CHARACTER) for v in decoded)

    unrecorded = replace(run, samples=[replace(sample, token_bytes=[]) for sample in run.samples])
    backend = RecordingBackend()
    TOKEN_RELEVANCE(RunStatistics(unrecorded, similarity=backend, language_model=language_model))
    assert backend.requests[0][1] == ["Say hello. " + v for s in run.samples for v in removal_variants(s.tokens, s.exact_token_bytes())]


@pytest.mark.slow
def test_score_without_a_model_equals_the_token_id_decode_on_split_characters(language_model, embedder, tmp_path):
    """`uqviz score` reads the recorded bytes, so TokenSAR needs no model: equal to the value decoded from the ids."""
    from uqviz.format.run import write_run

    run = split_character_run(language_model, f"local:{tmp_path / 'no-such-model'}")
    path = tmp_path / "run.json"
    write_run(run, path)
    measures = json.loads(run_cli("score", str(path), "--nli", "none", "--relevance-precision", "float32").stdout)["measures"]
    assert measures["uqac"]["value"] is None  # the model was not loaded
    unrecorded = replace(run, samples=[replace(sample, token_bytes=[]) for sample in run.samples])
    config = ScoreConfig(relevance_precision="float32")
    decoded = REGISTRY["token_sar"].compute(RunStatistics(unrecorded, config, embedder=embedder, language_model=language_model))
    joined = REGISTRY["token_sar"].compute(RunStatistics(unrecorded, config, embedder=embedder))
    assert measures["token_sar"]["value"] == pytest.approx(decoded.value, abs=1e-6)
    assert measures["token_sar"]["per_sample"] == pytest.approx(decoded.per_sample, abs=1e-6)
    assert abs(joined.value - decoded.value) > 1e-4  # what the default gave before bytes were recorded


def test_token_relevance_beyond_its_budget_is_refused_before_any_variant_is_embedded(france_run, embedder):
    """docs/methods.md §4.6: the cost counts min(|q ⊕ s|, 1024) characters per answer token; beyond the budget the
    relevance measures are null with the count and where to ask, and nothing is embedded."""
    from uqviz.scoring.scores import score_run
    from uqviz.statistics.relevance import relevance_cost

    cost = relevance_cost(france_run.prompt, france_run.samples)
    assert cost == sum(len(s.tokens) * min(len(france_run.prompt) + 1 + len(s.text), 1024) for s in france_run.samples)
    stats = RunStatistics(france_run, ScoreConfig(relevance_budget=cost - 1), embedder=embedder)
    scores = score_run(france_run, stats, ["token_sar", "sar", "mars"])
    for name in ("token_sar", "sar", "mars"):
        reason = scores.measures[name].result.reason
        assert scores.measures[name].result.value is None and f"({cost:,} characters)" in reason and "--relevance-budget 0" in reason
    assert stats.similarity.calls == 0  # refused before any text was embedded
    scores = score_run(france_run, stats, ["sent_sar", "ln_predictive_entropy"])
    assert scores.measures["sent_sar"].result.value is not None and scores.measures["ln_predictive_entropy"].result.value is not None
    within = RunStatistics(france_run, ScoreConfig(relevance_budget=cost), embedder=embedder)
    assert REGISTRY["token_sar"].compute(within).value is not None
