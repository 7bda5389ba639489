"""PCA and the 2-D map: shapes, determinism, fallback for few points."""

import numpy as np
import pytest

from uqviz.engine.projection import map_2d, pca


def test_pca_recovers_a_line():
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0]) / 5.0
    points = np.outer(rng.normal(size=30), direction) + 1e-6 * rng.normal(size=(30, 3))
    projection = pca(points, 2)
    assert projection.coordinates.shape == (30, 2)
    assert projection.explained_variance[0] == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(np.abs(projection.coordinates[:, 0]), np.abs((points - points.mean(0)) @ direction), atol=1e-5)


def test_pca_pads_when_fewer_points_than_dimensions():
    projection = pca(np.eye(2, 5), 3)
    assert projection.coordinates.shape == (2, 3)
    assert np.allclose(projection.coordinates[:, 1:], 0.0)


def test_map_falls_back_to_pca_for_few_points_and_is_deterministic():
    rng = np.random.default_rng(1)
    few = rng.normal(size=(4, 8))
    assert map_2d(few).method == "pca"
    many = rng.normal(size=(12, 8))
    first, second = map_2d(many, random_state=0), map_2d(many, random_state=0)
    assert first.method == "umap" and first.coordinates.shape == (12, 2)
    assert np.allclose(first.coordinates, second.coordinates)


def test_warm_up_runs_the_umap_path():
    from uqviz.engine.projection import warm_up_map

    warmed = warm_up_map()
    assert warmed.method == "umap" and warmed.coordinates.shape == (8, 2)
