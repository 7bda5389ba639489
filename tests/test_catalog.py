"""The model picker's list: packaged first, the local Hugging Face cache, $UQVIZ_SERVERS, recommended models."""

import pytest

from uqviz.models.catalog import CACHED, PACKAGED, RECOMMENDED, RECOMMENDED_MODELS, SERVER, download, model_choices
from uqviz.models.loading import DEFAULT_MODEL, ModelLoadError


def fake_cache(root, repo: str, weights: bool = True):
    snapshot = root / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    if weights:
        (snapshot / "model.safetensors").write_bytes(b"x")


def test_the_list_names_packaged_cached_servers_and_recommended(tmp_path, monkeypatch):
    fake_cache(tmp_path, "org/tiny-chat")
    fake_cache(tmp_path, "org/config-only", weights=False)
    fake_cache(tmp_path, RECOMMENDED_MODELS[0].spec)
    monkeypatch.setenv("UQVIZ_SERVERS", "openai:http://127.0.0.1:8080/v1#a, openai:http://10.0.0.2:8000/v1#b")
    choices = model_choices(tmp_path)
    assert (choices[0].spec, choices[0].kind) == (DEFAULT_MODEL, PACKAGED)
    by_kind = {kind: [c.spec for c in choices if c.kind == kind] for kind in (CACHED, SERVER, RECOMMENDED)}
    assert by_kind[CACHED] == sorted(["org/tiny-chat", RECOMMENDED_MODELS[0].spec])
    assert by_kind[SERVER] == ["openai:http://127.0.0.1:8080/v1#a", "openai:http://10.0.0.2:8000/v1#b"]
    assert by_kind[RECOMMENDED] == [c.spec for c in RECOMMENDED_MODELS[1:]]  # the cached one is listed once
    assert all("Apache-2.0" in c.label for c in choices if c.kind == RECOMMENDED)


def test_a_download_without_network_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match="is this machine online"):
        download("org/not-here")
