"""The History and What-if panel figures hold any number of measures: one panel each, spacing within plotly's bound."""

import pytest

from uqviz.viz.history import measures_figure


@pytest.mark.parametrize("count", [1, 2, 63, 64, 200])
def test_one_panel_per_measure_however_many(count):
    figure = measures_figure([0.5, 1.0], {f"m{i}": [0.1 * i, None] for i in range(count)}, "temperature")
    assert len(figure.data) == count
