"""Other runtimes for the same sentence-transformers model: torch int8, ONNX Runtime, OpenVINO.

Every backend computes what ``SentenceTransformer.encode(texts, normalize_embeddings=True)`` does
for a Transformer → mean Pooling (→ Normalize) model, with the model's own tokenizer (its
``preprocess``), the same length-sorted batches and truncation:

* ``torch`` — ``SentenceTransformer.encode`` itself (fp32, the reference);
* ``torch-int8`` — ``torch.ao.quantization.quantize_dynamic`` of every ``nn.Linear`` to int8;
* ``onnx`` — the model exported locally by ``torch.onnx.export`` (pooling and normalisation inside
  the graph), run by ONNX Runtime with every graph optimisation;
* ``onnx-int8`` — that graph with int8 weights (``onnxruntime.quantization.quantize_dynamic``);
* ``openvino`` — the same ONNX graph compiled by OpenVINO for the CPU.

Exported graphs are cached under ``$SPA_VL_CACHE/onnx/<model key>/`` (keyed like the embedding cache:
the model's files and max length) and built from the packaged weights only: nothing is downloaded.
sentence-transformers' own ``backend="onnx"``/``"openvino"`` need ``optimum``, which would downgrade
transformers and huggingface_hub below what datasets 5 and sentence-transformers 6 require.
``benchmarks/encoders.py`` measures each against ``torch``; a backend may become the default only
when its mean cosine to fp32 is >= 0.995 and the per-domain diversity ranking is unchanged.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spa_vl.atomic import atomic_write_bytes
from spa_vl.errors import SpaVLError

BACKENDS = ("torch", "torch-int8", "onnx", "onnx-int8", "openvino")
DEVICES = ("auto", "cpu", "cuda")
_PACKAGES = {"onnx": "onnxruntime", "onnx-int8": "onnxruntime", "openvino": "openvino"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when torch sees a GPU, else ``"cpu"``; other names are checked.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``.

    Returns
    -------
    str
        The device torch should use.

    Raises
    ------
    SpaVLError
        If a CUDA device is asked for and torch sees no GPU, or the name is not a CPU/CUDA device.
    """
    import torch

    name = str(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.split(":")[0] == "cuda" and not torch.cuda.is_available():
        raise SpaVLError(f"device {name!r} was asked for but torch sees no GPU: use {{option}} or 'auto'", parameter="device", value="cpu")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise SpaVLError(f"device {name!r} is not supported: use one of {', '.join(DEVICES)}")
    return name


def backend_available(backend: str) -> bool:
    """Whether ``backend`` is known and its runtime (the ``spa-vl[encoders]`` extra) is installed.

    Parameters
    ----------
    backend : str
        A backend name.

    Returns
    -------
    bool
        True when ``backend`` is in :data:`BACKENDS` and its package (onnxruntime, openvino) can
        be imported; the torch backends need nothing extra.
    """
    package = _PACKAGES.get(backend)
    return backend in BACKENDS and (package is None or importlib.util.find_spec(package) is not None)


def check_backend(backend: str) -> str:
    """The backend name, after checking it is known and its runtime is installed.

    Parameters
    ----------
    backend : str
        A backend name.

    Returns
    -------
    str
        ``backend`` unchanged.

    Raises
    ------
    SpaVLError
        If ``backend`` is not in :data:`BACKENDS` or its runtime package is not installed.
    """
    if backend not in BACKENDS:
        raise SpaVLError(f"encoder backend {backend!r} is unknown: use one of {', '.join(BACKENDS)}")
    package = _PACKAGES.get(backend)
    if package and importlib.util.find_spec(package) is None:
        raise SpaVLError(f"encoder backend {backend!r} needs the {package} package: pip install {package}, or use backend 'torch'")
    return backend


def _check_mean_pooling(model) -> None:
    names = [type(m).__name__ for m in model]
    pooling = model[1] if len(names) > 1 else None
    if names[:2] != ["Transformer", "Pooling"] or getattr(pooling, "pooling_mode", None) != "mean" or names[2:] not in ([], ["Normalize"]):
        raise SpaVLError(f"encoder backends other than 'torch' support Transformer + mean Pooling models; this one is {' + '.join(names)}: use backend 'torch'")


def _graph(model: Any) -> Any:
    import torch

    class MeanPooled(torch.nn.Module):
        """The transformer with mean pooling over real tokens and L2 normalisation, as one graph."""

        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return MeanPooled(model[0].auto_model).eval()


def export_onnx(model, folder: Path, quantized: bool = False) -> Path:
    """The model's ONNX graph (fp32, or int8 weights), exported once into ``folder`` and reused.

    The graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, shape
    (batch, tokens)) and returns ``embedding``, float32 of shape (batch, dim): mean pooling over
    real tokens, L2-normalised.

    Parameters
    ----------
    model : sentence_transformers.SentenceTransformer
        A loaded CPU model of Transformer + mean Pooling (+ Normalize) modules.
    folder : pathlib.Path
        Where this model's graphs are cached (created if needed).
    quantized : bool, default False
        Return the int8-weight graph (quantised from the fp32 one with ONNX Runtime).

    Returns
    -------
    pathlib.Path
        ``folder/model.onnx``, or ``folder/model-int8.onnx`` when ``quantized``.

    Raises
    ------
    SpaVLError
        If the graph must be exported and the model is not Transformer + mean Pooling.
    """
    import warnings

    import torch

    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        _check_mean_pooling(model)
        folder.mkdir(parents=True, exist_ok=True)
        features = model.preprocess(["an example text to trace", "another"])
        args = tuple(features[k].cpu() for k in _INPUTS)
        tmp = folder / f".tmp-{np.random.default_rng().integers(1 << 62)}.onnx"
        axes = {k: {0: "batch", 1: "tokens"} for k in _INPUTS} | {"embedding": {0: "batch"}}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on Python control flow: BERT's is shape-free
            torch.onnx.export(
                _graph(model).cpu(), args, str(tmp), dynamo=False, input_names=list(_INPUTS),
                output_names=["embedding"], dynamic_axes=axes, opset_version=17,
            )
        atomic_write_bytes(fp32, tmp.read_bytes())
        tmp.unlink()
    if not quantized:
        return fp32
    int8 = folder / "model-int8.onnx"
    if not int8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = folder / f".tmp-{np.random.default_rng().integers(1 << 62)}-int8.onnx"
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        atomic_write_bytes(int8, tmp.read_bytes())
        tmp.unlink()
    return int8


def _batches(model, texts: Sequence[str], batch_size: int, run: Callable[[dict], np.ndarray]) -> np.ndarray:
    """Length-sorted batches as ``SentenceTransformer.encode`` forms them, results in input order."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out: np.ndarray | None = None
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        features = model.preprocess([texts[i] for i in rows])
        vectors = run({k: features[k].numpy().astype(np.int64) for k in _INPUTS})
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), np.float32)
        out[rows] = vectors
    return out if out is not None else np.zeros((0, 0), np.float32)


def make_encode(model, backend: str, folder: Path) -> Callable[[Sequence[str], int], np.ndarray]:
    """``encode(texts, batch_size)`` → unit float32 vectors, shape (n, dim), with ``backend``.

    Parameters
    ----------
    model : sentence_transformers.SentenceTransformer
        A loaded CPU model (its tokenizer, and the weights to export or quantise).
    backend : str
        One of :data:`BACKENDS`.
    folder : pathlib.Path
        Where this model's exported graphs are cached.

    Returns
    -------
    callable of (sequence of str, int) -> numpy.ndarray of float32, shape (n, dim)
        ``encode(texts, batch_size)``: one L2-normalised row per text, in input order.

    Raises
    ------
    SpaVLError
        If the backend is unknown or not installed, or (backends other than ``torch``) the model
        is not Transformer + mean Pooling.
    """
    check_backend(backend)
    if backend == "torch":
        return lambda texts, batch_size: model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    if backend == "torch-int8":
        import torch

        _check_mean_pooling(model)
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        return lambda texts, batch_size: quantized.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    path = export_onnx(model, folder, quantized=backend == "onnx-int8")
    if backend == "openvino":
        import openvino

        compiled = openvino.Core().compile_model(str(path), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
        request = compiled.create_infer_request()
        output = compiled.output(0)
        return lambda texts, batch_size: _batches(model, texts, batch_size, lambda f: np.asarray(request.infer(f)[output]))
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda texts, batch_size: _batches(model, texts, batch_size, lambda f: session.run(None, f)[0])
