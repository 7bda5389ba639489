"""Shared fixtures: the real packaged models, loaded once per test session, and small hand-made runs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")
# Tests never touch the user's run store: every AppTest that samples saves into this session's temporary store.
os.environ["UQVIZ_STORE"] = str(Path(tempfile.mkdtemp(prefix="uqviz-test-store-")) / "runs.sqlite3")

from uqviz.format.run import ModelInfo, Run, Sample, SamplingSettings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, check: bool = True, timeout: float = 600, progress_bars: bool = False) -> subprocess.CompletedProcess:
    """`python -m uqviz ARGS` from the repository root with its output captured; `check` asserts exit status 0;
    `progress_bars` runs it without this session's TQDM_DISABLE, as a user's terminal would."""
    env = {key: value for key, value in os.environ.items() if not (progress_bars and key == "TQDM_DISABLE")}
    result = subprocess.run([sys.executable, "-m", "uqviz", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="session")
def language_model():
    from uqviz.models.loading import load_language_model

    return load_language_model("default", device="cpu")


@pytest.fixture(scope="session")
def embedder():
    from uqviz.models.loading import load_embedder

    return load_embedder("default", device="cpu")


@pytest.fixture(scope="session")
def france_run(language_model):
    """A small real run shared by the tests that only read it."""
    from uqviz.engine.sampling import sample

    return sample(language_model, "What is the capital of France?", SamplingSettings(n=4, max_new_tokens=16, seed=7))


def make_run(answers: list[str], logprobs: list[list[float]] | None = None, prompt: str = "Q?") -> Run:
    """A run built by hand: one whitespace token per word unless log-probs say otherwise."""
    samples = []
    for index, text in enumerate(answers):
        words = text.split()
        lps = logprobs[index] if logprobs is not None else [-0.5] * len(words)
        tokens = words if len(words) == len(lps) else [f"t{i}" for i in range(len(lps))]
        samples.append(
            Sample(
                text=text,
                token_ids=list(range(1, len(lps) + 1)),
                tokens=tokens,
                logprobs=list(lps),
                entropies=[-lp for lp in lps],
                finish_reason="stop",
                kl_from_uniform=[math.log(4) + lp for lp in lps],
                renyi_from_uniform=[math.log(4) * math.exp(lp) for lp in lps],
                fisher_rao_from_uniform=[2 / 3 * math.exp(lp) for lp in lps],
                top_token_ids=[[1, 2] for _ in lps],
                top_tokens=[["a", "b"] for _ in lps],
                top_logprobs=[[lp, lp - 1.0] for lp in lps],
            )
        )
    return Run(
        prompt=prompt,
        chat=False,
        model=ModelInfo("hand-made", "test", "cpu", "float32", 4),
        settings=SamplingSettings(n=len(answers)),
        prompt_token_ids=[1, 2, 3],
        samples=samples,
    )


def naming_hostile_model(run: Run, folder: Path) -> tuple[Run, Path]:
    """`run` naming as its model a folder whose `auto_map` code would write a file if anything ran it; that file's path."""
    import dataclasses
    import json

    marker = folder.parent / f"{folder.name}-ran.txt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "hostile", "architectures": ["HostileForCausalLM"],
        "auto_map": {"AutoConfig": "modeling.HostileConfig", "AutoModelForCausalLM": "modeling.HostileForCausalLM"},
    }))
    (folder / "modeling.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return dataclasses.replace(run, model=dataclasses.replace(run.model, source=f"local:{folder}")), marker


CHROMIUM = "/usr/bin/chromium"
# As root in this closed network, chromium needs no sandbox and must not try its background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright, one per test session (Playwright's sync API allows one loop)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


LABEL2ID = {"NEUTRAL": 0, "ENTAILMENT": 1, "CONTRADICTION": 2}  # not MNLI's order: a hard-coded order would fail


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory):
    """Build tiny BERT NLI folders; `dominant` pushes one label's bias up so every pair gets that label, `text_layers`
    makes the first layers read each text alone (on a model one layer deeper)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from uqviz.models.loading import default_embedder_path

    tokenizer = AutoTokenizer.from_pretrained(default_embedder_path())

    def build(dominant: str | None = None, text_layers: int = 0, layers: int | None = None):
        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=layers or text_layers + 1, num_attention_heads=2,
            intermediate_size=37, max_position_embeddings=512, num_labels=3,
            label2id=LABEL2ID, id2label={index: name for name, index in LABEL2ID.items()}, text_layers=text_layers,
        )
        model = BertForSequenceClassification(config).eval()
        if dominant is not None:
            with torch.no_grad():
                model.classifier.bias[LABEL2ID[dominant.upper()]] = 50.0
        path = tmp_path_factory.mktemp(f"nli-{dominant or 'random'}-{text_layers}")
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        return path

    return build


@pytest.fixture(scope="session")
def packaged_nli():
    """The NLI judge shipped in the package, loaded once per test session."""
    from uqviz.models.nli import load_nli

    return load_nli("default", device="cpu")
