"""uqviz vs LM-Polygraph 0.7.0's estimators on the same inputs, one sampled run, CPU.

    make bench-polygraph                                         # builds .venv-polygraph and runs this
    make bench-polygraph POLYGRAPH_ARGS="--n 5 --max-new-tokens 24"

Part 1, TokenSAR, SentSAR, SAR and semantic entropy: both sides use the same similarity model (MiniLM,
g = max(0, cosine)) and the same run. LM-Polygraph's CrossEncoderSimilarityMatrixCalculator is given a `predict` that
scores pairs with that model, so the difference measured is the computation scheme: LM-Polygraph scores each sample's
token-removed variants in its own call and embeds both sides of every pair, uqviz embeds every distinct text once in
batched calls. Semantic entropy uses uqviz's clusters on both sides (LM-Polygraph's needs an NLI model).

Part 2, every other measure LM-Polygraph also has: uqviz scores the run with the packaged NLI judge, the embedder and
the language model (on-demand measures named explicitly); its shared statistics are computed first and their cost is
printed on its own. Then LM-Polygraph's estimator is fed the SAME inputs, taken from uqviz's statistics (hidden
states, token log-probs and entropies, NLI probabilities, affinity, top-k alternatives with their NLI labels, P(True)
log-probs, verbalized replies), so any difference is the estimator's formula, not its inputs. Where LM-Polygraph scores
one answer (its "greedy" one), it is given each of uqviz's K answers as a batch of K inputs and compared per answer.
RAUQ and the Attention Score read the answer UQAC analyses; LM-Polygraph's estimators get its attention from one
independent eager forward (output_attentions), shaped as its calculators hold it.
Times are medians over repeated calls: uqviz's measure on cached statistics vs LM-Polygraph's estimator on the
prepared stats; ratio = LM-Polygraph / uqviz.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT, median, run_size_parser  # noqa: E402

from uqviz.statistics.clustering import MEANING_JUDGE, answer_clustering  # noqa: E402
from uqviz.measures.registry import REGISTRY  # noqa: E402
from uqviz.measures.self_report import parse_confidence  # noqa: E402
from uqviz.models.loading import load_embedder, load_language_model  # noqa: E402
from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL, NLI_LABELS, load_nli, unique_texts  # noqa: E402
from uqviz.format.run import SamplingSettings  # noqa: E402
from uqviz.engine.sampling import sample  # noqa: E402
from uqviz.models.similarity import FLOAT32  # noqa: E402
from uqviz.scoring.scores import score_run  # noqa: E402
from uqviz.statistics.affinity import ANSWER_AFFINITY, ANSWER_NLI_PROBABILITIES  # noqa: E402
from uqviz.statistics.alternatives import TOKEN_ALTERNATIVES  # noqa: E402
from uqviz.statistics.base import RunStatistics, ScoreConfig  # noqa: E402
from uqviz.statistics.probing import (  # noqa: E402
    ANSWER_HIDDEN_STATES, ONE_STAGE, P_TRUE, TWO_STAGE, UNCONDITIONAL_LOGPROBS, VERBALIZED_REPLIES,
)
from uqviz.statistics.uqac import attention_of  # noqa: E402

SAR_MEASURES = ("token_sar", "sent_sar", "sar", "semantic_entropy_lm_polygraph")
NEW_MEASURES = (
    "eigenscore", "mean_token_entropy", "maximum_sequence_probability", "perplexity", "kernel_language_entropy",
    "semantic_density", "cocoa_msp", "cocoa_perplexity", "cocoa_mean_token_entropy", "claim_conditioned_probability",
    "p_true", "verbalized_one_stage", "verbalized_two_stage",
)
NLI_STRINGS = {ENTAILMENT: "entail", CONTRADICTION: "contra", NEUTRAL: "neutral"}  # LM-Polygraph's CCP labels
CONFIDENCE_REGEX = r"[Pp]robability:\s*(\d*\.?\d+)"  # always float()-able: LM-Polygraph catches no ValueError
TOLERANCE = 1e-6
REPEATS = 20


class CosinePredictor:
    """The CrossEncoder.predict interface over a bi-encoder: max(0, cosine) of the two texts."""

    def __init__(self, model) -> None:
        self.model = model
        self.calls = 0

    def predict(self, pairs, batch_size: int = 10):
        self.calls += 1
        left = self.model.encode([a for a, _ in pairs], batch_size=batch_size, normalize_embeddings=True)
        right = self.model.encode([b for _, b in pairs], batch_size=batch_size, normalize_embeddings=True)
        return np.clip(np.sum(left * right, axis=1), 0.0, 1.0)


class ModelStub:
    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def device(self) -> str:
        return "cpu"


class ReplayModel:
    """Verbalized2S's `stats["model"]`: generate_texts returns uqviz's two-stage replies, one per chat, in order."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.chats: list = []

    def generate_texts(self, chats, **kwargs) -> list[str]:
        self.chats = chats
        assert len(chats) == len(self.replies), (len(chats), len(self.replies))
        return list(self.replies)


@dataclass
class Row:
    name: str
    estimator: str
    ours: float | None
    theirs: float | None
    difference: float | None
    ours_seconds: float | None
    theirs_seconds: float | None
    note: str

    @property
    def ratio(self) -> float | None:
        if not self.ours_seconds or self.theirs_seconds is None:
            return None
        return self.theirs_seconds / self.ours_seconds


def timed(call: Callable[[], object], repeats: int = REPEATS) -> tuple[object, float]:
    """The call's result and the median seconds of `repeats` further calls."""
    result = call()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return result, median(seconds)


def fmt(value: float | None, width: int = 11, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'—':>{width}s}"
    return f"{value:{width}.{digits}f}"


def short(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 0.1:
        return f"{seconds:.3f}"
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def max_abs(left, right) -> float:
    left, right = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
    return float(np.max(np.abs(left - right))) if left.size else 0.0


# ---------------------------------------------------------------------------------------------------------------------
# Part 1: TokenSAR, SentSAR, SAR, semantic entropy (unchanged scheme)


def sar_part(run, lm, embedder) -> list[Row]:
    from lm_polygraph.estimators import SAR, SemanticEntropy, SentenceSAR, TokenSAR
    from lm_polygraph.stat_calculators.cross_encoder_similarity import CrossEncoderSimilarityMatrixCalculator

    statistics = RunStatistics(run, ScoreConfig(relevance_precision=FLOAT32), embedder=embedder)  # LM-Polygraph: float32
    started = time.perf_counter()
    ours = {name: REGISTRY[name].compute(statistics).value for name in SAR_MEASURES}
    ours_seconds = time.perf_counter() - started
    ours_calls = statistics.similarity.calls

    calculator = CrossEncoderSimilarityMatrixCalculator()
    predictor = CosinePredictor(embedder.model)
    calculator.crossencoder, calculator.crossencoder_setup = predictor, True
    samples = run.samples
    started = time.perf_counter()
    stats = calculator(
        {
            "input_texts": [run.prompt],
            "sample_tokens": [[s.token_ids for s in samples]],
            "sample_texts": [[s.text for s in samples]],
            "greedy_tokens": [samples[0].token_ids],
        },
        [run.prompt],
        ModelStub(lm.tokenizer),
    )
    ids = answer_clustering(statistics).ids
    classes = sorted(set(ids))
    stats.update(
        sample_log_likelihoods=[[np.array(s.logprobs) for s in samples]],
        sample_log_probs=[[float(np.sum(s.logprobs)) for s in samples]],
        greedy_log_likelihoods=[np.array(samples[0].logprobs)],
        sample_texts=[[s.text for s in samples]],
        semantic_classes_entail={
            "sample_to_class": [dict(enumerate(ids))],
            "class_to_sample": [[[k for k, c in enumerate(ids) if c == cls] for cls in classes]],
        },
    )
    theirs = {
        "token_sar": float(TokenSAR()(stats)[0]),
        "sent_sar": float(SentenceSAR()(stats)[0]),
        "sar": float(SAR()(stats)[0]),
        "semantic_entropy_lm_polygraph": float(SemanticEntropy()(stats)[0]),
    }
    theirs_seconds = time.perf_counter() - started

    print("== Part 1: TokenSAR, SentSAR, SAR, semantic entropy (same MiniLM similarity, uqviz's clusters) ==")
    print(f"uqviz         {ours_seconds:8.3f} s  {ours_calls:4d} similarity-model calls")
    print(f"LM-Polygraph  {theirs_seconds:8.3f} s  {predictor.calls:4d} predict calls (greedy = sample 1 scored too)")
    print(f"ratio LM-Polygraph / uqviz {theirs_seconds / ours_seconds:.2f}")
    for name in SAR_MEASURES:
        print(f"  {name:30s} uqviz {ours[name]:10.4f}   LM-Polygraph {theirs[name]:10.4f}")
    print("TokenSAR: uqviz averages over samples, LM-Polygraph scores the greedy (here: first) answer only; "
          "SentSAR/SAR: uqviz compares question + answer, LM-Polygraph bare answers (docs/methods.md §10).")
    print()
    notes = {
        "token_sar": "uqviz: mean over the K answers; LM-Polygraph: the greedy (here first) answer only",
        "sent_sar": "uqviz compares question + answer, LM-Polygraph bare answers (docs/methods.md §10)",
        "sar": "uqviz compares question + answer, LM-Polygraph bare answers (docs/methods.md §10)",
        "semantic_entropy_lm_polygraph": "same clusters (uqviz's) on both sides",
    }
    estimators = {"token_sar": "TokenSAR", "sent_sar": "SentenceSAR", "sar": "SAR", "semantic_entropy_lm_polygraph": "SemanticEntropy"}
    return [
        Row(name, estimators[name], ours[name], theirs[name], abs(ours[name] - theirs[name]), None, None,
            notes[name] + f"; times for all four together, similarity model included: uqviz {ours_seconds:.2f} s, "
            f"LM-Polygraph {theirs_seconds:.2f} s, ratio {theirs_seconds / ours_seconds:.2f}")
        for name in SAR_MEASURES
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Part 2: every other shared measure, LM-Polygraph's estimator fed uqviz's statistics


def shared_statistics(stats: RunStatistics) -> dict:
    """Every statistic the new measures read, computed once up front (their costs land in stats.costs)."""
    config = stats.config
    count = len(stats.run.samples)
    return {
        "logprobs": stats.logprobs,
        "entropies": stats.token_entropies,
        "judge": MEANING_JUDGE(stats),
        "hidden": ANSWER_HIDDEN_STATES(stats),
        "nli": ANSWER_NLI_PROBABILITIES(stats),
        "affinity": ANSWER_AFFINITY(stats),
        "alternatives": [TOKEN_ALTERNATIVES(stats, index) for index in range(count)],
        "p_true": P_TRUE(stats, config.p_true_prompt),
        "one_stage": VERBALIZED_REPLIES(stats, ONE_STAGE, config.verbalized_one_stage_prompt, config.verbalized_max_new_tokens),
        "two_stage": VERBALIZED_REPLIES(stats, TWO_STAGE, config.verbalized_two_stage_prompt, config.verbalized_max_new_tokens),
    }


def polygraph_inputs(stats: RunStatistics, shared: dict) -> dict[str, dict]:
    """LM-Polygraph's stats dict per estimator, built from uqviz's statistics; per-answer estimators get K inputs."""
    samples = stats.run.samples
    count = len(samples)
    logprobs = [np.asarray(lp, dtype=np.float64) for lp in shared["logprobs"]]
    entropies = [np.asarray(e, dtype=np.float64) for e in shared["entropies"]]
    probabilities = shared["nli"]
    entail = probabilities[..., NLI_LABELS.index(ENTAILMENT)]
    contra = probabilities[..., NLI_LABELS.index(CONTRADICTION)]
    neutral = probabilities[..., NLI_LABELS.index(NEUTRAL)]
    affinity = shared["affinity"].matrix
    others = [np.delete(affinity[j], j) for j in range(count)]  # LM-Polygraph averages 1 - sim over what it is given
    sums = [float(np.sum(lp)) for lp in logprobs]

    alternatives, alternatives_nli, words = [], [], []
    for answer in shared["alternatives"]:
        tokens, answer_alternatives, answer_nli = [], [], []
        for position in answer:
            size = len(position.tokens)
            matrix = [["" for _ in range(size)] for _ in range(size)]
            for i in range(size):
                matrix[0][i] = NLI_STRINGS[position.forward[i]]  # NLI(original → swapped i)
                matrix[i][0] = NLI_STRINGS[position.backward[i]]  # NLI(swapped i → original)
            tokens.append(position.tokens[0])
            answer_alternatives.append(list(zip(position.tokens, position.logprobs)))
            answer_nli.append(matrix)
        words.append(tokens)
        alternatives.append(answer_alternatives)
        alternatives_nli.append(answer_nli)

    two_stage = shared["two_stage"]
    return {
        "eigenscore": {"sample_embeddings": [list(shared["hidden"].states)]},
        "mean_token_entropy": {"entropy": entropies},
        "maximum_sequence_probability": {"greedy_log_likelihoods": logprobs},
        "perplexity": {"greedy_log_likelihoods": logprobs},
        "kernel_language_entropy": {"semantic_matrix_entail": [entail], "semantic_matrix_contra": [contra]},
        "semantic_density": {
            "greedy_log_likelihoods": logprobs,
            "sample_log_probs": [sums] * count,
            "sample_tokens": [[s.token_ids for s in samples]] * count,
            "sample_texts": [[s.text for s in samples]] * count,
            "concat_greedy_semantic_matrix_contra_forward": [contra[j] for j in range(count)],
            "concat_greedy_semantic_matrix_neutral_forward": [neutral[j] for j in range(count)],
        },
        "cocoa": {"greedy_sentence_similarity": others, "greedy_log_likelihoods": logprobs, "entropy": entropies},
        "claim_conditioned_probability": {
            "greedy_tokens": words, "greedy_tokens_alternatives": alternatives, "greedy_tokens_alternatives_nli": alternatives_nli,
        },
        "p_true": {"p_true": np.asarray(shared["p_true"].logprobs, dtype=np.float64)},
        "verbalized_one_stage": {"greedy_texts": list(shared["one_stage"].replies)},
        "verbalized_two_stage": {
            "model": ReplayModel(list(two_stage.replies)), "input_texts": [stats.question] * count, "greedy_texts": list(stats.answers),
        },
    }


def same_reading(ours: float | None, theirs: float | None) -> bool:
    """Both parsers read nothing, or the same confidence."""
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return abs(ours - theirs) <= TOLERANCE


def semantic_density_representatives(texts: list[str]) -> tuple[bool, str]:
    """Whether np.unique(texts, return_index=True) (LM-Polygraph) keeps the same answers as uqviz's first occurrences."""
    _, theirs = np.unique(np.asarray(texts, dtype=object), return_index=True)
    _, index = unique_texts(texts)
    ours = [index.index(position) for position in range(max(index, default=-1) + 1)]
    same = sorted(int(i) for i in theirs) == sorted(ours)
    return same, f"distinct answers at {sorted(ours)} (uqviz, first occurrence) vs {sorted(int(i) for i in theirs)} (np.unique)"


def new_part(run, lm, embedder, nli) -> tuple[list[Row], list[str]]:
    import lm_polygraph.estimators as E

    stats = RunStatistics(run, ScoreConfig(), embedder=embedder, nli=nli, language_model=lm)
    config = stats.config
    count = len(run.samples)
    lengths = [len(s) for s in run.samples]

    print("== Part 2: the other shared measures; LM-Polygraph's estimators fed uqviz's statistics ==")
    started = time.perf_counter()
    shared = shared_statistics(stats)
    shared_seconds = time.perf_counter() - started
    print(f"shared statistics (computed once, before any measure): {shared_seconds:.3f} s, meaning judge {shared['judge'].rule!r}")
    for name, cost in stats.costs.items():
        print(f"  {name:26s} {cost.seconds:8.3f} s  {cost.model_calls:4d} model calls")
    print(f"  affinity W used by CoCoA: {shared['affinity'].name}")

    scores = score_run(run, stats, names=list(NEW_MEASURES))
    ours_seconds = {name: timed(lambda name=name: REGISTRY[name].compute(stats))[1] for name in NEW_MEASURES}
    for name in NEW_MEASURES:
        if scores[name].result.reason:
            print(f"  uqviz {name}: no value ({scores[name].result.reason})")

    inputs = polygraph_inputs(stats, shared)
    estimators = {
        "eigenscore": (E.EigenScore(alpha=config.eigenscore_alpha), inputs["eigenscore"]),
        "mean_token_entropy": (E.MeanTokenEntropy(), inputs["mean_token_entropy"]),
        "maximum_sequence_probability": (E.MaximumSequenceProbability(), inputs["maximum_sequence_probability"]),
        "perplexity": (E.Perplexity(), inputs["perplexity"]),
        "kernel_language_entropy": (E.KernelLanguageEntropy(t=config.kle_time), inputs["kernel_language_entropy"]),
        "semantic_density": (E.SemanticDensity(concat_input=True), inputs["semantic_density"]),
        "cocoa_msp": (E.CocoaMSP(), inputs["cocoa"]),
        "cocoa_perplexity": (E.CocoaPPL(), inputs["cocoa"]),
        "cocoa_mean_token_entropy": (E.CocoaMTE(), inputs["cocoa"]),
        "claim_conditioned_probability": (E.ClaimConditionedProbability(), inputs["claim_conditioned_probability"]),
        "p_true": (E.PTrue(), inputs["p_true"]),
        "verbalized_one_stage": (E.Verbalized1S(confidence_regex=CONFIDENCE_REGEX), inputs["verbalized_one_stage"]),
        "verbalized_two_stage": (
            E.Verbalized2S(config.verbalized_two_stage_prompt, CONFIDENCE_REGEX, config.verbalized_max_new_tokens),
            inputs["verbalized_two_stage"],
        ),
    }
    # LM-Polygraph's value → uqviz's convention, per answer (or the one value)
    to_ours: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "semantic_density": lambda values: 1.0 + values,  # −SD_j → 1 − SD_j
        "claim_conditioned_probability": lambda values: 1.0 + values,  # −Π CCP → 1 − Π CCP
    }
    notes = {
        "eigenscore": f"sample_embeddings = uqviz's K middle-layer states at eigenscore_position = {config.eigenscore_position!r}",
        "mean_token_entropy": "per answer (LM-Polygraph's greedy := each answer); value = mean over answers",
        "maximum_sequence_probability": "per answer; value = mean over answers",
        "perplexity": "per answer; LM-Polygraph's 'Perplexity' is log PPL = −mean log p; value = mean over answers",
        "kernel_language_entropy": "entail/contra = uqviz's K × K NLI probabilities; t = 0.3, unit-trace kernel, VNE / log K",
        "semantic_density": "per answer j as greedy; LM-Polygraph returns −SD_j, compared as 1 + theirs = 1 − SD_j; expected to "
                            "differ: its greedy term counts answer j a second time, uqviz counts it once (docs/methods.md §12.3)",
        "cocoa_msp": "per answer; sim = row j of uqviz's W without the diagonal",
        "cocoa_perplexity": "per answer; sim = row j of uqviz's W without the diagonal",
        "cocoa_mean_token_entropy": "per answer; sim = row j of uqviz's W without the diagonal",
        "claim_conditioned_probability": "per answer; uqviz's alternatives + NLI labels; −Π CCP compared as 1 + theirs",
        "p_true": "per answer; p_true = uqviz's log p(True)",
        "verbalized_one_stage": f"same reply; LM-Polygraph regex {CONFIDENCE_REGEX!r}",
        "verbalized_two_stage": f"same K replies (replayed by a stub model); LM-Polygraph regex {CONFIDENCE_REGEX!r}",
    }

    rows, extra = [], []
    for name in NEW_MEASURES:
        estimator, polygraph_stats = estimators[name]
        result = scores[name].result
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # nan means of empty answers are reported below
                values, theirs_seconds = timed(lambda e=estimator, s=polygraph_stats: e(s))
        except Exception as error:  # noqa: BLE001 — the bench reports why LM-Polygraph could not score these inputs
            rows.append(Row(name, str(estimator), result.value, None, None, ours_seconds[name], None, f"LM-Polygraph raised {error!r}"))
            continue
        values = to_ours.get(name, lambda v: v)(np.asarray(values, dtype=np.float64))
        note = notes[name]
        if name in ("verbalized_one_stage", "verbalized_two_stage"):
            replies = stats.get(VERBALIZED_REPLIES, ONE_STAGE if name == "verbalized_one_stage" else TWO_STAGE,
                                config.verbalized_one_stage_prompt if name == "verbalized_one_stage" else config.verbalized_two_stage_prompt,
                                config.verbalized_max_new_tokens).replies
            read_ours = [parse_confidence(reply).confidence for reply in replies]
            read_theirs = [None if math.isnan(v) else 1.0 - float(v) for v in values]
            agree = sum(1 for a, b in zip(read_ours, read_theirs) if same_reading(a, b))
            both = sum(1 for a, b in zip(read_ours, read_theirs) if a is not None and b is not None)
            note += f"; parsers agree on {agree}/{len(replies)} replies ({both} read by both)"
            for index, (reply, a, b) in enumerate(zip(replies, read_ours, read_theirs)):
                mark = "same" if same_reading(a, b) else "DIFFER"
                extra.append(f"  {name} reply {index}: uqviz reads {a!r}, LM-Polygraph reads {b!r} [{mark}]  {reply!r}")
            theirs_value = float(np.nanmean(values)) if not np.all(np.isnan(values)) else None
            difference = None if result.value is None or theirs_value is None else abs(result.value - theirs_value)
        elif result.per_sample is not None and len(values) == count:
            theirs_value = float(np.mean(values))
            per_answer = max_abs(result.per_sample, values)
            difference = max(per_answer, abs(result.value - theirs_value))
            note += f"; max per-answer |diff| {per_answer:.1e}"
            if np.any(np.isnan(values)):
                note += "; LM-Polygraph gives nan for an empty answer, uqviz 0"
        else:
            theirs_value = float(values[0])
            difference = abs(result.value - theirs_value) if result.value is not None else None
        if name == "semantic_density":
            same, where = semantic_density_representatives(list(stats.answers))
            note += f"; {'same' if same else 'DIFFERENT'} representatives: {where}"
        if name == "eigenscore":
            note += f"; layer {shared['hidden'].layer}, d = {shared['hidden'].states.shape[1]}; LM-Polygraph builds its d × d J_d once per instance (not timed)"
        rows.append(Row(name, str(estimator), result.value, theirs_value, difference, ours_seconds[name], theirs_seconds, note))

    print(f"N={count}, answer lengths {lengths} tokens; uqviz measure on cached statistics vs LM-Polygraph estimator "
          f"on prepared stats, median of {REPEATS} calls; ratio = LM-Polygraph / uqviz")
    print(f"  {'measure':30s} {'uqviz':>11s} {'LM-Polygraph':>12s} {'|diff|':>8s}  {'uqviz s':>9s} {'LMP s':>9s} {'ratio':>7s}  ok")
    for row in rows:
        ok = "—" if row.difference is None else ("yes" if row.difference <= TOLERANCE else "NO")
        ratio = "—" if row.ratio is None else f"{row.ratio:7.2f}"
        diff = "—" if row.difference is None else f"{row.difference:8.1e}"
        print(f"  {row.name:30s} {fmt(row.ours)} {fmt(row.theirs, 12)} {diff:>8s}  {short(row.ours_seconds):>9s} "
              f"{short(row.theirs_seconds):>9s} {ratio:>7s}  {ok}")
        print(f"      {row.estimator}: {row.note}")
    if extra:
        print("verbalized confidence, reply by reply (uqviz also reads percentages, 'Confidence:' and unlabelled numbers):")
        print("\n".join(extra))
    chats = inputs["verbalized_two_stage"]["model"].chats
    if chats:
        print(f"  Verbalized2S asked with chats of roles {[turn['role'] for turn in chats[0]]} (uqviz's two-stage turns)")
    return rows, [f"shared statistics {shared_seconds:.2f} s: "
                  + ", ".join(f"{name} {cost.seconds:.2f} s" for name, cost in stats.costs.items())]


def luq_row(run, nli) -> Row:
    """LUQ with each whole answer as its one claim (LM-Polygraph 0.7.0's LUQ splits nothing), fed the same NLI logits:
    premise = row i, hypothesis = column j, as LM-Polygraph's semantic matrices; its diagonal is left out by both."""
    from lm_polygraph.estimators import LUQ

    from uqviz.measures.luq import luq
    from uqviz.statistics.claims import Claim, claim_support

    answers = [sample.text for sample in run.samples]
    whole = [Claim(k, 0, text, 0, len(text), None, None) for k, text in enumerate(answers)]
    support, _ = timed(lambda: claim_support(whole, answers, nli), repeats=1)
    ours, ours_seconds = timed(lambda: luq(whole, support, len(answers)))
    count = len(answers)
    pairs = [(i, j) for i in range(count) for j in range(count) if i != j]
    logits = nli.pair_logits([answers[i] for i, _ in pairs], [answers[j] for _, j in pairs])  # cached: no new model call
    entail, contra = np.zeros((count, count)), np.zeros((count, count))
    for (i, j), row in zip(pairs, logits):
        entail[i, j], contra[i, j] = row[NLI_LABELS.index(ENTAILMENT)], row[NLI_LABELS.index(CONTRADICTION)]
    values, theirs_seconds = timed(lambda: LUQ()({"semantic_matrix_entail_logits": [entail], "semantic_matrix_contra_logits": [contra]}))
    theirs = float(values[0])
    return Row("luq", "LUQ()", ours.value, theirs, abs(ours.value - theirs), ours_seconds, theirs_seconds,
               "each whole answer one claim (uqviz's claims are sentences, docs/methods.md §13.3); same NLI logits")


def full_attentions(stats: RunStatistics) -> np.ndarray:
    """(layers × heads × T × T) of uqviz's analysed answer from one eager forward with output_attentions, the tensor
    LM-Polygraph's calculators hold; an independent reading of the attention that uqviz's pass reduces in hooks."""
    import torch

    from uqviz.engine.attention import eager_attention

    token_ids = attention_of(stats).token_ids
    lm = stats.language_model
    with lm.lock, eager_attention(lm.model), torch.inference_mode():
        out = lm.model(torch.tensor([token_ids], device=lm.model.device), output_attentions=True, use_cache=False)
    return np.stack([layer[0].float().cpu().numpy() for layer in out.attentions])


class UnconditionalModelStub:
    """What GreedyLMProbsCalculator asks of a WhiteboxModel: a base (not instruct) model's `tokenize`, left-padded with
    the tokenizer's special tokens as LM-Polygraph 0.7.0 loads it, over the run's own model."""

    model_type = "CausalLM"

    def __init__(self, lm) -> None:
        self.model = lm.model
        self.tokenizer = lm.tokenizer

    def device(self):
        return self.model.device

    def tokenize(self, texts: list[str]):
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            return self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=True)
        finally:
            self.tokenizer.padding_side = side


def pmi_rows(run, lm) -> list[Row]:
    """MeanPointwiseMutualInformation and MeanConditionalPointwiseMutualInformation (τ = 0.0656, λ = 3.599) fed uqviz's
    stats per answer: greedy_log_likelihoods = the sampled token log-probs, greedy_lm_log_likelihoods = uqviz's pass without
    the prompt (entry 0 is read by neither side), entropy = the sampled entropies. A third row feeds PMI LM-Polygraph's own
    GreedyLMProbsCalculator on the same token ids, which reads log p(y_{t+1} = y_t | y_≤t): expected to differ."""
    import torch
    from lm_polygraph.estimators import MeanConditionalPointwiseMutualInformation, MeanPointwiseMutualInformation
    from lm_polygraph.stat_calculators.greedy_lm_probs import GreedyLMProbsCalculator

    from uqviz.measures.pmi import CPMI_LAMBDA, CPMI_TAU

    stats = RunStatistics(run, language_model=lm)
    scores = score_run(run, stats, ["pmi", "conditional_pmi"])
    unconditional = UNCONDITIONAL_LOGPROBS(stats)
    pass_seconds = stats.costs["unconditional_logprobs"].seconds
    same = {
        "greedy_log_likelihoods": stats.logprobs,
        "greedy_lm_log_likelihoods": [row.tolist() for row in unconditional.logprobs],
        "entropy": stats.token_entropies,
    }
    empty = any(not len(sample) for sample in run.samples)
    common = (f"per answer; uqviz's pass: {unconditional.passes} distinct answers, prefix {unconditional.prefix}, "
              f"{pass_seconds:.2f} s" + ("; LM-Polygraph gives nan for an empty answer, uqviz 0" if empty else ""))

    def compared(name: str, estimator, inputs: dict, note: str, ours_seconds: float | None = None, theirs_seconds: float | None = None) -> Row:
        result = scores.measures[name].result
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nan means of empty answers, reported in the note
            values, estimator_seconds = timed(lambda: estimator(inputs))
        values = np.asarray(values, dtype=np.float64)
        kept = [k for k in range(len(values)) if len(run.samples[k])]
        per_answer = max_abs([result.per_sample[k] for k in kept], values[kept])
        theirs = float(np.nanmean(values))
        ours_seconds = ours_seconds or timed(lambda: REGISTRY[name].compute(stats))[1]  # on the cached pass
        return Row(name, str(estimator), result.value, theirs, per_answer, ours_seconds,
                   theirs_seconds or estimator_seconds, f"{note}; max per-answer |diff| {per_answer:.1e} over non-empty answers")

    rows = [
        compared("pmi", MeanPointwiseMutualInformation(), same, common),
        compared("conditional_pmi", MeanConditionalPointwiseMutualInformation(tau=CPMI_TAU, lambd=CPMI_LAMBDA), same, common),
    ]

    tokens = [list(sample.token_ids or []) for sample in run.samples]
    with warnings.catch_warnings(), lm.lock:
        warnings.simplefilter("ignore")
        theirs_pass, theirs_seconds = timed(lambda: GreedyLMProbsCalculator()({"greedy_tokens": tokens}, [], UnconditionalModelStub(lm)), repeats=1)
    theirs_ll = theirs_pass["greedy_lm_log_likelihoods"]
    late = 0.0  # how far its entries are from log p(y_{t+1} = y_t | y_≤t): the row after the one that predicts y_t
    with torch.inference_mode():
        for ids, row_theirs in zip(tokens, theirs_ll):
            if ids:
                logprobs = torch.log_softmax(lm.model(input_ids=torch.tensor([unconditional.prefix + ids])).logits[0].float(), -1)
                offset = len(unconditional.prefix)
                late = max(late, max_abs([logprobs[offset + t, ids[t]].item() for t in range(len(ids))], row_theirs))
    off = max((max_abs(ours[1:], theirs[1:]) for ours, theirs in zip(unconditional.logprobs, theirs_ll) if len(ours) >= 2), default=0.0)
    row = compared("pmi", MeanPointwiseMutualInformation(), {**same, "greedy_lm_log_likelihoods": theirs_ll},
                   "LM-Polygraph's own GreedyLMProbsCalculator (decode → re-tokenize, left padding) on the same token ids; "
                   f"expected to differ: its greedy_lm_log_likelihoods are {off:.2e} from uqviz's log p(y_t | y_<t) at most, "
                   f"{late:.1e} from log p(y_(t+1) = y_t | y_≤t)", pass_seconds, theirs_seconds)
    return rows + [dataclasses.replace(row, name="pmi (their unconditional pass)")]


def rauq_row(stats: RunStatistics, weights: np.ndarray) -> Row:
    """RAUQ of uqviz's analysed answer vs LM-Polygraph's RAUQ fed `attention_all` as GreedyProbsCalculator builds it
    from generate(): row j holds step j's attention over the generated keys 0…j−1, i.e. query P + j − 1."""
    from lm_polygraph.estimators import RAUQ

    result, ours_seconds = timed(lambda: REGISTRY["rauq"].compute(stats))
    attention = attention_of(stats)
    layers, heads = weights.shape[:2]
    start, count = attention.prompt_length, attention.answer_length
    attention_all = np.zeros((layers * heads, count, count))
    for j in range(1, count):
        attention_all[:, j, :j] = weights[:, :, start + j - 1, start : start + j].reshape(layers * heads, j)
    estimator = RAUQ(n_layers=layers, n_heads=heads, instruct=stats.run.chat)
    polygraph_stats = {"attention_all": [attention_all], "greedy_log_likelihoods": [attention.logprobs]}
    values, theirs_seconds = timed(lambda: estimator(polygraph_stats))
    theirs = float(values[0])
    return Row("rauq", str(estimator), result.value, theirs, abs(result.value - theirs), ours_seconds, theirs_seconds,
               f"sample {stats.config.uqac_sample or 0} (UQAC's answer); α = {estimator.alpha} (instruct={stats.run.chat}); "
               "same teacher-forced log-probs; attention_all from an eager output_attentions forward, no EOS step")


def attention_score_row(stats: RunStatistics, weights: np.ndarray) -> Row:
    """LLM-Check's Attention Score of uqviz's analysed answer vs LM-Polygraph's AttentionScore on the full attention."""
    from lm_polygraph.estimators import AttentionScore

    result, ours_seconds = timed(lambda: REGISTRY["attention_score"].compute(stats))
    attention = attention_of(stats)
    estimator = AttentionScore(layer=weights.shape[0] // 2)
    polygraph_stats = {"forwardpass_attention_weights": [weights], "greedy_tokens": [attention.token_ids[attention.prompt_length :]]}
    values, theirs_seconds = timed(lambda: estimator(polygraph_stats))
    theirs = float(values[0])
    return Row("attention_score", str(estimator), result.value, theirs, abs(result.value - theirs), ours_seconds, theirs_seconds,
               "prompt + answer, no EOS position (LM-Polygraph's greedy tokens end with EOS when one was generated)")


def markdown(rows: list[Row]) -> str:
    lines = ["| measure | uqviz | LM-Polygraph | |difference| | uqviz s | LM-Polygraph s | ratio | note |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [
            f"{row.name} ({row.estimator})",
            "—" if row.ours is None else f"{row.ours:.6f}",
            "—" if row.theirs is None else f"{row.theirs:.6f}",
            "—" if row.difference is None else f"{row.difference:.1e}",
            short(row.ours_seconds),
            short(row.theirs_seconds),
            "—" if row.ratio is None else f"{row.ratio:.2f}",
            row.note.replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = run_size_parser()
    args = parser.parse_args()

    lm = load_language_model("default", device="cpu")
    embedder = load_embedder("default", device="cpu")
    nli = load_nli("default", device="cpu")
    embedder.model.encode(["warm up"])
    run = sample(lm, PROMPT, SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))
    print(f"N={args.n}, max_new_tokens={args.max_new_tokens}, {sum(len(s) for s in run.samples)} answer tokens, CPU, "
          f"model {run.model.name}, NLI judge {nli.name}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print()

    rows = sar_part(run, lm, embedder)
    new_rows, costs = new_part(run, lm, embedder, nli)
    new_rows.append(luq_row(run, nli))
    new_rows += pmi_rows(run, lm)
    attention_stats = RunStatistics(run, ScoreConfig(), language_model=lm)
    weights = full_attentions(attention_stats)
    new_rows += [rauq_row(attention_stats, weights), attention_score_row(attention_stats, weights)]
    print()
    print("README table (markdown):")
    print(markdown(rows + new_rows))
    print("\n".join(costs))
    print(f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (model-call times scale with it)")


if __name__ == "__main__":
    main()
