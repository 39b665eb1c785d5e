"""Export weights to single-file ONNX (or TorchScript) carrying class names and preprocessing; check parity."""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.models.weights import ModelInfo, file_sha256, load_weights

log = logging.getLogger(__name__)

ONNX_OUTPUTS: tuple[str, ...] = ("expression", "probabilities", "valence", "arousal")
_META_KEY = "affectlab"


@dataclass
class ExportReport:
    """Where the export went and how closely it matches PyTorch."""

    path: Path
    format: str
    bytes: int
    max_abs_diff: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the terminal."""
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        return f"wrote {self.path} ({self.format}, {self.bytes / 1e6:.1f} MB); max |onnx - torch|: {diffs}"


class _ExportWrapper(nn.Module):
    """Returns the model's outputs as a tuple in ONNX_OUTPUTS order, with softmax probabilities added."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(image)
        return out["expression"], torch.softmax(out["expression"], dim=1), out["valence"], out["arousal"]


def _load(source: str | Path | tuple[nn.Module, ModelInfo]) -> tuple[nn.Module, ModelInfo, str | None]:
    if isinstance(source, tuple):
        model, info = source
        return model.eval().cpu(), info, None
    model, info = load_weights(source)
    return model, info, file_sha256(source)


def parity_inputs(size: int, info: ModelInfo, seed: int = 0) -> dict[str, np.ndarray]:
    """Random-normal and natural-looking (smooth, face-like) normalised inputs for parity checks."""
    rng = np.random.default_rng(seed)
    random = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    blob = np.exp(-((xx - 0.5) ** 2 + (yy - 0.45) ** 2) / 0.08)
    rgb = np.stack([0.8 * blob + 0.1, 0.6 * blob + 0.15 * xx, 0.5 * blob + 0.2 * yy])
    mean = np.asarray(info.preprocess.mean, np.float32)[:, None, None]
    std = np.asarray(info.preprocess.std, np.float32)[:, None, None]
    natural = ((rgb - mean) / std).astype(np.float32)[None].repeat(2, 0)
    natural[1] = natural[1, :, :, ::-1]
    return {"random": random, "natural": natural}


def export_onnx(
    source: str | Path | tuple[nn.Module, ModelInfo],
    out: str | Path,
    *,
    opset: int = 17,
    dynamic_batch: bool = True,
    check: bool = True,
) -> ExportReport:
    """Export weights (a .safetensors file or (model, info)) to one ONNX file; check parity with ONNX Runtime."""
    import onnx

    model, info, sha = _load(source)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = info.preprocess.size
    dummy = torch.zeros(1, 3, size, size)
    axes = {name: {0: "batch"} for name in ("image", *ONNX_OUTPUTS)} if dynamic_batch else None
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        # The TorchScript-based exporter works offline with what affectlab installs (the dynamo exporter
        # needs onnxscript); it gives a single-file graph with constant folding.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                    _ExportWrapper(model), (dummy,), str(tmp), input_names=["image"],
                output_names=list(ONNX_OUTPUTS),
                dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False,
            )
        proto = onnx.load(str(tmp))
        meta = {**info.to_dict(), "source_sha256": sha, "outputs": list(ONNX_OUTPUTS)}
        entry = proto.metadata_props.add()
        entry.key, entry.value = _META_KEY, json.dumps(meta)
        proto.producer_name = "affectlab"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    report = ExportReport(out, "onnx", out.stat().st_size)
    if check:
        report.max_abs_diff = check_onnx_parity(model, out, info, batch=2 if dynamic_batch else 1)
    return report


def check_onnx_parity(model: nn.Module, path: str | Path, info: ModelInfo, batch: int = 2) -> dict[str, float]:
    """Return the max |ONNX Runtime - PyTorch| per output over random and natural inputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wrapper = _ExportWrapper(model).eval()
    diffs = dict.fromkeys(ONNX_OUTPUTS, 0.0)
    for x in parity_inputs(info.preprocess.size, info).values():
        x = x[:batch]
        got = session.run(list(ONNX_OUTPUTS), {"image": x})
        with torch.no_grad():
            want = [t.numpy() for t in wrapper(torch.from_numpy(x))]
        for name, g, w in zip(ONNX_OUTPUTS, got, want, strict=True):
            diffs[name] = max(diffs[name], float(np.max(np.abs(g - w))))
    return diffs


def load_onnx_info(path: str | Path) -> ModelInfo:
    """Read the ModelInfo that affectlab stored in an ONNX file; refuse files with external data."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise AffectlabError(f"ONNX file {path} not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends
        raise AffectlabError(f"{path}: not a readable ONNX model ({exc})") from exc
    for tensor in _all_initializers(proto):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            where = {e.key: e.value for e in tensor.external_data}.get("location", "?")
            raise AffectlabError(
                f"{path}: tensor {tensor.name!r} points to external data {where!r}; affectlab's exports are "
                "single-file and external data (a path-traversal risk) is refused — re-export with affectlab"
            )
    meta = {p.key: p.value for p in proto.metadata_props}
    if _META_KEY not in meta:
        raise AffectlabError(
            f"{path}: ONNX file without affectlab metadata (class names, preprocessing); export it with "
            "`affectlab export`"
        )
    return ModelInfo.from_dict(json.loads(meta[_META_KEY]))


def _all_initializers(proto: object) -> list:
    """Initializers of the main graph and of every subgraph."""
    import onnx

    found = []
    graphs = [proto.graph]  # type: ignore[attr-defined]
    while graphs:
        graph = graphs.pop()
        found.extend(graph.initializer)
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)
    return found


def export_torchscript(source: str | Path | tuple[nn.Module, ModelInfo], out: str | Path) -> ExportReport:
    """Trace to TorchScript with the info stored as an extra file `affectlab.json`."""
    model, info, sha = _load(source)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = info.preprocess.size
    traced = torch.jit.trace(_ExportWrapper(model), torch.zeros(1, 3, size, size))
    extra = {"affectlab.json": json.dumps({**info.to_dict(), "source_sha256": sha, "outputs": list(ONNX_OUTPUTS)})}
    torch.jit.save(traced, str(out), _extra_files=extra)
    x = torch.from_numpy(parity_inputs(size, info)["natural"])
    with torch.no_grad():
        want = _ExportWrapper(model)(x)
        got = traced(x)
    diffs = {n: float((g - w).abs().max()) for n, g, w in zip(ONNX_OUTPUTS, got, want, strict=True)}
    return ExportReport(out, "torchscript", out.stat().st_size, diffs)
