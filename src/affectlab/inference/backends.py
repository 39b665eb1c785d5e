"""Model backends: uint8 face crops in, expression logits, valence and arousal out (PyTorch or ONNX Runtime).

Both normalise with :mod:`affectlab.preprocessing.normalise` (torch on the model's device, numpy for ONNX
Runtime: the same numbers), so evaluate, predict and serve feed a model identical inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.models.artifacts import ModelArtifact
from affectlab.models.calibration import Calibration
from affectlab.preprocessing.normalise import normalise
from affectlab.preprocessing.spec import Preprocess

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]


class Backend(Protocol):
    """Runs a model on uint8 face crops (N, S, S, 3)."""

    def run(self, crops: np.ndarray) -> Outputs:
        """Return expression logits (N, C), valence (N,) and arousal (N,) as float32 arrays."""
        ...


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 for stable probabilities."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def probabilities(logits: np.ndarray, calibration: Calibration | None = None) -> np.ndarray:
    """Expression probabilities from logits: softmax(logits / T) with the model's calibration, if any.

    The one place where probabilities are made from logits: evaluate, predict and serve (through the
    Predictor) call it, and ONNX export bakes the same division into its `probabilities` output.
    """
    return softmax(calibration.scale(logits) if calibration is not None else logits)


class TorchBackend:
    """A PyTorch model in eval mode on cpu or cuda; crops are normalised on its device."""

    def __init__(self, model: Any, preprocess: Preprocess, device: str = "cpu") -> None:
        import torch

        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise AffectlabError("device 'cuda' asked for, but torch sees no CUDA GPU; use --device cpu")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess

    def run(self, crops: np.ndarray) -> Outputs:
        """Return expression logits (N, C), valence (N,), arousal (N,)."""
        import torch

        from affectlab.preprocessing.normalise import normalise_tensor

        pre = self.preprocess
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
            out = self.model(normalise_tensor(images, pre.mean, pre.std))
        logits = out["expression"].float().cpu().numpy()
        valence = out["valence"].float().reshape(-1).cpu().numpy()
        arousal = out["arousal"].float().reshape(-1).cpu().numpy()
        return logits, valence, arousal


class OnnxBackend:
    """An ONNX Runtime session; outputs found by name (expression/valence/arousal)."""

    def __init__(
        self, path: str | Path, preprocess: Preprocess, device: str = "cpu", threads: int | None = None
    ):
        from affectlab.models.onnx import onnx_session

        self.session = onnx_session(path, device=device, threads=threads)
        self.preprocess = preprocess
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = ["expression", "valence", "arousal"]
        shape = self.session.get_inputs()[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def _run(self, batch: np.ndarray) -> Outputs:
        logits, valence, arousal = self.session.run(self.output_names, {self.input_name: batch})
        n = len(batch)
        return np.asarray(logits, np.float32), np.reshape(valence, (n,)), np.reshape(arousal, (n,))

    def run(self, crops: np.ndarray) -> Outputs:
        """Return expression logits (N, C), valence (N,), arousal (N,)."""
        batch = normalise(crops, self.preprocess.mean, self.preprocess.std)
        if self.fixed_batch is None or len(batch) == self.fixed_batch:
            return self._run(batch)
        if self.fixed_batch != 1:
            raise AffectlabError(f"this ONNX file takes batches of exactly {self.fixed_batch}")
        parts = [self._run(batch[i : i + 1]) for i in range(len(batch))]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def make_backend(artifact: ModelArtifact, device: str = "cpu", threads: int | None = None) -> Backend:
    """The backend for an opened model: ONNX Runtime for .onnx files, PyTorch for safetensors weights."""
    if artifact.format == "onnx":
        return OnnxBackend(artifact.path, artifact.info.preprocess, device, threads)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return TorchBackend(artifact.load_torch(), artifact.info.preprocess, device)
