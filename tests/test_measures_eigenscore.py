"""EigenScore against the worked example, its properties, and on the real packaged model's hidden states (docs/methods.md §2.4)."""

import math

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.format.run import SamplingSettings
from uqviz.measures.eigenscore import eigenscore
from uqviz.measures.registry import REGISTRY
from uqviz.statistics.base import MissingInputError, RunStatistics
from uqviz.statistics.probing import ANSWER_HIDDEN_STATES


def test_worked_example():
    states = np.array([[1, 2, 3, 4], [2, 1, 4, 3], [1, 2, 3, 5]], dtype=float)
    result = eigenscore(states, alpha=1e-3)
    assert result.detail.covariance == pytest.approx(np.array([[5, 3, 6.5], [3, 5, 3.5], [6.5, 3.5, 8.75]]))
    assert result.detail.eigenvalues == pytest.approx([0.085342, 3.034940, 15.632718], abs=1e-6)
    assert result.value == pytest.approx(0.466158, abs=1e-6)


def test_identical_states_leave_one_direction_and_alpha_elsewhere():
    row = np.array([1.0, 3.0, 2.0, 6.0])
    spread = float(np.sum((row - row.mean()) ** 2))
    result = eigenscore(np.tile(row, (3, 1)), alpha=1e-3)
    assert result.value == pytest.approx((math.log(3 * spread + 1e-3) + 2 * math.log(1e-3)) / 3)


def test_spread_states_score_higher_than_close_ones():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=32)
    close = centre + 0.01 * rng.normal(size=(5, 32))
    spread = centre + 1.0 * rng.normal(size=(5, 32))
    assert eigenscore(spread).value > eigenscore(close).value


def test_hidden_states_on_the_real_model_match_a_full_pass_and_rank_identical_answers_lowest(language_model):
    import torch

    from uqviz.engine.sampling import sample

    run = sample(language_model, "Name a colour.", SamplingSettings(n=4, max_new_tokens=8, seed=3))
    stats = RunStatistics(run, language_model=language_model)
    hidden = ANSWER_HIDDEN_STATES(stats)
    assert hidden.states.shape == (4, language_model.model.config.hidden_size)
    assert hidden.layer == language_model.model.config.num_hidden_layers // 2
    sequence = run.prompt_token_ids + run.samples[1].token_ids
    with torch.inference_mode():
        reference = language_model.model(input_ids=torch.tensor([sequence]), output_hidden_states=True).hidden_states[hidden.layer][0, -1]
    assert np.allclose(hidden.states[1], reference.float().numpy(), rtol=1e-3, atol=1e-3)

    same = run.samples[0]
    twins = type(run)(**{**run.__dict__, "samples": [same] * 4})
    diverse = REGISTRY["eigenscore"].compute(stats).value
    identical = REGISTRY["eigenscore"].compute(RunStatistics(twins, language_model=language_model)).value
    assert identical < diverse


def test_an_imported_run_without_token_ids_names_why(language_model):
    run = make_run(["a", "b"])
    run.samples[0].token_ids.clear()
    with pytest.raises(MissingInputError, match="token ids"):
        REGISTRY["eigenscore"].compute(RunStatistics(run, language_model=language_model))
