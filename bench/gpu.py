"""GPU sampling benchmark with no weights: randomly initialised Llama models at 1B and 8B shapes.

    python bench/gpu.py [--shapes 1b,8b] [--n 10] [--max-new-tokens 64] [--device cuda]

For each shape, in one run on one device: bare `generate` (dynamic cache), bare `generate` with a static
KV cache, uqviz `sample` with all statistics (which uses the static cache on CUDA); the ratio uqviz / bare
static, the static-cache speed-up, and the peak extra GPU memory of each. Needs CUDA; the tokenizer is the
packaged SmolLM2 one, so the models use its 49152-token vocabulary. `--device cpu --shapes tiny` runs the same
script on a model of a few layers to check it before a GPU session (the test suite does).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT, measure, median, run_size_parser  # noqa: E402

SHAPES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8),
}


def with_cache(config, cache: str | None) -> dict:
    """generate() keyword arguments: a copy of the generation config with this KV-cache implementation."""
    copied = copy.deepcopy(config)
    copied.cache_implementation = cache
    return {"generation_config": copied}


def random_model(shape: str, tokenizer, device: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from uqviz.models.loading import LanguageModel, dtype_for
    from uqviz.format.run import ModelInfo

    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=4096, **SHAPES[shape],
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    dtype = dtype_for(device)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype).eval()
    info = ModelInfo(f"random-llama-{shape}", "random", device, str(dtype).removeprefix("torch."), config.vocab_size)
    return LanguageModel(model=model, tokenizer=tokenizer, info=info)


def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--shapes", default="1b,8b")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cuda, or cpu to check the script on the tiny shape")
    args = parser.parse_args()

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench/gpu.py needs a CUDA device (or --device cpu --shapes tiny to check the script)")
    from uqviz.models.loading import load_language_model
    from uqviz.format.run import SamplingSettings
    from uqviz.engine.sampling import eos_token_ids, generation_kwargs, prepare_prompt, sample, uses_static_cache

    tokenizer = load_language_model("default", device="cpu").tokenizer
    settings = SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"{device_name}; N={settings.n}, max_new_tokens={settings.max_new_tokens}, median of {args.repeats}")
    for shape in args.shapes.split(","):
        lm = random_model(shape, tokenizer, args.device)
        ids = torch.tensor([prepare_prompt(lm, PROMPT).token_ids] * settings.n, device=args.device)
        config = generation_kwargs(lm, settings, eos_token_ids(lm))["generation_config"]
        dynamic, static = (with_cache(config, cache) for cache in (None, "static"))
        # Random weights rarely emit EOS; every variant generates the full length, so times compare like for like.
        calls = {
            "bare dynamic cache": lambda kw=dynamic: lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw),
            "bare static cache": lambda kw=static: lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw),
            "uqviz sample + stats": lambda: sample(lm, PROMPT, settings),
        }
        results = {}
        for name, call in calls.items():
            with torch.inference_mode():
                call()
                runs = [measure(call, args.device) for _ in range(args.repeats)]
            results[name] = (median([s for s, _ in runs]), max(m for _, m in runs))
        print(f"\n{shape}: {sum(p.numel() for p in lm.model.parameters()) / 1e9:.3f} B parameters, {lm.info.dtype}, "
              f"uqviz samples with the {'static' if uses_static_cache(lm) else 'dynamic'} cache")
        for name, (seconds, memory) in results.items():
            print(f"  {name:22s} {seconds:7.3f} s   peak extra {memory / 2**20:8.1f} MiB")
        same = "bare static cache" if uses_static_cache(lm) else "bare dynamic cache"
        print(f"  ratio uqviz / {same:18s} {results['uqviz sample + stats'][0] / results[same][0]:.3f}")
        print(f"  static cache speed-up       {results['bare dynamic cache'][0] / results['bare static cache'][0]:.2f}x")
        del lm
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
