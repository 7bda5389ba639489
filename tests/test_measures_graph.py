"""Degree, Laplacian eigenvalues and eccentricity (Lin et al. 2024; docs/methods.md §2.3): worked example and properties."""

import math

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.models.nli import NLI_LABELS
from uqviz.statistics.affinity import embedding_affinity, nli_affinity
from uqviz.measures.registry import REGISTRY
from uqviz.measures.graph import degree, eccentricity, eig_val_laplacian, laplacian_spectrum
from uqviz.statistics.base import RunStatistics, ScoreConfig

W = np.array([[1, 0.9, 0.1], [0.9, 1, 0.2], [0.1, 0.2, 1]])


def test_worked_example_degree():
    result = degree(W)
    assert result.value == pytest.approx(0.4, abs=1e-9)
    assert result.detail.confidence == pytest.approx([0.666667, 0.7, 0.433333], abs=1e-6)
    assert np.mean(result.per_sample) == pytest.approx(result.value)


def test_worked_example_eigenvalues():
    result = eig_val_laplacian(W)
    assert result.value == pytest.approx(1.745421, abs=1e-6)
    assert result.detail.eigenvalues == pytest.approx([0.0, 0.300672, 0.953907], abs=1e-6)


def test_worked_example_eccentricity():
    result = eccentricity(W, threshold=0.9)
    assert result.value == pytest.approx(1.000148, abs=1e-6)
    assert result.per_sample == pytest.approx([0.452367, 0.362858, 0.814858], abs=1e-6)
    assert result.detail.confidence == pytest.approx([-0.452367, -0.362858, -0.814858], abs=1e-6)
    assert result.detail.kept_eigenvectors == 2
    assert eccentricity(W, threshold=0.99).detail.kept_eigenvectors == 3


def test_measures_follow_sample_order():
    order = [2, 0, 1]
    permuted = W[np.ix_(order, order)]
    assert degree(permuted).value == pytest.approx(degree(W).value)
    assert eig_val_laplacian(permuted).value == pytest.approx(eig_val_laplacian(W).value)
    assert eccentricity(permuted).value == pytest.approx(eccentricity(W).value)
    assert eccentricity(permuted).per_sample == pytest.approx([eccentricity(W).per_sample[i] for i in order])


@pytest.mark.parametrize("count", [1, 3, 6])
def test_full_agreement_and_no_agreement(count):
    agree, disagree = np.ones((count, count)), np.eye(count)
    assert degree(agree).value == pytest.approx(0.0)
    assert degree(disagree).value == pytest.approx((count - 1) / count)
    # EigV ≈ number of disconnected groups: 1 when all agree, m when none does
    assert eig_val_laplacian(agree).value == pytest.approx(1.0)
    assert eig_val_laplacian(disagree).value == pytest.approx(count)
    assert eccentricity(agree).value == pytest.approx(0.0, abs=1e-9)


def test_two_blocks_give_two_small_eigenvalues():
    blocks = np.kron(np.eye(2), np.ones((3, 3)))
    eigenvalues = laplacian_spectrum(blocks)[0]
    assert eigenvalues[:2] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert eig_val_laplacian(blocks).value == pytest.approx(2.0)


def test_embedding_affinity_clips_negative_cosine_and_has_unit_diagonal():
    vectors = np.array([[1.0, 0.0], [-1.0, 0.0], [0.6, 0.8]])
    affinity = embedding_affinity(vectors)
    assert affinity == pytest.approx(np.array([[1, 0, 0.6], [0, 1, 0], [0.6, 0, 1]]))


def test_nli_affinity_is_lins_symmetrised_entailment_or_contradiction():
    logits = np.zeros((2, 2, 3))
    logits[0, 1, NLI_LABELS.index("entailment")] = 3.0  # at T = 3: p_E = e / (e + 2)
    logits[1, 0, NLI_LABELS.index("contradiction")] = 3.0
    p = math.e / (math.e + 2)
    entail = nli_affinity(logits)
    assert entail[0, 1] == entail[1, 0] == pytest.approx((p + (1 - p) / 2) / 2)
    assert np.diag(entail) == pytest.approx([1, 1])
    contradict = nli_affinity(logits, kind="contradiction", temperature=1.0)
    q = math.exp(3) / (math.exp(3) + 2)
    assert contradict[0, 1] == pytest.approx(1 - ((1 - q) / 2 + q) / 2)
    with pytest.raises(ValueError, match="affinity"):
        nli_affinity(logits, kind="jaccard")


@pytest.mark.slow
def test_graph_measures_on_real_embeddings(embedder):
    run = make_run(["Paris", "Paris.", "It is Paris.", "The mitochondria is the powerhouse of the cell.", "Blue whales eat krill."])
    stats = RunStatistics(run, ScoreConfig(eccentricity_threshold=0.9), embedder=embedder)
    result = REGISTRY["degree"].compute(stats)
    vectors = stats.answer_embeddings
    assert result.detail.affinity == pytest.approx(embedding_affinity(vectors))
    assert "cosine" in result.detail.affinity_name
    confidence = result.detail.confidence
    assert min(confidence[:3]) > max(confidence[3:])  # the three Paris answers agree with more of the others
    eig = REGISTRY["eig_val_laplacian"].compute(stats)
    assert 2.0 < eig.value < 4.0  # about three groups: Paris, mitochondria, whales
    ecc = REGISTRY["eccentricity"].compute(stats)
    assert len(ecc.per_sample) == 5 and ecc.value == pytest.approx(np.linalg.norm(ecc.per_sample))
