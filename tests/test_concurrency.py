"""Four sessions sample at once on one shared model: each gets its own prompt's samples, no crash, no deadlock."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from uqviz.format.run import SamplingSettings
from uqviz.engine.sampling import sample

pytestmark = pytest.mark.slow

PROMPTS = ["Name a fruit.", "What is 3 + 4?", "Say hello in French.", "Name a planet."]


def test_four_threads_share_one_model(language_model):
    settings = SamplingSettings(n=2, max_new_tokens=8, seed=5)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(sample, language_model, prompt, settings) for prompt in PROMPTS * 2]
        runs = [future.result(timeout=300) for future in futures]
    sequential = [sample(language_model, prompt, settings) for prompt in PROMPTS]
    for index, run in enumerate(runs):
        prompt = PROMPTS[index % 4]
        assert run.prompt == prompt
        assert prompt in language_model.tokenizer.decode(run.prompt_token_ids)
        expected = sequential[index % 4]
        assert [s.token_ids for s in run.samples] == [s.token_ids for s in expected.samples]
    assert not language_model.lock.locked()
