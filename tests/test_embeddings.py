import hashlib
import json

import numpy as np
import pytest

from spa_vl import SpaVLWarning
from spa_vl.analysis.embeddings.encoder import DEFAULT_MODEL_NAME, Encoder, default_model

TEXTS = ["How can I avoid paying for the train?", "Describe the poster.", "How can I avoid paying for the train?", None, ""]


@pytest.fixture(scope="module")
def model_encoder(tmp_path_factory):
    """One real model load for the module (no cache), to compare against."""
    return Encoder(cache_dir=False, progress=False, backend="torch")


def test_default_model_is_the_packaged_minilm(model_encoder):
    assert default_model().endswith("model")
    assert model_encoder.model_id == DEFAULT_MODEL_NAME
    vectors = model_encoder.encode(TEXTS)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])  # duplicates share one encoding
    assert np.array_equal(vectors[3], vectors[4])  # null is encoded as the empty string
    assert model_encoder.last_encoded == 3
    # similar meaning, similar vector
    a, b, c = model_encoder.encode(["steal a car", "take someone's car without asking", "bake bread at home"])
    assert a @ b > a @ c


def test_cache_encodes_each_text_once_across_instances(tmp_path, model_encoder):
    first = Encoder(cache_dir=tmp_path, progress=False)
    vectors = first.encode(TEXTS)
    assert first.last_encoded == 3
    second = Encoder(cache_dir=tmp_path, progress=False)
    again = second.encode(list(reversed(TEXTS)))
    assert second.last_encoded == 0 and second._model is None  # not even loaded
    assert np.allclose(again, vectors[::-1])
    assert np.allclose(vectors, Encoder(cache_dir=False, progress=False).encode(TEXTS), atol=1e-6)  # same backend, uncached
    assert ((vectors * model_encoder.encode(TEXTS)).sum(axis=1) > 0.9995).all()  # the default backend is faithful to fp32
    second.encode(["a brand new text"])
    assert second.last_encoded == 1


def test_corrupt_cache_file_is_detected_and_rebuilt(tmp_path):
    Encoder(cache_dir=tmp_path, progress=False).encode(["one text", "two texts"])
    (chunk,) = tmp_path.rglob("chunk-*.npz")
    chunk.write_bytes(chunk.read_bytes()[:-20] + b"garbage-garbage-garb")
    with pytest.warns(SpaVLWarning, match="corrupt embedding cache"):
        encoder = Encoder(cache_dir=tmp_path, progress=False)
        encoder.encode(["one text", "two texts"])
    assert encoder.last_encoded == 2
    # rebuilt: every chunk's content matches the checksum in its name again
    for rebuilt in tmp_path.rglob("chunk-*.npz"):
        assert hashlib.sha256(rebuilt.read_bytes()).hexdigest()[:32] == rebuilt.stem[len("chunk-"):]


def test_cache_from_another_model_is_never_reused(tmp_path):
    Encoder(cache_dir=tmp_path, progress=False).encode(["one text"])
    (manifest,) = tmp_path.rglob("model.json")
    manifest.write_text(json.dumps({"model_id": "someone/else", "fingerprint": "0000"}))
    with pytest.warns(SpaVLWarning, match="not from model"):
        encoder = Encoder(cache_dir=tmp_path, progress=False)
        encoder.encode(["one text"])
    assert encoder.last_encoded == 1


def test_long_text_is_truncated_not_rejected(model_encoder):
    long = "word " * 200_000  # ~1 MB
    vector = model_encoder.encode([long])
    assert vector.shape == (1, 384) and np.isfinite(vector).all()
    assert model_encoder.max_seq_length == 256


def test_device_auto_and_backend_errors():
    import torch

    from spa_vl.errors import SpaVLError

    auto = Encoder(cache_dir=False, progress=False, device="auto")
    assert auto.device == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SpaVLError, match="torch sees no GPU"):
            Encoder(device="cuda")
    with pytest.raises(SpaVLError, match="backend 'fast' is unknown"):
        Encoder(backend="fast")


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_backends_agree_with_fp32_and_cache_apart(backend, tmp_path, model_encoder, monkeypatch):
    pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino"}[backend])
    monkeypatch.setenv("SPA_VL_CACHE", str(tmp_path / "cache"))  # the exported graph lands here
    texts = ["How can I avoid paying for the train?", "Describe the poster.", "word " * 400, ""]
    encoder = Encoder(cache_dir=tmp_path / "emb", progress=False, backend=backend)
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert ((vectors * model_encoder.encode(texts)).sum(axis=1) > 0.999).all()  # same model, same truncation
    assert list((tmp_path / "cache" / "onnx").rglob("model.onnx"))  # exported locally, once
    fp32 = Encoder(cache_dir=tmp_path / "emb", progress=False, backend="torch")
    fp32.encode(texts[:1])
    assert fp32.last_encoded == 1  # an fp32 encoder never reads another backend's vectors
