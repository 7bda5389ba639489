"""TokenSAR, SentSAR, SAR and semantic entropy: uqviz vs LM-Polygraph's estimators on the same samples.

    make bench-polygraph          # builds .venv-polygraph (requirements.txt + lm-polygraph) and runs this

Both sides use the same similarity model (MiniLM, g = max(0, cosine)) and the same run. LM-Polygraph's
CrossEncoderSimilarityMatrixCalculator is given a `predict` that scores pairs with that model, so the
difference measured is the computation scheme: LM-Polygraph scores each sample's token-removed variants in
its own call and embeds both sides of every pair, uqviz embeds every distinct text once in batched calls.
Semantic entropy uses uqviz's clusters on both sides (LM-Polygraph's needs an NLI model).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT, run_size_parser  # noqa: E402

from uqviz.statistics.clustering import answer_clustering  # noqa: E402
from uqviz.measures.registry import REGISTRY  # noqa: E402
from uqviz.models.loading import load_embedder, load_language_model  # noqa: E402
from uqviz.format.run import SamplingSettings  # noqa: E402
from uqviz.engine.sampling import sample  # noqa: E402
from uqviz.models.similarity import FLOAT32  # noqa: E402
from uqviz.statistics.base import RunStatistics, ScoreConfig  # noqa: E402

MEASURES = ("token_sar", "sent_sar", "sar", "semantic_entropy_lm_polygraph")


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


def main() -> None:
    parser = run_size_parser()
    args = parser.parse_args()

    from lm_polygraph.estimators import SAR, SemanticEntropy, SentenceSAR, TokenSAR
    from lm_polygraph.stat_calculators.cross_encoder_similarity import CrossEncoderSimilarityMatrixCalculator

    lm = load_language_model("default", device="cpu")
    embedder = load_embedder("default", device="cpu")
    embedder.model.encode(["warm up"])
    run = sample(lm, PROMPT, SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0))

    statistics = RunStatistics(run, ScoreConfig(relevance_precision=FLOAT32), embedder=embedder)  # LM-Polygraph: float32
    started = time.perf_counter()
    ours = {name: REGISTRY[name].compute(statistics).value for name in MEASURES}
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

    print(f"N={args.n}, max_new_tokens={args.max_new_tokens}, {sum(len(s) for s in samples)} answer tokens, CPU")
    print(f"uqviz         {ours_seconds:8.3f} s  {ours_calls:4d} similarity-model calls")
    print(f"LM-Polygraph  {theirs_seconds:8.3f} s  {predictor.calls:4d} predict calls (greedy = sample 1 scored too)")
    print(f"ratio LM-Polygraph / uqviz {theirs_seconds / ours_seconds:.2f}")
    for name in MEASURES:
        print(f"  {name:30s} uqviz {ours[name]:10.4f}   LM-Polygraph {theirs[name]:10.4f}")
    print("TokenSAR: uqviz averages over samples, LM-Polygraph scores the greedy (here: first) answer only; "
          "SentSAR/SAR: uqviz compares question + answer, LM-Polygraph bare answers (docs/methods.md §10).")


if __name__ == "__main__":
    main()
