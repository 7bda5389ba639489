"""EigenScore against worked examples (a covariance alone; a fake decoder's states under both position settings), its
properties, and on the real packaged model's hidden states (docs/methods.md §2.4)."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import make_run
from uqviz.format.run import ModelInfo, SamplingSettings
from uqviz.measures.eigenscore import eigenscore
from uqviz.measures.registry import REGISTRY
from uqviz.models.loading import LanguageModel
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.probing import ANSWER_HIDDEN_STATES, LAST_TOKEN, PRODUCING_STEP


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


# Token embeddings of the fake decoder below: its layers pass them through, so the state at a position is the row of the
# token there. Prompt [1, 2, 3]; answers [4, 5], [6, 7] and an empty one. All rows have mean 0, so J_d leaves them alone.
TABLE = [
    [0, 0, 0, 0],  # 0: padding
    [0, 0, 0, 0],  # 1
    [0, 0, 0, 0],  # 2
    [1, 1, -1, -1],  # 3: last prompt token, read for the empty answer under both settings
    [1, -1, 0, 0],  # 4: produced token 5
    [2, 2, -2, -2],  # 5: last token of answer 0
    [0, 0, 1, -1],  # 6: produced token 7
    [1, -1, 0, 0],  # 7: last token of answer 1
]


def fake_language_model():
    """A two-layer decoder whose layers return their input: hidden_states[1] at a position is TABLE[token there]."""
    import torch

    class Layer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.self_attn = torch.nn.Identity()

        def forward(self, hidden):
            return (hidden,)

    class Decoder(torch.nn.Module):
        config = SimpleNamespace(max_position_embeddings=64)

        def __init__(self) -> None:
            super().__init__()
            self.embed_tokens = torch.nn.Embedding.from_pretrained(torch.tensor(TABLE, dtype=torch.float32))
            self.layers = torch.nn.ModuleList([Layer(), Layer()])

        @property
        def base_model(self):
            return self

        @property
        def device(self):
            return torch.device("cpu")

        def get_input_embeddings(self):
            return self.embed_tokens

        def forward(self, input_ids, attention_mask=None, use_cache=False):
            hidden = self.embed_tokens(input_ids)
            for layer in self.layers:
                hidden = layer(hidden)[0]
            return hidden

    return LanguageModel(Decoder(), SimpleNamespace(pad_token_id=0, eos_token_id=0), ModelInfo("fake", "test", "cpu", "float32", 8))


def fake_run():
    run = make_run(["a b", "c d", ""])
    samples = [dataclasses.replace(sample, token_ids=ids) for sample, ids in zip(run.samples, ([4, 5], [6, 7], []))]
    return dataclasses.replace(run, samples=samples)


@pytest.mark.parametrize("position, rows, covariance, eigenvalues, value", [
    # Z = rows 4, 6, 3: pairwise orthogonal with squared norms 2, 2, 4, so Σ = diag(2, 2, 4);
    # EigenScore = (2 ln 2.001 + ln 4.001) / 3 = (2 · 0.693647 + 1.386544) / 3 = 0.924613
    (PRODUCING_STEP, [4, 6, 3], np.diag([2.0, 2.0, 4.0]), [2.001, 2.001, 4.001], 0.924613),
    # Z = rows 5, 7, 3: row 5 = 2 · row 3 and row 7 ⟂ both, so Σ = [[16, 0, 8], [0, 2, 0], [8, 0, 4]]; the block
    # [[16, 8], [8, 4]] has det 0 and trace 20, so λ(Σ) = 0, 2, 20;
    # EigenScore = (ln 0.001 + ln 2.001 + ln 20.001) / 3 = (-6.907755 + 0.693647 + 2.995782) / 3 = -1.072775
    (LAST_TOKEN, [5, 7, 3], np.array([[16.0, 0, 8], [0, 2, 0], [8, 0, 4]]), [0.001, 2.001, 20.001], -1.072775),
])
def test_worked_example_under_each_position_setting_with_an_empty_answer(position, rows, covariance, eigenvalues, value):
    stats = RunStatistics(fake_run(), ScoreConfig(eigenscore_position=position), language_model=fake_language_model())
    hidden = ANSWER_HIDDEN_STATES(stats)
    assert (hidden.layer, hidden.position) == (1, position)
    assert hidden.states == pytest.approx(np.array([TABLE[row] for row in rows], dtype=float))
    result = REGISTRY["eigenscore"].compute(stats)
    assert result.detail.covariance == pytest.approx(covariance)
    assert result.detail.eigenvalues == pytest.approx(eigenvalues, abs=1e-9)
    assert result.value == pytest.approx(value, abs=1e-6)
    assert result.detail.position == position


def test_an_unknown_position_is_refused_by_name():
    stats = RunStatistics(fake_run(), ScoreConfig(eigenscore_position="first_token"), language_model=fake_language_model())
    with pytest.raises(ValueError, match="producing_step, last_token"):
        ANSWER_HIDDEN_STATES(stats)


def test_hidden_states_on_the_real_model_match_a_full_pass_and_rank_identical_answers_lowest(language_model):
    import torch

    from uqviz.engine.sampling import sample

    run = sample(language_model, "Name a colour.", SamplingSettings(n=4, max_new_tokens=8, seed=3))
    stats = RunStatistics(run, language_model=language_model)
    assert stats.config.eigenscore_position == PRODUCING_STEP
    hidden = ANSWER_HIDDEN_STATES(stats)
    last = ANSWER_HIDDEN_STATES(stats.with_config(ScoreConfig(eigenscore_position=LAST_TOKEN)))
    assert hidden.states.shape == last.states.shape == (4, language_model.model.config.hidden_size)
    assert hidden.layer == language_model.model.config.num_hidden_layers // 2
    assert len(run.samples[1]) >= 2
    sequence = run.prompt_token_ids + run.samples[1].token_ids
    with torch.inference_mode():
        reference = language_model.model(input_ids=torch.tensor([sequence]), output_hidden_states=True).hidden_states[hidden.layer][0]
    # producing_step: the position before the last answer token (whose pass produced it); last_token: that token
    assert np.allclose(hidden.states[1], reference[-2].float().numpy(), rtol=1e-3, atol=1e-3)
    assert np.allclose(last.states[1], reference[-1].float().numpy(), rtol=1e-3, atol=1e-3)

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
