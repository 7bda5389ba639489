"""Sampling on the real packaged SmolLM2: raw statistics match a teacher-forced pass; seeds reproduce."""

import math

import pytest
import torch

from uqviz.format.run import SamplingSettings
from uqviz.engine.sampling import SamplingError, clean_prompt, eos_token_ids, sample

pytestmark = pytest.mark.slow


def teacher_forced_logprobs(lm, prompt_ids, answer_ids):
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logits = lm.model(ids).logits[0].float()
    return torch.log_softmax(logits[len(prompt_ids) - 1 : len(prompt_ids) - 1 + len(answer_ids)], dim=-1)


def test_logprobs_entropies_and_alternatives_match_teacher_forcing(language_model, france_run):
    assert len(france_run.samples) == 4
    for sample_ in france_run.samples:
        assert len(sample_) > 0
        full = teacher_forced_logprobs(language_model, france_run.prompt_token_ids, sample_.token_ids)
        chosen = full.gather(1, torch.tensor(sample_.token_ids)[:, None]).squeeze(1)
        assert torch.allclose(chosen, torch.tensor(sample_.logprobs), atol=1e-3)
        entropy = -(full.exp() * full).sum(-1)
        assert torch.allclose(entropy, torch.tensor(sample_.entropies), atol=1e-3)
        vocab = full.shape[-1]
        kl = -math.log(vocab) - full.mean(-1)
        assert torch.allclose(kl, torch.tensor(sample_.kl_from_uniform), atol=1e-3)
        top = full.topk(5, dim=-1)
        assert [row[0] for row in sample_.top_token_ids] == top.indices[:, 0].tolist()
        assert torch.allclose(torch.tensor(sample_.top_logprobs), top.values, atol=1e-3)


def test_eos_is_not_an_answer_token_and_finish_reason_is_recorded(language_model, france_run):
    eos = set(eos_token_ids(language_model))
    for sample_ in france_run.samples:
        assert not eos & set(sample_.token_ids)
        assert sample_.finish_reason in {"stop", "length"}
        if sample_.finish_reason == "length":
            assert len(sample_) == france_run.settings.max_new_tokens
    assert "".join(france_run.samples[0].tokens).strip() == france_run.samples[0].text.strip()


def test_same_seed_same_samples_different_seed_different_samples(language_model):
    settings = SamplingSettings(n=3, max_new_tokens=12, seed=11)
    first = sample(language_model, "Name a colour.", settings)
    again = sample(language_model, "Name a colour.", settings)
    other = sample(language_model, "Name a colour.", SamplingSettings(n=3, max_new_tokens=12, seed=12))
    assert [s.token_ids for s in first.samples] == [s.token_ids for s in again.samples]
    assert [s.logprobs for s in first.samples] == [s.logprobs for s in again.samples]
    assert [s.token_ids for s in first.samples] != [s.token_ids for s in other.samples]


def test_warped_sampling_still_records_the_raw_distribution(language_model):
    run = sample(language_model, "Write one word.", SamplingSettings(n=2, temperature=0.5, top_p=0.8, top_k=10, max_new_tokens=8, seed=3))
    for sample_ in run.samples:
        full = teacher_forced_logprobs(language_model, run.prompt_token_ids, sample_.token_ids)
        chosen = full.gather(1, torch.tensor(sample_.token_ids)[:, None]).squeeze(1)
        assert torch.allclose(chosen, torch.tensor(sample_.logprobs), atol=1e-3)


def test_static_kv_cache_used_on_cuda_gives_the_same_samples_and_statistics(language_model, monkeypatch):
    """The CUDA path samples with a static KV cache; forced here on CPU it must give the dynamic cache's tokens
    and statistics, and still stop each sample at EOS."""
    from uqviz.engine import sampling

    settings = SamplingSettings(n=3, max_new_tokens=16, seed=5)
    dynamic = sample(language_model, "What is the capital of France?", settings)
    monkeypatch.setattr(sampling, "uses_static_cache", lambda lm: True)
    assert sampling.generation_kwargs(language_model, settings, eos_token_ids(language_model))["generation_config"].cache_implementation == "static"
    static = sample(language_model, "What is the capital of France?", settings)
    assert [s.token_ids for s in static.samples] == [s.token_ids for s in dynamic.samples]
    assert [s.finish_reason for s in static.samples] == [s.finish_reason for s in dynamic.samples]
    for fixed, grown in zip(static.samples, dynamic.samples):
        assert fixed.logprobs == pytest.approx(grown.logprobs, abs=1e-4)
        assert fixed.entropies == pytest.approx(grown.entropies, abs=1e-4)


def test_the_cuda_configuration_bf16_weights_and_static_cache_samples_sound_statistics(language_model, monkeypatch):
    """bf16 weights with the static cache (what a GPU gets), on a tiny random Llama on CPU: raw statistics in float32."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from uqviz.engine import sampling
    from uqviz.models.loading import LanguageModel
    from uqviz.format.run import ModelInfo

    tokenizer = language_model.tokenizer
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    lm = LanguageModel(model=model, tokenizer=tokenizer, info=ModelInfo("tiny-bf16", "random", "cpu", "bfloat16", len(tokenizer)))
    monkeypatch.setattr(sampling, "uses_static_cache", lambda lm: True)
    run = sample(lm, "What is the capital of France?", SamplingSettings(n=3, max_new_tokens=8, seed=2))
    vocab = len(tokenizer)
    for sample_ in run.samples:
        assert len(sample_) == 8  # random weights do not stop early
        full = teacher_forced_logprobs(lm, run.prompt_token_ids, sample_.token_ids)
        chosen = full.gather(1, torch.tensor(sample_.token_ids)[:, None]).squeeze(1)
        # Statistics taken in bf16 would be off by ~0.04 at log p ≈ -11; in float32 they match the full forward.
        assert torch.allclose(chosen, torch.tensor(sample_.logprobs), atol=1e-3)
        assert all(0.0 <= entropy <= math.log(vocab) + 1e-3 for entropy in sample_.entropies)


def test_greedy_samples_are_identical(language_model):
    run = sample(language_model, "What is 2 + 2?", SamplingSettings(n=3, temperature=0.0, max_new_tokens=10))
    assert len({tuple(s.token_ids) for s in run.samples}) == 1


def test_chat_template_and_system_prompt(language_model):
    with_system = sample(language_model, "Hi", SamplingSettings(n=1, max_new_tokens=2), system_prompt="Answer in French.")
    plain = sample(language_model, "Hi", SamplingSettings(n=1, max_new_tokens=2), chat=False)
    assert with_system.chat and not plain.chat
    decoded = language_model.tokenizer.decode(with_system.prompt_token_ids)
    assert "Answer in French." in decoded and "<|im_start|>assistant" in decoded
    assert language_model.tokenizer.decode(plain.prompt_token_ids) == "Hi"


@pytest.mark.parametrize(
    "prompt, settings, message",
    [
        ("", SamplingSettings(), "empty"),
        ("   \n\t ", SamplingSettings(), "empty"),
        ("hi", SamplingSettings(n=0), "between 1 and 64"),
        ("hi", SamplingSettings(n=10_000), "between 1 and 64"),
        ("hi", SamplingSettings(temperature=-1.0), "Temperature"),
        ("hi", SamplingSettings(max_new_tokens=0), "Max new tokens"),
        ("hi", SamplingSettings(top_p=0.0), "Top-p"),
    ],
)
def test_bad_settings_are_refused_with_a_sentence(language_model, prompt, settings, message):
    with pytest.raises(SamplingError, match=message):
        sample(language_model, prompt, settings)


def test_prompt_longer_than_context_is_refused_with_both_lengths(language_model):
    prompt = "7 " * 9_999  # under the 20,000 characters a run may hold, over the 8,192-token window
    with pytest.raises(SamplingError) as error:
        sample(language_model, prompt, SamplingSettings(n=1, max_new_tokens=4))
    text = str(error.value)
    assert str(language_model.context_window) in text
    prompt_tokens = int(text.split("The prompt is ")[1].split(" tokens")[0])
    assert prompt_tokens > language_model.context_window


def test_control_characters_are_removed():
    assert clean_prompt("a\x00b\x07c\nd\te\x1b") == "abc\nd\te"


def test_answers_record_the_bytes_of_tokens_that_split_a_character(language_model):
    """A sampled answer keeps each byte token's exact bytes: joined they are the answer's UTF-8, emoji and all."""
    from uqviz.engine.sampling import _build_samples

    tokenizer = language_model.tokenizer
    answers = [tokenizer.encode(text, add_special_tokens=False) for text in (" Hi 😀 שלום", " Paris")]
    width = max(map(len, answers))
    eos = eos_token_ids(language_model)
    generated = [ids + [eos[0]] * (width - len(ids)) for ids in answers]
    per_step = {key: [[-0.5] * width for _ in answers] for key in ("logprobs", "entropies", "kl", "renyi", "fisher_rao")}
    per_step |= {"top_values": [[[-0.5]] * width for _ in answers], "top_ids": [[[0]] * width for _ in answers]}
    emoji, plain = _build_samples(language_model, tokenizer.encode("Hi"), generated, per_step, eos)
    assert b"".join(emoji.exact_token_bytes()).decode() == emoji.text == " Hi 😀 שלום"
    assert "".join(emoji.tokens) != emoji.text  # the texts alone cannot rebuild the answer
    recorded = [(token, bytes(raw)) for token, raw in zip(emoji.tokens, emoji.token_bytes, strict=True) if raw is not None]
    assert recorded and all(token.encode() != raw for token, raw in recorded)  # kept only where the text differs
    assert plain.token_bytes == [] and plain.exact_token_bytes() is None
