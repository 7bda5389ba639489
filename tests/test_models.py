"""Model loading: the packaged defaults, device and dtype, and one clear sentence for every bad path."""

import pytest
import torch

from uqviz.models.loading import ModelLoadError, dtype_for, load_embedder, load_language_model, resolve_device


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


def test_bad_embedder_path(tmp_path):
    with pytest.raises(ModelLoadError, match="not a directory"):
        load_embedder(str(tmp_path / "missing"))
