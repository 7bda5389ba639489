"""An optional local NLI model (e.g. a DeBERTa-MNLI folder) for entailment-based clustering and graph affinities (docs/methods.md §0.2, §2.3, §3.2)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from uqviz.models.loading import ModelLoadError, looks_like_path, resolve_device
from uqviz.models.similarity import has_fast_bfloat16

ENTAILMENT = "entailment"
NEUTRAL = "neutral"
CONTRADICTION = "contradiction"
NLI_LABELS = (CONTRADICTION, NEUTRAL, ENTAILMENT)
DEFAULT_NLI = "default"

NLI_BATCH_SIZE = 32
PAIR_CACHE_SIZE = 100_000
SELF_PAIR_LOGITS = (-np.inf, -np.inf, 0.0)
LABEL_PREFIXES = ("contra", "neutral", "entail")


def label_columns(label2id: Mapping[str, int]) -> tuple[int, int, int]:
    """The model's output columns of contradiction, neutral and entailment, read from config.label2id."""
    columns = []
    for prefix in LABEL_PREFIXES:
        matches = [int(index) for name, index in label2id.items() if name.lower().startswith(prefix)]
        if len(matches) != 1:
            raise ModelLoadError(
                f"The NLI model's config.label2id {dict(label2id)} does not name exactly one {prefix}… label; "
                "expected a 3-way NLI head with contradiction, neutral and entailment labels."
            )
        columns.append(matches[0])
    return columns[0], columns[1], columns[2]


@dataclass
class NliModel:
    """A sequence-classification NLI model; `pair_logits` columns follow NLI_LABELS whatever the model's order.

    Scores are kept per (premise, hypothesis), so re-clustering under other settings costs no model calls.
    """

    model: Any
    tokenizer: Any
    name: str
    columns: tuple[int, int, int]
    device: str = "cpu"
    batch_size: int = NLI_BATCH_SIZE
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    calls: int = 0
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def pair_logits(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """len(premises) × 3 logits in NLI_LABELS order (contradiction, neutral, entailment); cached per pair, batched
        by length so that short pairs are not padded to the longest."""
        import torch

        pairs = list(zip(premises, hypotheses))
        with self.lock:
            missing = sorted(dict.fromkeys(pair for pair in pairs if pair not in self._cache), key=lambda p: len(p[0]) + len(p[1]))
            for start in range(0, len(missing), self.batch_size):
                batch = missing[start : start + self.batch_size]
                encoded = self.tokenizer(
                    [premise for premise, _ in batch], [hypothesis for _, hypothesis in batch],
                    padding=True, truncation=True, max_length=self._max_length(), return_tensors="pt",
                ).to(self.device)
                with torch.inference_mode():
                    logits = self.model(**encoded).logits.float().cpu().numpy()
                self.calls += 1
                for pair, row in zip(batch, logits[:, list(self.columns)].astype(np.float64)):
                    self._cache[pair] = row
            while len(self._cache) > PAIR_CACHE_SIZE:
                self._cache.popitem(last=False)
            if not pairs:
                return np.zeros((0, 3))
            return np.stack([self._cache[pair] for pair in pairs])

    def _max_length(self) -> int:
        limits = [getattr(self.tokenizer, "model_max_length", None), getattr(self.model.config, "max_position_embeddings", None)]
        return min(limit for limit in limits + [512] if isinstance(limit, int) and limit > 0)


def default_nli_path() -> Path:
    """The NLI judge trained by the project and shipped in the package (its model card is README.md there)."""
    return Path(__file__).resolve().parent.parent / "data" / "nli-minilm"


def load_nli(spec: str = DEFAULT_NLI, device: str | None = None) -> NliModel:
    """An NLI model: 'default' (the packaged judge), a local sequence-classification folder with a 3-way label2id, or a
    Hugging Face hub id when online (e.g. microsoft/deberta-large-mnli, the papers' model). Weights load as float32,
    the packaged judge's as bfloat16 where the device computes in it natively."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    spec = spec.strip()
    path = default_nli_path() if spec == DEFAULT_NLI else Path(os.path.expanduser(spec))
    local = (path / "config.json").is_file()
    if not local and (spec == DEFAULT_NLI or path.exists() or looks_like_path(spec)):
        raise ModelLoadError(f"NLI model {spec!r} is not a folder with config.json; expected a sequence-classification model folder.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path if local else spec, local_files_only=local)
        model = AutoModelForSequenceClassification.from_pretrained(path if local else spec, local_files_only=local, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        where = "a sequence-classification model folder" if local else "a local folder, or a hub id reachable from here"
        raise ModelLoadError(f"Could not load NLI model {spec!r}; expected {where}.") from error
    columns = label_columns(model.config.label2id)
    device = resolve_device(device)
    model.to(device)
    model.eval()
    packaged = f"packaged NLI judge (MiniLM, {model.config.num_hidden_layers} layers, SNLI + QA pairs)"
    name = packaged if spec == DEFAULT_NLI else (path.name if local else spec)
    if spec == DEFAULT_NLI and has_fast_bfloat16(device):
        # measured for the packaged judge: bf16 weights take bench/judge.py 0.98 s against float32's 2.14 s, about 15 %
        # less than bf16 autocast, and change 2 argmax labels of 1,388 (the hand-written pairs both ways and 1,000 SNLI
        # test pairs); other NLI models keep float32
        model.to(torch.bfloat16)
    return NliModel(model=model, tokenizer=tokenizer, name=name, columns=columns, device=device)


def unique_texts(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """The distinct texts in first-occurrence order and, for every text, the index of its distinct text."""
    position: dict[str, int] = {}
    for text in texts:
        position.setdefault(text, len(position))
    return list(position), [position[text] for text in texts]


def pairwise_logits(nli: NliModel, question: str, texts: Sequence[str]) -> np.ndarray:
    """U × U × 3 logits of e(t_i → t_j) on "question answer" pairs, all ordered pairs i ≠ j; the diagonal is certain entailment."""
    count = len(texts)
    logits = np.tile(np.asarray(SELF_PAIR_LOGITS), (count, count, 1))
    pairs = [(i, j) for i in range(count) for j in range(count) if i != j]
    if pairs:
        sentences = [f"{question} {text}" for text in texts]
        scores = nli.pair_logits([sentences[i] for i, _ in pairs], [sentences[j] for _, j in pairs])
        for (i, j), row in zip(pairs, scores):
            logits[i, j] = row
    return logits


def argmax_labels(logits: np.ndarray) -> np.ndarray:
    """The argmax NLI label (a string of NLI_LABELS) of every pair."""
    return np.asarray(NLI_LABELS, dtype=object)[np.argmax(logits, axis=-1)]


def label_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) over the NLI_LABELS axis."""
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1)
