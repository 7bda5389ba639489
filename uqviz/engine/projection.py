"""Low-dimensional projections of embeddings: PCA (scikit-learn) and a 2-D map (UMAP with PCA fallback)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UMAP_MIN_POINTS = 6


@dataclass(frozen=True)
class Projection:
    coordinates: np.ndarray
    method: str
    explained_variance: list[float] | None = None


def pca(vectors: np.ndarray, dimensions: int) -> Projection:
    """Principal components fitted on these vectors (centred, full SVD), at most min(n, d) of them; missing ones are 0."""
    from sklearn.decomposition import PCA

    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.shape[0] == 0:
        return Projection(np.zeros((0, dimensions)), "pca", [])
    kept = min(dimensions, *vectors.shape)
    if not np.any(vectors - vectors[0]):  # one point: no direction to explain
        return Projection(np.zeros((vectors.shape[0], dimensions)), "pca", [0.0] * kept)
    fitted = PCA(n_components=kept, svd_solver="full")
    coordinates = fitted.fit_transform(vectors)
    if kept < dimensions:
        coordinates = np.hstack([coordinates, np.zeros((coordinates.shape[0], dimensions - kept))])
    return Projection(coordinates, "pca", [float(ratio) for ratio in fitted.explained_variance_ratio_])


def map_2d(vectors: np.ndarray, random_state: int = 0) -> Projection:
    """A 2-D map: UMAP (cosine, fixed random_state) when there are enough points, PCA otherwise."""
    vectors = np.asarray(vectors, dtype=np.float64)
    count = vectors.shape[0]
    distinct = np.unique(np.round(vectors, 6), axis=0).shape[0] if count else 0
    if count < UMAP_MIN_POINTS or distinct < UMAP_MIN_POINTS:
        return pca(vectors, 2)
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(15, count - 1),
        metric="cosine",
        init="random" if count < 20 else "spectral",
        random_state=random_state,
        n_jobs=1,
    )
    return Projection(np.asarray(reducer.fit_transform(vectors), dtype=np.float64), "umap")


def warm_up_map() -> Projection:
    """map_2d on a small random set, so that numba compiles UMAP's code (about 6 s of CPU) before a view needs it."""
    return map_2d(np.random.default_rng(0).normal(size=(UMAP_MIN_POINTS + 2, 8)))
