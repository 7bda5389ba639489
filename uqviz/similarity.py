"""One interface over the similarity backends: bi-encoder cosine (default), cross-encoder, NLI (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from uqviz.models import Embedder

EMBED_BATCH_SIZE = 128


class SimilarityBackend(Protocol):
    """Scores text pairs with g ∈ [0, 1]; `name` is written into scores.json and shown in the UI."""

    name: str
    calls: int

    def pair_scores(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray: ...


class BiEncoderSimilarity:
    """g = max(0, cosine) of unit embeddings; every text is embedded once and kept, so views share embeddings."""

    def __init__(self, embedder: Embedder, batch_size: int = EMBED_BATCH_SIZE) -> None:
        self.embedder = embedder
        self.batch_size = batch_size
        self.name = f"bi-encoder cosine ({embedder.name})"
        self.calls = 0
        self._vectors: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 embeddings (len(texts) × d); unseen texts go through the model in batched calls."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._vectors))
        if missing:
            with self.embedder.lock:
                vectors = self.embedder.model.encode(
                    missing, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                    show_progress_bar=False,
                )
            self.calls += -(-len(missing) // self.batch_size)
            self._vectors.update(zip(missing, np.asarray(vectors, dtype=np.float32)))
        dimension = self.embedder.model.get_sentence_embedding_dimension()
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        return np.stack([self._vectors[text] for text in texts])

    def pair_scores(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        cosine = np.sum(self.embed(left) * self.embed(right), axis=1)
        return np.clip(cosine, 0.0, 1.0).astype(np.float64)
