"""Sampling with all uqviz statistics vs a bare `model.generate` with the same settings, in one run.

    python bench/sampling.py [--n 10] [--max-new-tokens 64] [--repeats 3] [--model default] [--device auto]

Prints the median seconds of each, their ratio (target <= 1.10) and the peak extra memory of each.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROMPT, measure, median, run_size_parser  # noqa: E402
from uqviz.models.loading import load_language_model  # noqa: E402
from uqviz.format.run import SamplingSettings  # noqa: E402
from uqviz.engine.sampling import eos_token_ids, generation_kwargs, prepare_prompt, sample  # noqa: E402

def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch

    lm = load_language_model(args.model, device=args.device)
    device = str(lm.model.device)
    settings = SamplingSettings(n=args.n, max_new_tokens=args.max_new_tokens, seed=0)
    prompt_ids = prepare_prompt(lm, PROMPT).token_ids
    input_ids = torch.tensor([prompt_ids] * settings.n, device=lm.model.device)
    kwargs = generation_kwargs(lm, settings, eos_token_ids(lm))

    def bare() -> None:
        torch.manual_seed(settings.seed)
        with torch.inference_mode():
            lm.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)

    def uqviz() -> None:
        sample(lm, PROMPT, settings)

    bare()
    uqviz()
    timings: dict[str, list[float]] = {"bare": [], "uqviz": []}
    memory: dict[str, list[int]] = {"bare": [], "uqviz": []}
    for _ in range(args.repeats):
        for name, call in (("bare", bare), ("uqviz", uqviz)):
            seconds, extra = measure(call, device)
            timings[name].append(seconds)
            memory[name].append(extra)
    bare_s, uqviz_s = median(timings["bare"]), median(timings["uqviz"])
    tokens = sum(len(s) for s in sample(lm, PROMPT, settings).samples)
    print(f"model {lm.info.name} on {device} ({lm.info.dtype}), N={settings.n}, max_new_tokens={settings.max_new_tokens}, "
          f"{tokens} answer tokens, median of {args.repeats}")
    print(f"bare generate        {bare_s:8.3f} s   peak extra memory {max(memory['bare']) / 2**20:8.1f} MiB")
    print(f"uqviz sample + stats {uqviz_s:8.3f} s   peak extra memory {max(memory['uqviz']) / 2**20:8.1f} MiB")
    print(f"ratio uqviz / bare   {uqviz_s / bare_s:8.3f}   (target <= 1.10)")


if __name__ == "__main__":
    main()
