"""Model loading: the packaged defaults, device and dtype, and one clear sentence for every bad path."""

import shutil
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from huggingface_hub import constants

from tests.conftest import REPO
from uqviz.models.loading import ModelLoadError, dtype_for, hub_is_reachable, load_embedder, load_language_model, resolve_device
from uqviz.models.nli import load_nli


def test_device_and_dtype_rules():
    assert resolve_device("cpu") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device(None) == expected
    assert dtype_for("cuda") == torch.bfloat16
    assert dtype_for("cpu") == torch.float32
    with pytest.raises(ModelLoadError, match="not one of"):
        resolve_device("tpu")


@pytest.mark.slow
def test_default_model_is_packaged_smollm2(language_model):
    info = language_model.info
    assert "SmolLM2-135M" in info.name and info.source.startswith("packaged-gguf:")
    assert info.vocab_size == 49152 and info.dtype == "float32" and info.device == "cpu"
    assert language_model.has_chat_template


@pytest.mark.slow
def test_default_embedder_embeds(embedder):
    vectors = embedder.model.encode(["Paris is the capital.", "The capital is Paris.", "Bananas are yellow."])
    assert vectors.shape == (3, 384)


def one_sentence(error: ModelLoadError) -> str:
    text = str(error)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_nonexistent_path(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        load_language_model(str(tmp_path / "nope" / "model"))
    assert "does not exist" in one_sentence(error.value) and "nope" in str(error.value)


def test_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError) as error:
        load_language_model(str(tmp_path))
    assert "config.json" in one_sentence(error.value)


def test_corrupt_gguf(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00garbage" * 100)
    with pytest.raises(ModelLoadError) as error:
        load_language_model(str(bad))
    assert "broken.gguf" in one_sentence(error.value)


def test_missing_gguf_and_plain_file(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_language_model(str(tmp_path / "absent.gguf"))
    other = tmp_path / "weights.bin"
    other.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="not a .gguf"):
        load_language_model(str(other))


def test_unknown_hub_id_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as error:
        load_language_model("nobody-here/no-such-model-xyz")
    assert "nobody-here/no-such-model-xyz" in one_sentence(error.value)
    assert "the hub cannot be reached from here" in str(error.value)
    for malformed in ("gpt 2", "org/x--y"):  # huggingface_hub refuses these ids with its own ValueError
        for load in (load_language_model, load_nli):
            with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
                load(malformed)


def test_the_hub_is_reachable_only_when_its_endpoint_takes_a_connection(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                 "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read when huggingface_hub was imported
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{listening.getsockname()[1]}")
        assert hub_is_reachable()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert not hub_is_reachable()
        monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not hub_is_reachable()  # closed now: nothing listens on that port
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.invalid")
    assert not hub_is_reachable()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert hub_is_reachable()  # behind a proxy the hub is left to try
    monkeypatch.setenv("NO_PROXY", "hub.invalid")
    assert not hub_is_reachable()  # unless the proxy is bypassed for it


@pytest.mark.slow
def test_a_cached_hub_model_loads_at_once_offline_and_an_uncached_one_is_one_sentence(tmp_path, tiny_nli):
    """Offline, transformers retries each file of a hub id for most of a minute before it looks in the cache."""
    snapshot = tmp_path / "hub" / "models--org--tiny-nli" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_nli(), snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    script = textwrap.dedent("""
        from uqviz.models.catalog import download
        from uqviz.models.loading import ModelLoadError, load_language_model
        from uqviz.models.nli import load_nli

        print(load_nli("org/tiny-nli").name)
        for load in (load_nli, load_language_model, download):
            try:
                load("org/not-cached")
            except ModelLoadError as error:
                print(error)
    """)
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_ENDPOINT": endpoint,
                   "TQDM_DISABLE": "1"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    loaded, *refusals = result.stdout.splitlines()
    assert loaded == "org/tiny-nli"
    assert "Retrying" not in result.stderr and "Could not reach the Hub" not in result.stderr  # the cache was read at once
    assert len(refusals) == 3 and all("'org/not-cached'" in line and "the hub cannot be reached from here" in line for line in refusals)


def test_bad_embedder_path(tmp_path):
    with pytest.raises(ModelLoadError, match="not a directory"):
        load_embedder(str(tmp_path / "missing"))
