"""Figure builders of kernel language entropy and semantic density: the plotted values are the inputs, hover text is escaped."""

import math

import numpy as np
import pytest

from uqviz.measures.kernel_entropy import heat_kernel, kernel_language_entropy
from uqviz.viz.kernels import density_figure, kernel_heatmap_figure, kernel_spectrum_figure

HOSTILE = "<script>alert('x')</script> & <b>bold</b>"


def test_kernel_heatmap_plots_the_kernel_and_names_both_answers_escaped():
    kernel = heat_kernel(np.array([[2.0, 1.5, 0.2], [1.5, 2.0, 0.1], [0.2, 0.1, 2.0]]), 0.3)
    answers = ["Paris", HOSTILE, "x" * 1000]
    figure = kernel_heatmap_figure(kernel, answers)
    trace = figure.data[0]
    assert np.asarray(trace.z) == pytest.approx(kernel)
    assert list(trace.x) == ["A1", "A2", "A3"] and list(trace.y) == ["A1", "A2", "A3"]
    cell = trace.text[0][1]
    assert "<b>A1</b>: Paris" in cell and "<b>A2</b>: &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in cell
    assert f"K_heat = {kernel[0, 1]:.4f}" in cell
    hover = " ".join(text for row in trace.text for text in row)
    assert "<script>" not in hover and "<b>bold</b>" not in hover
    assert len(trace.text[2][2]) < 600  # the 1000-character answer is shortened in the hover


def test_kernel_spectrum_plots_the_eigenvalues_largest_first_with_their_entropy_share():
    result = kernel_language_entropy(np.array([[2.0, 1.8], [1.8, 2.0]]), 0.3)
    eigenvalues = result.detail.eigenvalues
    figure = kernel_spectrum_figure(list(reversed(eigenvalues)))
    assert list(figure.data[0].y) == pytest.approx(sorted(eigenvalues, reverse=True))
    assert sum(figure.data[0].y) == pytest.approx(1.0)
    shares = [-value * math.log(value) for value in sorted(eigenvalues, reverse=True)]
    assert f"{shares[0]:.4f}" in figure.data[0].hovertext[0]
    assert sum(shares) / math.log(2) == pytest.approx(result.value)
    assert figure.layout.shapes[0].y0 == pytest.approx(0.5)  # the 1/K line


def test_density_figure_plots_each_answers_density_with_the_answer_escaped():
    figure = density_figure([0.9, 0.25, 0.5], ["Paris", HOSTILE, ""])
    trace = figure.data[0]
    assert list(trace.y) == [0.9, 0.25, 0.5] and list(trace.x) == ["A1", "A2", "A3"]
    assert list(trace.customdata) == [0, 1, 2]
    assert "&lt;script&gt;" in trace.hovertext[1] and "<script>" not in trace.hovertext[1]
    assert "SD = 0.250" in trace.hovertext[1]
    assert "∅ (empty answer)" in trace.hovertext[2]
