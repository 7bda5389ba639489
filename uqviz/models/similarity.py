"""One interface over the similarity backends: bi-encoder cosine (default), cross-encoder, NLI (docs/methods.md §0.2)."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from uqviz.models.loading import Embedder, ModelLoadError, resolve_device

EMBED_BATCH_SIZE = 32
CROSS_ENCODER_BATCH_SIZE = 64
FLOAT32, BFLOAT16 = "float32", "bfloat16"
PRECISIONS = ("auto", FLOAT32, BFLOAT16)
CPU_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


class SimilarityBackend(Protocol):
    """Scores text pairs with g ∈ [0, 1] at float32 or bfloat16; `name` is written into scores.json and shown in the UI."""

    name: str
    calls: int
    device: str
    auto_bfloat16: bool  # bf16 was measured close to float32 for this backend, so `auto` may choose it

    def pair_scores(self, left: Sequence[str], right: Sequence[str], precision: str = FLOAT32) -> np.ndarray: ...


def has_fast_bfloat16(device: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether bf16 matrix products run natively: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX."""
    import torch

    kind = device.split(":")[0]
    if kind == "cuda":  # bf16 tensor cores from Ampere (compute capability 8) on; older GPUs only emulate bf16
        return torch.cuda.is_available() and torch.cuda.get_device_capability(torch.device(device))[0] >= 8
    return kind == "cpu" and any(flag in cpu_flags(cpuinfo) for flag in CPU_BFLOAT16_FLAGS)


@functools.cache
def cpu_flags(cpuinfo: Path) -> frozenset[str]:
    """The words of /proc/cpuinfo (read once); empty where there is no such file."""
    try:
        return frozenset(cpuinfo.read_text().split())
    except OSError:
        return frozenset()


def resolve_precision(setting: str, backend: SimilarityBackend) -> str:
    """`auto` is bfloat16 where it runs natively and was measured close to float32 for this backend, else float32."""
    if setting not in PRECISIONS:
        raise ValueError(f"precision {setting!r} is not one of {', '.join(PRECISIONS)}")
    if setting == "auto":
        return BFLOAT16 if backend.auto_bfloat16 and has_fast_bfloat16(backend.device) else FLOAT32
    return setting


@contextmanager
def computing_in(precision: str, device: str) -> Iterator[None]:
    """Model calls inside run under bf16 autocast (matrix products in bf16, norms and softmax in float32) or as they are."""
    import torch

    context = torch.autocast(device.split(":")[0], dtype=torch.bfloat16) if precision == BFLOAT16 else nullcontext()
    with context:
        yield


class BiEncoderSimilarity:
    """g = max(0, cosine) of unit embeddings; every text is embedded once and kept, so views share embeddings."""

    auto_bfloat16 = True  # bench/relevance.py: R within 5e-4 of float32 with MiniLM

    def __init__(self, embedder: Embedder, batch_size: int = EMBED_BATCH_SIZE) -> None:
        self.embedder = embedder
        self.batch_size = batch_size
        self.name = f"bi-encoder cosine ({embedder.name})"
        self.device = str(embedder.model.device)
        self.calls = 0
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._token_vectors: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str], precision: str = FLOAT32) -> np.ndarray:
        """Unit-norm float32 embeddings (len(texts) × d) computed at `precision`; unseen texts go through the model in
        batched calls, and each text is kept per precision."""
        missing = list(dict.fromkeys(text for text in texts if (precision, text) not in self._vectors))
        if missing:
            with self.embedder.lock, computing_in(precision, str(self.embedder.model.device)):
                vectors = self.embedder.model.encode(
                    missing, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                    show_progress_bar=False,
                )
            self.calls += -(-len(missing) // self.batch_size)
            self._vectors.update(((precision, text), np.asarray(vector, dtype=np.float32)) for text, vector in zip(missing, vectors))
        dimension = self.embedder.model.get_embedding_dimension()
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        return np.stack([self._vectors[precision, text] for text in texts])

    def token_embeddings(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text, the unit-norm float32 contextual vectors (n × d) of its word pieces from the encoder's last layer,
        [CLS], [SEP] and padding left out as BERTScore does (docs/methods.md §12.9); unseen texts go through the model in
        batched calls, and each text is kept."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._token_vectors))
        if missing:
            tokenizer = self.embedder.model.tokenizer
            special = [token for token in (tokenizer.cls_token_id, tokenizer.sep_token_id) if token is not None]
            with self.embedder.lock:
                outputs = self.embedder.model.encode(missing, batch_size=self.batch_size, output_value=None, show_progress_bar=False)
            self.calls += -(-len(missing) // self.batch_size)
            for text, output in zip(missing, outputs):
                ids = output["input_ids"].cpu().numpy()
                keep = (output["attention_mask"].cpu().numpy() == 1) & ~np.isin(ids, special)
                vectors = output["token_embeddings"].float().cpu().numpy()[keep]
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                self._token_vectors[text] = (vectors / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32)
        return [self._token_vectors[text] for text in texts]

    def pair_scores(self, left: Sequence[str], right: Sequence[str], precision: str = FLOAT32) -> np.ndarray:
        cosine = np.sum(self.embed(left, precision) * self.embed(right, precision), axis=1)
        return np.clip(cosine, 0.0, 1.0).astype(np.float64)


@dataclass
class CrossEncoderModel:
    """A sentence-transformers cross-encoder with one output (a similarity score) and its lock."""

    model: Any
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def load_cross_encoder(spec: str, device: str | None = None) -> CrossEncoderModel:
    """Load a local cross-encoder folder, e.g. cross-encoder/stsb-roberta-large (SAR's similarity, docs/methods.md §0.2)."""
    from sentence_transformers import CrossEncoder

    path = Path(os.path.expanduser(spec.strip()))
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"Cross-encoder {spec!r} is not a model folder; expected a local directory with config.json and weights.")
    try:
        model = CrossEncoder(str(path), device=resolve_device(device), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelLoadError(f"Could not load cross-encoder {spec!r}; expected a sentence-transformers cross-encoder folder.") from error
    if model.num_labels != 1:
        raise ModelLoadError(
            f"Cross-encoder {spec!r} has {model.num_labels} output labels; a similarity cross-encoder has exactly one."
        )
    return CrossEncoderModel(model=model, name=path.name)


class CrossEncoderSimilarity(BiEncoderSimilarity):
    """g = sigmoid score of the cross-encoder on each text pair, every pair scored once and kept (SAR's exact setting,
    docs/methods.md §4.5); views that need vectors still get the bi-encoder's embeddings."""

    auto_bfloat16 = False  # not measured against float32: `auto` keeps float32, bfloat16 only when asked for

    def __init__(self, cross_encoder: CrossEncoderModel, embedder: Embedder, batch_size: int = CROSS_ENCODER_BATCH_SIZE) -> None:
        super().__init__(embedder)
        self.cross_encoder = cross_encoder
        self.pair_batch_size = batch_size
        self.name = f"cross-encoder ({cross_encoder.name}); embeddings: {embedder.name}"
        self.device = str(cross_encoder.model.device)
        self._scores: dict[tuple[str, str, str], float] = {}

    def pair_scores(self, left: Sequence[str], right: Sequence[str], precision: str = FLOAT32) -> np.ndarray:
        import torch

        pairs = [(precision, *pair) for pair in zip(left, right, strict=True)]
        missing = list(dict.fromkeys(pair for pair in pairs if pair not in self._scores))
        if missing:
            with self.cross_encoder.lock, computing_in(precision, self.device):
                scores = self.cross_encoder.model.predict(
                    [pair[1:] for pair in missing], batch_size=self.pair_batch_size, activation_fn=torch.nn.Sigmoid(), convert_to_numpy=True,
                    show_progress_bar=False,
                )
            self.calls += -(-len(missing) // self.pair_batch_size)
            self._scores.update(zip(missing, map(float, scores)))
        return np.array([self._scores[pair] for pair in pairs], dtype=np.float64)
