"""Calibration profiles: the isotonic and Platt maps, ECE and the question-grouped folds against numbers worked by hand,
fitting from batch rows, the ensemble, and hostile profiles refused in one sentence (docs/methods.md §14)."""

import json

import numpy as np
import pytest

from uqviz.workflows.calibration import (
    ISOTONIC, MAX_MAP_POINTS, PLATT, ProfileError, apply_map, calibrate, differences, expected_calibration_error, fit_map,
    fit_profile, question_folds, read_profile,
)


def test_isotonic_map_pools_adjacent_violators():
    # wrong = 0, 1, 0, 1 at U = 0.1 … 0.4: the middle pair pools to 0.5
    parameters = fit_map(ISOTONIC, np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]))
    p = apply_map(ISOTONIC, parameters, np.array([0.0, 0.1, 0.15, 0.25, 0.4, 0.9]))
    assert p == pytest.approx([0.0, 0.0, 0.25, 0.5, 1.0, 1.0])


def test_platt_map_is_a_rising_logistic_curve_where_wrong_answers_have_higher_u():
    u = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    wrong = np.array([0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    parameters = fit_map(PLATT, u, wrong)
    p = apply_map(PLATT, parameters, u)
    assert parameters["slope"] > 0 and np.all(np.diff(p) > 0)
    assert p.mean() == pytest.approx(wrong.mean(), abs=1e-3)  # a fitted logistic model matches the base rate


def test_expected_calibration_error_worked_example():
    # bin of 0.1: nothing wrong, |0 − 0.1| · ½; bin of 0.9: half wrong, |0.5 − 0.9| · ½; ECE = 0.05 + 0.2
    assert expected_calibration_error(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0.0, 0.0, 1.0, 0.0])) == pytest.approx(0.25)


def test_no_question_is_in_both_a_train_and_a_test_fold():
    questions = [f"q{i % 7}" for i in range(30)]
    folds = question_folds(questions)
    assert sorted(np.concatenate(folds).tolist()) == list(range(30))
    for test in folds:
        inside = {questions[i] for i in test}
        outside = {questions[i] for i in range(30) if i not in set(test.tolist())}
        assert not inside & outside


def rows(count: int = 120, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, count)
    correct = (rng.uniform(0, 1, count) > u).astype(float)  # P(wrong) = U: the measure is calibrated already
    return [{"question": f"q{i}", "correct": c, "good": float(x), "noise": float(rng.normal()), "flat": 1.0,
             "sparse": float(x) if i < 10 else None} for i, (x, c) in enumerate(zip(u, correct))]


@pytest.fixture(scope="module")
def profile():
    return fit_profile(rows(), ["good", "noise", "flat", "sparse"], {"model": "default"}, bootstraps=40)


def test_a_profile_fits_informative_measures_says_why_others_are_not_and_calibrates_a_run(profile):
    good = profile["measures"]["good"]
    assert good["method"] in (ISOTONIC, PLATT) and good["held_out"][good["method"]]["auroc"] > 0.7
    assert good["held_out"][good["method"]]["brier"] <= good["held_out"][{ISOTONIC: PLATT, PLATT: ISOTONIC}[good["method"]]]["brier"]
    assert "sparse" in profile["unfit"] and "10 labelled rows" in profile["unfit"]["sparse"]
    told = []
    single = fit_profile([{**row, "correct": 1.0} for row in rows()], ["good", "flat"], {}, bootstraps=10,
                         progress=lambda done, total, name: told.append((done, total, name)))
    assert "good" in single["unfit"] and "0 wrong" in single["unfit"]["good"]
    assert told == [(0, 3, "good"), (1, 3, "flat")]  # each measure; no ensemble: fewer than two measures were fitted
    told.clear()
    fit_profile(rows(), ["good", "noise"], {}, bootstraps=10, progress=lambda done, total, name: told.append((done, total, name)))
    assert told == [(0, 3, "good"), (1, 3, "noise"), (2, 3, "ensemble")]
    calibrated = calibrate(profile, {"good": 0.8, "noise": 0.1})
    assert 0.55 < calibrated["good"].p_wrong < 0.95  # P(wrong) = U in the data
    assert calibrated["good"].low <= calibrated["good"].p_wrong <= calibrated["good"].high
    ensemble = profile["ensemble"]
    assert ensemble["best_single"]["measure"] == "good" and abs(ensemble["weights"][ensemble["measures"].index("good")]) > 0
    assert "ensemble" in calibrated and 0 <= calibrated["ensemble"].p_wrong <= 1


def test_a_fitted_profile_reads_back_unchanged(profile, tmp_path):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile, allow_nan=False))
    assert read_profile(path) == profile


def test_a_profile_for_other_settings_names_what_differs():
    profile = {"valid_for": {"model": "default", "max_new_tokens": 24, "judge": "strict"}}
    assert differences(profile, {"model": "default", "max_new_tokens": 64}) == [
        "max_new_tokens: the profile was fitted with 24, this run has 64"]


@pytest.mark.parametrize("mutate, fragment", [
    (lambda p: p.update(schema="other/1"), "schema"),
    (lambda p: p["measures"]["good"]["map"].update(slope=float("nan"), x=[float("nan")]), "not a number"),
    (lambda p: p["measures"]["good"].update(bins={"edges": list(range(MAX_MAP_POINTS + 2)), "low": [0.0], "high": [1.0]}), "at most"),
    (lambda p: p["measures"]["good"].update(method="pickle"), "unknown method"),
    (lambda p: p.update(measures=[]), "must be objects"),
])
def test_hostile_profiles_are_refused_in_one_sentence(tmp_path, profile, mutate, fragment):
    profile = json.loads(json.dumps(profile))
    mutate(profile)
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    with pytest.raises(ProfileError) as caught:
        read_profile(path)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_huge_nan_and_deep_files_are_refused_before_or_while_parsing(tmp_path):
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (100 * 1024 * 1024))
    with pytest.raises(ProfileError, match="more than"):
        read_profile(huge)
    nan = tmp_path / "nan.json"
    nan.write_text('{"schema": "uqviz.profile/1", "valid_for": {}, "measures": {"x": {"map": {"slope": NaN}}}}')
    with pytest.raises(ProfileError, match="not a profile"):
        read_profile(nan)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ProfileError, match="not a profile"):
        read_profile(deep)


def test_the_scores_document_gains_calibrated_values_and_the_differences(profile):
    from uqviz.workflows.calibration import calibrated_document

    document = calibrated_document(profile, {"good": 0.5, "flat": 1.0}, {"model": "other", "n": 10})
    assert set(document["calibrated"]) >= {"good", "ensemble"} and "noise" not in document["calibrated"]
    entry = document["calibrated"]["good"]
    assert entry["low"] <= entry["p_wrong"] <= entry["high"]
    assert document["profile_differences"] == ["model: the profile was fitted with 'default', this run has 'other'"]
    json.dumps(document, allow_nan=False)


@pytest.mark.slow
def test_calibrate_and_score_with_a_profile_from_the_command_line(tmp_path, france_run):
    import csv

    from tests.conftest import run_cli
    from uqviz.format.run import write_run
    from uqviz.measures.registry import REGISTRY
    from uqviz.workflows.batch import result_columns

    results = tmp_path / "results.csv"
    with open(results, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, result_columns(list(REGISTRY)))
        writer.writeheader()
        for row in rows(60):
            writer.writerow({"question": row["question"], "gold": "x", "greedy_answer": "y", "match_score": row["correct"],
                             "correct": int(row["correct"]), "ln_predictive_entropy": 3 * row["good"],
                             "predictive_entropy": row["noise"], "samples": "[]", "judge": "strict", "reasons": "{}", "seconds": 1.0})
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"model": "default", "settings": {"sampling": {"n": 10, "temperature": 1.0, "top_p": 1.0,
                                                                                "top_k": 0, "max_new_tokens": 16}}}))
    profile_path = tmp_path / "profile.json"
    made = run_cli("calibrate", str(results), "--report", str(report), "--out", str(profile_path))
    assert "wrote a profile of 2 measures from 60 rows" in made.stderr
    profile = read_profile(profile_path)
    assert profile["valid_for"]["model"] == "default" and profile["valid_for"]["data"]["rows"] == 60
    from dataclasses import replace

    run_path = tmp_path / "run.json"  # a model the run names but score does not load: the test needs no model pass
    write_run(replace(france_run, model=replace(france_run.model, source="hub:someone/elsewhere")), run_path)
    scored = run_cli("score", str(run_path), "--nli", "none", "--profile", str(profile_path))
    document = json.loads(scored.stdout)
    value = document["measures"]["ln_predictive_entropy"]["value"]
    assert document["calibrated"]["ln_predictive_entropy"]["p_wrong"] == pytest.approx(
        calibrate(profile, {"ln_predictive_entropy": value, "predictive_entropy": document["measures"]["predictive_entropy"]["value"]})["ln_predictive_entropy"].p_wrong)
    assert document["profile_differences"] == ["model: the profile was fitted with 'default', this run has 'someone/elsewhere'",
                                               "n: the profile was fitted with 10, this run has 4",
                                               "judge: the profile was fitted with 'strict', this run has "
                                               "'embedding cosine ≥ 0.65, representative assignment'"]
    assert "warning: the profile does not fit this run" in scored.stderr
    hostile = tmp_path / "hostile.json"
    hostile.write_text('{"schema": "uqviz.profile/1", "valid_for": {}, "measures": {"x": {"method": "pickle"}}}')
    refused = run_cli("score", str(run_path), "--profile", str(hostile), check=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1 and "malformed" in refused.stderr
