"""Semantic volume against docs/methods.md §6 worked examples, its properties, the registry measures and `score`."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import make_run, run_cli
from uqviz.measures.registry import REGISTRY
from uqviz.measures.volume import (
    NO_PERTURBATIONS_REASON,
    equicorrelated_log_det,
    equivalent_cosine,
    log_volume_bounds,
    semantic_volume,
)
from uqviz.format.run import write_run
from uqviz.statistics.base import MissingModelError, RunStatistics, ScoreConfig
from uqviz.viz.volume import curve_figure, gram_figure, scatter_figure, spectrum_figure, text_labels, volume_reading


def at_angle(degrees: float) -> np.ndarray:
    theta = math.radians(degrees)
    return np.array([[1.0, 0.0], [math.cos(theta), math.sin(theta)]])


def equicorrelated(count: int, cosine: float, dimensions: int = 8) -> np.ndarray:
    """Unit vectors whose pairwise cosines are all `cosine` (rows of the Gram's Cholesky factor, padded)."""
    gram = (1 - cosine) * np.eye(count) + cosine * np.ones((count, count))
    factor = np.linalg.cholesky(gram)
    return np.hstack([factor, np.zeros((count, dimensions - count))])


@pytest.mark.parametrize(
    "degrees, epsilon, expected",
    [(60, 0.0, -0.287682), (60, 1e-3, -0.285018), (90, 0.0, 0.0), (90, 1e-3, 0.001999), (10, 0.0, -3.501448), (10, 1e-3, -3.437197)],
)
def test_two_vectors_worked_examples(degrees, epsilon, expected):
    assert semantic_volume(at_angle(degrees), epsilon).value == pytest.approx(expected, abs=1e-6)


def test_three_coplanar_vectors_worked_example():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [2**-0.5, 2**-0.5]])
    assert semantic_volume(vectors, 1e-3).value == pytest.approx(-6.213109, abs=1e-6)
    singular = semantic_volume(vectors, 0.0)
    assert singular.value is None and "ε > 0" in singular.reason


@pytest.mark.parametrize("count, dimensions, epsilon", [(1, 3, 1e-3), (3, 3, 1e-3), (5, 384, 1e-3), (10, 40, 1e-10), (4, 16, 0.1)])
def test_orthonormal_vectors_reach_the_upper_bound(count, dimensions, epsilon):
    rng = np.random.default_rng(count)
    basis, _ = np.linalg.qr(rng.normal(size=(dimensions, count)))
    result = semantic_volume(basis.T, epsilon)
    assert result.value == pytest.approx(count * math.log1p(epsilon), abs=1e-9)
    assert result.value == pytest.approx(log_volume_bounds(count, epsilon)[1], abs=1e-12)


@pytest.mark.parametrize("epsilon", [1e-10, 1e-6, 1e-3])
def test_identical_vectors_are_finite_and_sit_at_the_lower_bound(epsilon):
    vectors = np.tile(np.float32([0.3, -0.2, 0.9, 0.1]), (6, 1))
    result = semantic_volume(vectors, epsilon)
    assert math.isfinite(result.value)
    expected = math.log(6 + epsilon) + 5 * math.log(epsilon)
    assert result.value == pytest.approx(expected, rel=1e-6)
    assert log_volume_bounds(6, epsilon)[0] == pytest.approx(expected, rel=1e-12)
    assert all(value is not None and math.isfinite(value) for value in result.detail.curve)


def test_value_is_never_minus_infinity():
    rng = np.random.default_rng(3)
    cases = [np.ones((5, 3)), np.zeros((4, 6)), rng.normal(size=(20, 3)), np.vstack([np.eye(3), np.eye(3)])]
    for vectors in cases:
        for epsilon in (0.0, 1e-10, 1e-3):
            for center in (False, True):
                for dimensions in (None, 2):
                    result = semantic_volume(vectors, epsilon, dimensions, center)
                    assert result.value is None or math.isfinite(result.value)
                    assert all(value is None or math.isfinite(value) for value in result.detail.curve)
                    if epsilon > 0:
                        assert result.value is not None


def test_random_unit_vectors_lie_between_the_bounds_and_scale_does_not_matter():
    rng = np.random.default_rng(5)
    for count in (2, 5, 12):
        vectors = rng.normal(size=(count, 10))
        low, high = log_volume_bounds(count, 1e-3)
        value = semantic_volume(vectors).value
        assert low < value < high
        scaled = vectors * rng.uniform(0.1, 10.0, size=(count, 1))
        assert semantic_volume(scaled).value == pytest.approx(value, abs=1e-9)
        assert semantic_volume(vectors[rng.permutation(count)]).value == pytest.approx(value, abs=1e-9)


def test_detail_gram_eigenvalues_and_curve():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(8, 5))
    epsilon = 1e-3
    result = semantic_volume(vectors, epsilon)
    detail = result.detail
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert np.allclose(detail.gram, unit @ unit.T, atol=1e-12)
    assert np.array_equal(detail.gram, detail.gram.T)
    assert detail.eigenvalues.sum() == pytest.approx(8.0, abs=1e-9)
    assert np.all(np.diff(detail.eigenvalues) <= 1e-12)
    assert np.sum(np.log(detail.eigenvalues + epsilon)) == pytest.approx(result.value, abs=1e-6)
    assert detail.curve[-1] == result.value
    assert detail.curve == pytest.approx([semantic_volume(vectors[:k], epsilon).value for k in range(1, 9)], abs=1e-9)
    steps = np.diff(detail.curve)
    assert np.all(steps <= math.log1p(epsilon) + 1e-12)  # a Schur complement never exceeds 1 + ε
    assert np.all(steps[4:] < -1.0)  # 8 vectors in 5 dimensions: from the sixth on, each adds almost nothing new


def test_pca_caps_the_rank_and_centring_sends_identical_vectors_to_zero():
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(6, 20))
    reduced = semantic_volume(vectors, 1e-3, pca_dimensions=2)
    assert reduced.detail.dimensions == 2
    assert np.count_nonzero(reduced.detail.eigenvalues > 1e-9) == 2
    assert reduced.value < semantic_volume(vectors, 1e-3).value
    identical = np.tile(np.float32([0.25, 0.5, -0.75]), (4, 1))
    centred = semantic_volume(identical, 1e-3, center=True)
    assert np.allclose(centred.detail.gram, 0.0)
    assert centred.value == pytest.approx(4 * math.log(1e-3), abs=1e-9)


@pytest.mark.parametrize("bad", [{"epsilon": -1e-3}, {"epsilon": math.nan}, {"pca_dimensions": 0}])
def test_bad_settings_raise(bad):
    with pytest.raises(ValueError):
        semantic_volume(np.eye(3), **bad)


def test_no_vectors_gives_a_reason():
    result = semantic_volume(np.zeros((0, 4)))
    assert result.value is None and result.reason


@pytest.mark.parametrize("count, cosine", [(2, 0.5), (5, 0.1), (10, 0.8), (20, 0.97)])
def test_equivalent_cosine_recovers_an_equicorrelated_set(count, cosine):
    vectors = equicorrelated(count, cosine, dimensions=max(count, 8))
    value = semantic_volume(vectors, 1e-3).value
    assert value == pytest.approx(equicorrelated_log_det(count, cosine, 1e-3), abs=1e-9)
    assert equivalent_cosine(value, count, 1e-3) == pytest.approx(cosine, abs=1e-9)
    assert equivalent_cosine(value, 1, 1e-3) is None


def test_registry_measures_over_run_statistics():
    run = make_run(["Paris", "Lyon"])
    statistics = RunStatistics(run)
    external = REGISTRY["semantic_volume_external"].compute(statistics)
    assert external.value is None and external.reason == NO_PERTURBATIONS_REASON
    with pytest.raises(MissingModelError):
        REGISTRY["semantic_volume"].compute(statistics)
    assert {"semantic_volume", "semantic_volume_external"} <= set(REGISTRY)


@pytest.mark.slow
def test_identical_answers_have_a_much_lower_volume_than_unrelated_ones(embedder):
    same = make_run(["The capital of France is Paris."] * 4)
    unrelated = make_run(["Paris.", "Photosynthesis needs light.", "I like jazz music.", "The stock market fell today."])
    values = {}
    for name, run in (("same", same), ("unrelated", unrelated)):
        result = REGISTRY["semantic_volume"].compute(RunStatistics(run, ScoreConfig(), embedder=embedder))
        assert math.isfinite(result.value)
        values[name] = result.value
    assert values["same"] < values["unrelated"] - 5.0
    assert values["same"] == pytest.approx(log_volume_bounds(4, 1e-3)[0], abs=1e-3)


@pytest.mark.slow
def test_external_volume_uses_the_settings_and_records_its_cost(embedder):
    run = replace(make_run(["Paris"], prompt="Who won?"),
                  perturbations=["Who won the match?", "Which team won the game?", "Who won the election?"])
    statistics = RunStatistics(run, ScoreConfig(volume_epsilon=1e-6), embedder=embedder)
    result = REGISTRY["semantic_volume_external"].compute(statistics)
    vectors = statistics.embed(run.perturbations)
    assert result.value == pytest.approx(semantic_volume(vectors, 1e-6).value, abs=1e-9)
    assert result.detail.gram.shape == (3, 3) and result.detail.epsilon == 1e-6
    assert statistics.costs["perturbation_embeddings"].model_calls == 1


@pytest.mark.slow
def test_score_cli_done_means(tmp_path):
    """`score` on four identical answers is more than 5 nats below four unrelated ones; external when perturbed."""
    same = make_run(["The capital of France is Paris."] * 4, prompt="What is the capital of France?")
    unrelated = replace(
        make_run(["Paris.", "Photosynthesis needs light.", "I like jazz music.", "The stock market fell today."],
                 prompt="What is the capital of France?"),
        perturbations=["Which city is the capital of France?", "What is France's capital city?", "Name the French capital."],
    )
    documents = {}
    for name, run in (("same", same), ("unrelated", unrelated)):
        path = tmp_path / f"{name}.json"
        write_run(run, path)
        result = run_cli("score", str(path))
        documents[name] = json.loads(result.stdout)["measures"]
    same_value = documents["same"]["semantic_volume"]["value"]
    unrelated_value = documents["unrelated"]["semantic_volume"]["value"]
    assert math.isfinite(same_value) and math.isfinite(unrelated_value)
    assert same_value < unrelated_value - 5.0
    assert documents["same"]["semantic_volume_external"]["value"] is None
    assert "perturbations" in documents["same"]["semantic_volume_external"]["reason"]
    external = documents["unrelated"]["semantic_volume_external"]["value"]
    assert math.isfinite(external) and log_volume_bounds(3, 1e-3)[0] < external < 3 * math.log1p(1e-3)


# Figure builders (uqviz/viz/volume.py): structure, escaping, ids.

def test_gram_figure_escapes_both_texts_on_hover():
    gram = np.array([[1.0, 0.2], [0.2, 1.0]])
    figure = gram_figure(gram, ["<script>x</script>", "a & b"], text_labels("A", 2))
    trace = figure.data[0]
    assert trace.type == "heatmap" and (trace.zmin, trace.zmax) == (-1.0, 1.0)
    cell = trace.text[0][1]
    assert "&lt;script&gt;x&lt;/script&gt;" in cell and "a &amp; b" in cell and "<script>" not in cell
    assert "cos = 0.200" in cell
    assert list(trace.x) == ["A1", "A2"]


def test_spectrum_curve_and_scatter_figures():
    spectrum = spectrum_figure(np.array([2.0, 1.0, 0.0]), 1e-3)
    assert list(spectrum.data[0].y) == pytest.approx([2.001, 1.001, 1e-3])
    assert spectrum.layout.yaxis.type == "log"
    curve = curve_figure({"answers": [0.001, -0.3, -2.0], "perturbations": [0.001, -1.0]}, 1e-3)
    names = [trace.name for trace in curve.data]
    assert names[-2:] == ["answers", "perturbations"]
    identical = curve.data[names.index("all identical")]
    assert identical.y[2] == pytest.approx(log_volume_bounds(3, 1e-3)[0])
    scatter = scatter_figure(np.zeros((3, 2)), ["a", "<b>", "c"], text_labels("P", 3), "#000000")
    assert list(scatter.data[0].customdata) == [0, 1, 2]
    assert scatter.data[0].hovertext[1] == "&lt;b&gt;"


def test_volume_reading_names_the_equivalent_cosine():
    value = equicorrelated_log_det(5, 0.8, 1e-3)
    reading = volume_reading(value, 5, 1e-3, "answers")
    assert "cosine 0.80" in reading and "close variants" in reading
    assert "largely unrelated" in volume_reading(5 * math.log1p(1e-3), 5, 1e-3, "answers")
    assert "say the same thing" in volume_reading(log_volume_bounds(5, 1e-3)[0], 5, 1e-3, "answers")
    assert "single text" in volume_reading(0.001, 1, 1e-3, "perturbations")
