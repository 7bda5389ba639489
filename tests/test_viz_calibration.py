"""Calibration view builders: reliability bins worked by hand from a tiny table (the rows of each bin of U, the map's mean
P(wrong), the bootstrap interval widened to contain it, the observed error rate), the diagonal, the hover text, and the
ranking of measures by held-out Brier score."""

import math

import numpy as np
import pytest

from uqviz.viz.calibration import ranked_names, ranking_frame, reliability_bins, reliability_figure
from uqviz.workflows.calibration import ISOTONIC, PLATT, apply_map, fit_measure, labelled_values, question_folds

# P(wrong) = U on [0, 1]; two bins of U split at 0.5, with the bootstrap interval of each bin's middle
IDENTITY = {"method": ISOTONIC, "map": {"x": [0.0, 1.0], "y": [0.0, 1.0]},
            "bins": {"edges": [0.0, 0.5, 1.0], "low": [0.1, 0.5], "high": [0.4, 0.7]}}
U = np.array([0.1, 0.2, 0.3, 0.5, 0.8, 1.0])
WRONG = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 0.0])


def test_reliability_bins_worked_by_hand():
    first, second = reliability_bins(U, WRONG, IDENTITY)
    # below 0.5: U = 0.1, 0.2, 0.3, one wrong; the map's mean is 0.2, inside [0.1, 0.4]
    assert (first.lower, first.upper, first.count, first.wrong) == (0.0, 0.5, 3, 1)
    assert first.predicted == pytest.approx(0.2) and first.observed == pytest.approx(1 / 3)
    assert (first.low, first.high) == (0.1, 0.4)
    # from 0.5 (an edge opens its bin, as `calibrate` reads it): U = 0.5, 0.8, 1.0, two wrong; mean 2.3 / 3 lies above
    # the bin's interval [0.5, 0.7], which is widened to contain it
    assert (second.lower, second.upper, second.count, second.wrong) == (0.5, 1.0, 3, 2)
    assert second.predicted == pytest.approx(2.3 / 3) and second.observed == pytest.approx(2 / 3)
    assert second.low == 0.5 and second.high == pytest.approx(2.3 / 3)


def test_an_empty_bin_is_left_out_and_values_beyond_the_edges_join_the_end_bins():
    [only] = reliability_bins(np.array([0.7, 0.9, 1.5]), np.array([0.0, 1.0, 1.0]), IDENTITY)
    assert (only.lower, only.count, only.wrong) == (0.5, 3, 2)
    assert only.predicted == pytest.approx((0.7 + 0.9 + 1.0) / 3)  # the isotonic map is flat beyond its data


def test_the_figure_has_the_diagonal_the_bins_their_intervals_and_hover_detail():
    figure = reliability_figure("LN-PE <b>", reliability_bins(U, WRONG, IDENTITY))
    diagonal, points = figure.data
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert list(points.x) == pytest.approx([0.2, 2.3 / 3]) and list(points.y) == pytest.approx([1 / 3, 2 / 3])
    assert list(points.error_x.array) == pytest.approx([0.4 - 0.2, 0.0])
    assert list(points.error_x.arrayminus) == pytest.approx([0.2 - 0.1, 2.3 / 3 - 0.5])
    assert points.hovertext[0] == ("U in [0, 0.5]<br>3 questions, 1 wrong<br>predicted P(wrong) 0.200 (95 % interval "
                                   "0.100–0.400)<br>observed error rate 0.333")
    assert "3 questions, 2 wrong" in points.hovertext[1]
    assert figure.layout.title.text == "LN-PE &lt;b&gt;"


def test_labelled_values_keep_the_rows_a_profile_is_fitted_on():
    rows = [{"correct": 1, "m": 0.5}, {"correct": 0, "m": 2.0}, {"correct": None, "m": 1.0}, {"correct": 1, "m": None},
            {"correct": 0, "m": math.nan}, {"correct": 1, "m": True}, {"correct": 0}]
    u, wrong = labelled_values(rows, "m")
    assert list(u) == [0.5, 2.0] and list(wrong) == [0.0, 1.0]
    assert [len(values) for values in labelled_values([], "m")] == [0, 0]


def test_bins_of_a_fitted_measure_hold_every_row_and_their_predictions_match_the_map():
    rng = np.random.default_rng(3)
    u = rng.uniform(0, 1, 60)
    wrong = (rng.uniform(0, 1, 60) < u).astype(float)
    fitted = fit_measure(u, wrong, question_folds([f"q{i}" for i in range(60)]), bootstraps=20)
    bins = reliability_bins(u, wrong, fitted)
    assert sum(entry.count for entry in bins) == 60 and sum(entry.wrong for entry in bins) == wrong.sum()
    first = bins[0]
    inside = u < fitted["bins"]["edges"][1]
    assert first.predicted == pytest.approx(apply_map(fitted["method"], fitted["map"], u[inside]).mean())
    assert all(entry.low <= entry.predicted <= entry.high for entry in bins)


def held(brier: float, auroc: float | None = 0.7) -> dict:
    return {"brier": brier, "ece": brier / 2, "auroc": auroc}


def test_the_ranking_orders_measures_and_the_ensemble_by_held_out_brier_then_lists_the_unfit():
    profile = {
        "measures": {
            "predictive_entropy": {"method": PLATT, "held_out": {ISOTONIC: held(0.1), PLATT: held(0.3)}, "rows": 40},
            "ln_predictive_entropy": {"method": ISOTONIC, "held_out": {ISOTONIC: held(0.2, None), PLATT: held(0.25)}, "rows": 40},
        },
        "ensemble": {"measures": ["predictive_entropy", "ln_predictive_entropy"], "held_out": {"brier": 0.22, "auroc": 0.8},
                     "best_single": {"measure": "ln_predictive_entropy", "auroc": 0.75}},
        "unfit": {"eigenscore": "3 labelled rows with a value"},
    }
    assert ranked_names(profile) == ["ln_predictive_entropy", "predictive_entropy"]  # by the chosen map's Brier: 0.2, 0.3
    frame = ranking_frame(profile)
    assert list(frame["name"]) == ["ln_predictive_entropy", "ensemble", "predictive_entropy", "eigenscore"]
    assert list(frame["held-out Brier"][:3]) == [0.2, 0.22, 0.3] and list(frame["calibrator"][:3]) == [ISOTONIC, "logistic", PLATT]
    assert frame["held-out ECE"][2] == 0.15 and frame["held-out AUROC"][1] == 0.8
    assert frame["note"][1] == "best single measure: ln_predictive_entropy, AUROC 0.750"
    assert frame["note"][3] == "not fitted: 3 labelled rows with a value" and frame["measure"][0] != "ln_predictive_entropy"
