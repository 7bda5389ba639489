"""Calibration profiles: from a batch's results, a map from each measure's U to the chance that the graded answer is
wrong (isotonic or Platt, chosen by cross-validation), with bootstrap intervals, and a tuned ensemble over the measures
(docs/methods.md §14). Profiles are plain JSON: read with bounds, never unpickled, no code."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uqviz.format.run import check_limit

PROFILE_SCHEMA = "uqviz.profile/1"
DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "data" / "default_profile.json"  # `make calibration` writes it
MAX_PROFILE_BYTES = 2 * 1024 * 1024
MAX_MAP_POINTS = 5_000
MIN_ROWS = 20
MIN_PER_CLASS = 5
FOLDS = 5
BINS = 10
BOOTSTRAPS = 200
ISOTONIC, PLATT = "isotonic", "platt"


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one sentence."""


@dataclass(frozen=True)
class Calibrated:
    """The chance that the graded answer is wrong, with its bootstrap interval."""

    p_wrong: float
    low: float
    high: float


def question_folds(questions: Sequence[str], folds: int = FOLDS) -> list[np.ndarray]:
    """Test indices of each fold, grouped by question so that no question is in both a train and a test fold."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(questions)
    splitter = GroupKFold(n_splits=min(folds, len(set(questions))))
    return [test for _, test in splitter.split(np.zeros(len(groups)), groups=groups)]


def fit_map(method: str, u: np.ndarray, wrong: np.ndarray) -> dict[str, Any]:
    """The parameters of a U → P(wrong) map: isotonic (increasing, clipped to [0, 1]) or Platt (a logistic curve)."""
    if method == ISOTONIC:
        from sklearn.isotonic import IsotonicRegression

        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(u, wrong)
        return {"x": fitted.X_thresholds_.tolist(), "y": fitted.y_thresholds_.tolist()}
    from sklearn.linear_model import LogisticRegression

    scale = float(np.std(u)) or 1.0
    fitted = LogisticRegression(C=1e4).fit(u.reshape(-1, 1) / scale, wrong.astype(int))
    return {"slope": float(fitted.coef_[0, 0]) / scale, "intercept": float(fitted.intercept_[0])}


def apply_map(method: str, parameters: Mapping[str, Any], u: np.ndarray) -> np.ndarray:
    """P(wrong) for each U under a fitted map."""
    if method == ISOTONIC:
        return np.interp(u, parameters["x"], parameters["y"])
    return 1.0 / (1.0 + np.exp(-(parameters["slope"] * u + parameters["intercept"])))


def expected_calibration_error(p: np.ndarray, wrong: np.ndarray, bins: int = BINS) -> float:
    """Σ_b (n_b / n) |mean(wrong) − mean(p)| over equal-width bins of p."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(wrong[index == b].mean() - p[index == b].mean()) * np.mean(index == b)
                     for b in range(bins) if np.any(index == b)))


def held_out(method: str, u: np.ndarray, wrong: np.ndarray, folds: list[np.ndarray]) -> dict[str, float | None]:
    """Brier score, ECE and AUROC of the map's predictions for each fold, fitted on the other folds."""
    from sklearn.metrics import roc_auc_score

    predicted = np.empty(len(u))
    for test in folds:
        train = np.setdiff1d(np.arange(len(u)), test)
        predicted[test] = apply_map(method, fit_map(method, u[train], wrong[train]), u[test])
    return {"brier": float(np.mean((predicted - wrong) ** 2)), "ece": expected_calibration_error(predicted, wrong),
            "auroc": float(roc_auc_score(wrong, predicted)) if 0 < wrong.sum() < len(wrong) else None}


def bootstrap_bins(method: str, u: np.ndarray, wrong: np.ndarray, bootstraps: int = BOOTSTRAPS, seed: int = 0) -> dict[str, list[float]]:
    """Bins of U (deciles of the data): the map's P(wrong) at each bin's middle and its 95 % bootstrap interval."""
    edges = np.unique(np.quantile(u, np.linspace(0, 1, BINS + 1)))
    middles = (edges[:-1] + edges[1:]) / 2 if len(edges) > 1 else edges
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(bootstraps):
        chosen = rng.integers(0, len(u), len(u))
        if 0 < wrong[chosen].sum() < len(chosen):
            draws.append(apply_map(method, fit_map(method, u[chosen], wrong[chosen]), middles))
    low, high = np.percentile(draws, [2.5, 97.5], axis=0) if draws else (np.zeros(len(middles)), np.ones(len(middles)))
    return {"edges": edges.tolist(), "low": np.asarray(low).tolist(), "high": np.asarray(high).tolist()}


def fit_measure(u: np.ndarray, wrong: np.ndarray, folds: list[np.ndarray], bootstraps: int = BOOTSTRAPS) -> dict[str, Any]:
    """Both maps scored on held-out folds; the one with the lower held-out Brier score is kept, refitted on all rows."""
    scores = {method: held_out(method, u, wrong, folds) for method in (ISOTONIC, PLATT)}
    chosen = min(scores, key=lambda method: scores[method]["brier"])
    return {"method": chosen, "map": fit_map(chosen, u, wrong), "bins": bootstrap_bins(chosen, u, wrong, bootstraps), "held_out": scores,
            "rows": len(u)}


def usable_rows(rows: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    """The graded rows (`correct` 1 or 0) that hold a finite value of the measure: those its map is fitted on."""
    return [row for row in rows if row.get("correct") in (0, 1) and _finite(row.get(name))]


def labelled_values(rows: Sequence[Mapping[str, Any]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """U and wrong (1 − correct) of the rows a measure's map is fitted on."""
    usable = usable_rows(rows, name)
    return (np.asarray([float(row[name]) for row in usable], dtype=float),
            np.asarray([1.0 - float(row["correct"]) for row in usable], dtype=float))


FitProgress = Callable[[int, int, str], None]


def fit_profile(rows: Sequence[Mapping[str, Any]], measures: Sequence[str], valid_for: Mapping[str, Any],
                bootstraps: int = BOOTSTRAPS, progress: FitProgress | None = None) -> dict[str, Any]:
    """A calibration profile from batch result rows (`correct` 1/0 and one column per measure; docs/methods.md §14).
    `progress(done, total, what)` is told before each measure and before the ensemble, when there is one to fit."""
    labelled = [row for row in rows if row.get("correct") in (0, 1)]
    fitted, unfit = {}, {}
    for done, name in enumerate(measures):
        if progress is not None:
            progress(done, len(measures) + 1, name)
        usable = usable_rows(labelled, name)
        u, wrong = labelled_values(usable, name)
        if len(usable) < MIN_ROWS or min(wrong.sum(), len(wrong) - wrong.sum()) < MIN_PER_CLASS:
            unfit[name] = (f"{len(usable)} labelled rows with a value, {int(wrong.sum())} wrong: at least {MIN_ROWS} rows "
                           f"and {MIN_PER_CLASS} of each class are needed")
            continue
        fitted[name] = fit_measure(u, wrong, question_folds([str(row.get("question", i)) for i, row in enumerate(usable)]), bootstraps)
    if progress is not None and len(fitted) >= 2:
        progress(len(measures), len(measures) + 1, "ensemble")
    return {"schema": PROFILE_SCHEMA, "valid_for": dict(valid_for), "measures": fitted, "unfit": unfit,
            "ensemble": fit_ensemble(labelled, list(fitted)) if len(fitted) >= 2 else None}


def fit_ensemble(rows: Sequence[Mapping[str, Any]], measures: Sequence[str]) -> dict[str, Any]:
    """A regularised logistic regression over the standardised measures (missing values: the training mean), its C
    chosen by cross-validation inside each outer fold; held-out AUROC beside the best single measure's."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import roc_auc_score

    matrix = np.asarray([[float(row[name]) if _finite(row.get(name)) else np.nan for name in measures] for row in rows])
    wrong = np.asarray([1.0 - float(row["correct"]) for row in rows])
    folds = question_folds([str(row.get("question", i)) for i, row in enumerate(rows)])

    def fit(train: np.ndarray) -> dict[str, Any]:
        means = np.nanmean(matrix[train], axis=0)
        filled = np.where(np.isnan(matrix[train]), means, matrix[train])
        scales = filled.std(axis=0)
        scales[scales == 0] = 1.0
        model = LogisticRegressionCV(Cs=10, cv=3, scoring="neg_brier_score", l1_ratios=(0.0,), use_legacy_attributes=False)
        model.fit((filled - means) / scales, wrong[train])
        return {"means": means.tolist(), "scales": scales.tolist(), "weights": np.ravel(model.coef_).tolist(),
                "intercept": float(np.ravel(model.intercept_)[0]), "C": float(np.ravel(model.C_)[0])}

    predicted = np.empty(len(rows))
    for test in folds:
        predicted[test] = ensemble_p_wrong(fit(np.setdiff1d(np.arange(len(rows)), test)), matrix[test])
    single = {name: float(roc_auc_score(wrong[~np.isnan(matrix[:, j])], matrix[~np.isnan(matrix[:, j]), j]))
              for j, name in enumerate(measures)}
    best = max(single, key=single.get)
    return {"measures": list(measures), **fit(np.arange(len(rows))),
            "held_out": {"auroc": float(roc_auc_score(wrong, predicted)), "brier": float(np.mean((predicted - wrong) ** 2))},
            "best_single": {"measure": best, "auroc": single[best]}}


def ensemble_p_wrong(ensemble: Mapping[str, Any], matrix: np.ndarray) -> np.ndarray:
    """P(wrong) of each row of measure values (NaN: missing, filled with the training mean)."""
    means, scales = np.asarray(ensemble["means"]), np.asarray(ensemble["scales"])
    filled = np.where(np.isnan(matrix), means, matrix)
    return 1.0 / (1.0 + np.exp(-(((filled - means) / scales) @ np.asarray(ensemble["weights"]) + ensemble["intercept"])))


def calibrate(profile: Mapping[str, Any], values: Mapping[str, float | None]) -> dict[str, Calibrated]:
    """The calibrated chance of being wrong for every measure the profile covers (and the ensemble), from run values."""
    result = {}
    for name, fitted in profile["measures"].items():
        value = values.get(name)
        if not _finite(value):
            continue
        p = float(apply_map(fitted["method"], fitted["map"], np.asarray([value]))[0])
        bins = fitted["bins"]
        index = int(np.clip(np.searchsorted(bins["edges"], value, side="right") - 1, 0, len(bins["low"]) - 1))
        result[name] = Calibrated(p, min(bins["low"][index], p), max(bins["high"][index], p))
    ensemble = profile.get("ensemble")
    if ensemble and any(_finite(values.get(name)) for name in ensemble["measures"]):
        row = np.asarray([[float(values[name]) if _finite(values.get(name)) else np.nan for name in ensemble["measures"]]])
        p = float(ensemble_p_wrong(ensemble, row)[0])
        result["ensemble"] = Calibrated(p, p, p)
    return result


def data_identity(path: str | Path) -> dict[str, Any]:
    """The results file's SHA-256 and size, so a profile names the data it was fitted on."""
    data = Path(path).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def read_profile(path: str | Path) -> dict[str, Any]:
    """A profile file read with bounds (see `profile_from_bytes`); a missing or oversized file is one sentence."""
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"{path}: no such file")
    check_limit(str(path), path.stat().st_size, MAX_PROFILE_BYTES, "bytes", ProfileError)  # before reading it
    return profile_from_bytes(path.read_bytes(), str(path))


def profile_from_bytes(data: bytes, where: str = "the profile") -> dict[str, Any]:
    """A profile from JSON bytes (a file, an upload): size, nesting, schema, finite numbers and map sizes checked."""
    check_limit(where, len(data), MAX_PROFILE_BYTES, "bytes", ProfileError)
    try:
        profile = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
        raise ProfileError(f"{where} is not a profile ({(str(error).splitlines() or [type(error).__name__])[0][:120]})") from None
    check_profile(profile, where)
    return profile


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a profile may hold")


def check_profile(profile: Any, where: str = "profile") -> None:
    """Refuse anything but a well-formed uqviz.profile/1 with finite numbers and bounded maps."""
    if not isinstance(profile, dict) or profile.get("schema") != PROFILE_SCHEMA:
        raise ProfileError(f"{where}: expected a JSON object with schema {PROFILE_SCHEMA!r}")
    measures = profile.get("measures")
    if not isinstance(measures, dict) or not isinstance(profile.get("valid_for"), dict):
        raise ProfileError(f"{where}: 'measures' and 'valid_for' must be objects")
    for name, fitted in measures.items():
        try:
            method, parameters, bins = fitted["method"], fitted["map"], fitted["bins"]
            if method == ISOTONIC:
                numbers = [_number_list(parameters["x"]), _number_list(parameters["y"])]
                if len(numbers[0]) != len(numbers[1]) or not numbers[0] or np.any(np.diff(numbers[0]) < 0):
                    raise ValueError("the isotonic map needs as many increasing x as y")
            elif method == PLATT:
                _number_list([parameters["slope"], parameters["intercept"]])
            else:
                raise ValueError(f"unknown method {method!r}")
            _number_list([fitted["held_out"][method]["brier"]])
            edges, low, high = _number_list(bins["edges"]), _number_list(bins["low"]), _number_list(bins["high"])
            if len(low) != len(high) or len(low) != max(len(edges) - 1, 1):
                raise ValueError("bins and intervals do not match")
        except (KeyError, TypeError, ValueError) as error:
            raise ProfileError(f"{where}: measure {str(name)[:60]!r} is malformed ({error})") from None
    ensemble = profile.get("ensemble")
    if ensemble is not None:
        try:
            count = len(ensemble["measures"])
            if not all(len(_number_list(ensemble[key])) == count for key in ("means", "scales", "weights")):
                raise ValueError("weights, means and scales must have one entry per measure")
            _number_list([ensemble["intercept"], ensemble["held_out"]["brier"]])
            if not all(isinstance(name, str) for name in ensemble["measures"]):
                raise ValueError("measure names must be strings")
        except (KeyError, TypeError, ValueError) as error:
            raise ProfileError(f"{where}: the ensemble is malformed ({error})") from None


def _number_list(values: Any) -> list[float]:
    if not isinstance(values, list) or len(values) > MAX_MAP_POINTS:
        raise ValueError(f"expected a list of at most {MAX_MAP_POINTS} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ValueError("expected finite numbers")
    return [float(v) for v in values]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def best_calibrated(profile: Mapping[str, Any], calibrated: Mapping[str, Calibrated]) -> str | None:
    """The calibrated measure (or the ensemble) with the lowest held-out Brier score among those the run has."""
    brier = {name: fitted["held_out"][fitted["method"]]["brier"] for name, fitted in profile["measures"].items() if name in calibrated}
    ensemble = profile.get("ensemble")
    if ensemble and "ensemble" in calibrated:
        brier["ensemble"] = ensemble["held_out"]["brier"]
    return min(brier, key=brier.get) if brier else None


def differences(profile: Mapping[str, Any], valid_for: Mapping[str, Any]) -> list[str]:
    """What differs between the profile's conditions and a run's (model, sampling settings, judge), in words."""
    expected = profile.get("valid_for", {})
    return [f"{key}: the profile was fitted with {expected.get(key)!r}, this run has {value!r}"
            for key, value in valid_for.items() if key in expected and expected.get(key) not in (None, value)]


SETTINGS_COMPARED = ("n", "temperature", "top_p", "top_k", "max_new_tokens")


def profile_from_results(results: str | Path, report: str | Path | None = None, bootstraps: int = BOOTSTRAPS,
                         progress: FitProgress | None = None) -> dict[str, Any]:
    """A profile from a `uqviz batch` results CSV, valid for the conditions its report.json names (model, sampling
    settings, meaning judge, grader); without a report they are recorded as unknown. `progress` as in `fit_profile`."""
    from uqviz import __version__
    from uqviz.measures.registry import REGISTRY
    from uqviz.workflows.batch import read_results

    rows = read_results(results)
    details = {}
    if report is not None:
        details = json.loads(Path(report).read_text(encoding="utf-8"))
        if not isinstance(details, dict):
            raise ProfileError(f"{report}: expected the report.json that `uqviz batch --report` writes")
    settings = details.get("settings") or {}
    sampling = settings.get("sampling") or {}
    judges = settings.get("judges") or sorted({row["judge"] for row in rows if row.get("judge")})
    valid_for = {
        "model": details.get("model"), **{key: sampling.get(key) for key in SETTINGS_COMPARED},
        "judge": judges[0] if len(judges) == 1 else None, "grader": settings.get("correctness"),
        "data": {**data_identity(results), "rows": len(rows)}, "uqviz": __version__,
    }
    present = [name for name in REGISTRY if any(_finite(row.get(name)) for row in rows)]
    return fit_profile(rows, present, valid_for, bootstraps, progress)


def run_conditions(model: str | None, settings: Any, judge: str | None) -> dict[str, Any]:
    """A run's conditions in the profile's terms: its model spec, sampling settings and meaning judge."""
    return {"model": model, **{key: getattr(settings, key) for key in SETTINGS_COMPARED}, "judge": judge}


def calibrated_document(profile: Mapping[str, Any], values: Mapping[str, float | None], conditions: Mapping[str, Any]) -> dict[str, Any]:
    """What `score --profile` adds to scores.json: `calibrated` {measure: {p_wrong, low, high}} and the conditions that
    differ from the profile's (`profile_differences`)."""
    return {
        "calibrated": {name: {"p_wrong": value.p_wrong, "low": value.low, "high": value.high}
                       for name, value in calibrate(profile, values).items()},
        "profile_differences": differences(profile, conditions),
    }
