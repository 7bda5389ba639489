"""The models a user can pick: the packaged one, those already in the local Hugging Face cache, the servers named in
$UQVIZ_SERVERS, and a few recommended small instruct models that download when online (README, "Picking a model")."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from uqviz.models.loading import DEFAULT_MODEL, ModelLoadError, hub_is_reachable

SERVERS_VARIABLE = "UQVIZ_SERVERS"
PACKAGED = "packaged"
CACHED = "in the local cache"
SERVER = "server"
RECOMMENDED = "recommended (downloads)"


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the picker: the spec the loaders take, how it is offered, and what the user should know."""

    spec: str
    kind: str
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.spec} · {self.kind}" + (f" · {self.note}" if self.note else "")


RECOMMENDED_MODELS = (
    ModelChoice("HuggingFaceTB/SmolLM2-360M-Instruct", RECOMMENDED, "360M parameters, 0.7 GB, Apache-2.0"),
    ModelChoice("Qwen/Qwen2.5-0.5B-Instruct", RECOMMENDED, "0.5B parameters, 1.0 GB, Apache-2.0"),
    ModelChoice("HuggingFaceTB/SmolLM2-1.7B-Instruct", RECOMMENDED, "1.7B parameters, 3.4 GB, Apache-2.0"),
    ModelChoice("Qwen/Qwen2.5-1.5B-Instruct", RECOMMENDED, "1.5B parameters, 3.1 GB, Apache-2.0"),
)


def hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded repositories ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)."""
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE)


def cached_models(cache: Path | None = None) -> list[str]:
    """Hub ids of the causal-LM-looking repositories in the cache: a snapshot with config.json and weights."""
    root = cache or hub_cache()
    found = []
    for folder in sorted(root.glob("models--*")) if root.is_dir() else []:
        snapshots = list((folder / "snapshots").glob("*"))
        if any((snapshot / "config.json").is_file() and _has_weights(snapshot) for snapshot in snapshots):
            found.append(folder.name[len("models--"):].replace("--", "/"))
    return found


def _has_weights(snapshot: Path) -> bool:
    return any(snapshot.glob("*.safetensors")) or any(snapshot.glob("*.bin"))


def configured_servers() -> list[str]:
    """The server specs in $UQVIZ_SERVERS, separated by commas or whitespace."""
    return [spec for spec in os.environ.get(SERVERS_VARIABLE, "").replace(",", " ").split() if spec]


def model_choices(cache: Path | None = None) -> list[ModelChoice]:
    """Everything the picker offers, packaged first; a recommended model already cached is listed once, as cached."""
    cached = cached_models(cache)
    choices = [ModelChoice(DEFAULT_MODEL, PACKAGED, "SmolLM2-135M-Instruct, offline, weak at facts")]
    choices += [ModelChoice(spec, CACHED) for spec in cached]
    choices += [ModelChoice(spec, SERVER) for spec in configured_servers()]
    choices += [choice for choice in RECOMMENDED_MODELS if choice.spec not in cached]
    return choices


def download(spec: str, progress: Callable[[int, int], None] | None = None) -> Path:
    """Download a hub model into the cache, reporting (files done, files in all); one sentence when offline."""
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm

    class Reporter(tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            if progress and self.total:
                progress(int(self.n), int(self.total))
            return shown

    if not hub_is_reachable():
        raise ModelLoadError(f"Could not download {spec!r}: the hub cannot be reached from here; is this machine online?")
    try:
        return Path(snapshot_download(spec, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"],
                                      tqdm_class=Reporter))
    except Exception as error:  # huggingface_hub raises many kinds (offline, missing repo, gated, disk full)
        detail = " ".join(str(error).split())[:160]
        raise ModelLoadError(f"Could not download {spec!r} ({type(error).__name__}: {detail}); is this machine online?") from None
