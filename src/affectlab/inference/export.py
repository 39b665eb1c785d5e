"""Export a trained model to one self-describing ONNX (or TorchScript) file, with a parity check."""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.labels import class_names as default_class_names
from affectlab.models import AffectModel, ModelInfo, file_sha256, load_weights
from affectlab.preprocess import Preprocess

log = logging.getLogger(__name__)

#: ONNX graph names: one input, four outputs.
INPUT_NAME = "image"
OUTPUT_NAMES: tuple[str, ...] = ("expression", "probabilities", "valence", "arousal")
#: metadata_props key holding the model info as JSON.
META_KEY = "affectlab"
EXPORTER = "torch.onnx.export(dynamo=False) (TorchScript-based; onnxscript is not needed)"


@dataclass
class ExportReport:
    """What an export wrote and how closely the exported model matches PyTorch."""

    path: Path
    format: str
    arch: str
    num_classes: int
    input_size: int
    dynamic_batch: bool
    params: int
    file_bytes: int
    exporter: str
    opset: int | None = None
    source_sha256: str | None = None
    #: Max absolute differences per input set ("random", "real") and output, e.g. parity["real"]["valence"].
    parity: dict[str, dict[str, float]] = field(default_factory=dict)
    tolerance: float = 1e-4

    @property
    def max_abs_diff(self) -> float:
        """Largest difference over input sets for probabilities, valence and arousal (NaN if unchecked)."""
        diffs = [
            d[k] for d in self.parity.values() for k in ("probabilities", "valence", "arousal") if k in d
        ]
        return max(diffs) if diffs else float("nan")

    @property
    def passed(self) -> bool:
        """True when the parity check ran and every difference is below the tolerance."""
        return bool(self.parity) and self.max_abs_diff < self.tolerance

    def summary(self) -> str:
        """A few lines for the terminal: file, size, parameters and the parity numbers."""
        lines = [
            f"wrote {self.path} ({self.format}, {self.arch}, {self.num_classes} classes, "
            f"input {self.input_size} px, "
            f"{'dynamic' if self.dynamic_batch else 'static'} batch, {self.params / 1e6:.2f} M params, "
            f"{self.file_bytes / 1e6:.1f} MB)",
            f"exporter: {self.exporter}" + (f", opset {self.opset}" if self.opset else ""),
        ]
        other = "onnx" if self.format == "onnx" else "torchscript"
        for name, diffs in self.parity.items():
            numbers = ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
            lines.append(f"max |{other} - torch| on {name} inputs: {numbers}")
        if self.parity:
            verdict = "ok" if self.passed else "FAILED"
            lines.append(f"parity {verdict}: {self.max_abs_diff:.2e} (tolerance {self.tolerance:.0e})")
        else:
            lines.append("parity not checked")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["max_abs_diff"] = self.max_abs_diff
        data["passed"] = self.passed
        return data


class _ExportHead(nn.Module):
    """Turns the model's output dict into the exported tuple (logits, softmax, valence, arousal)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the model and add softmax probabilities."""
        out = self.model(image)
        logits = out["expression"]
        return logits, torch.softmax(logits, dim=1), out["valence"], out["arousal"]


Source = str | Path | nn.Module | tuple[nn.Module, ModelInfo]


def _resolve(source: Source, info: ModelInfo | None) -> tuple[nn.Module, ModelInfo, str | None]:
    """Return an eval-mode CPU float32 copy of the model, its info and the source file's sha256."""
    if isinstance(source, tuple):
        source, info = source[0], info or source[1]
    if isinstance(source, str | Path):
        if Path(source).is_dir():
            source = Path(source) / "model.safetensors"
        model, file_info = load_weights(source)
        return model, info or file_info, file_sha256(source)
    model = source
    while isinstance(getattr(model, "_orig_mod", None), nn.Module):  # torch.compile wrapper
        model = model._orig_mod  # type: ignore[assignment]
    if info is None:
        if not isinstance(model, AffectModel):
            raise AffectlabError(
                "exporting a model object that is not an AffectModel needs info=ModelInfo(...)"
            )
        info = ModelInfo(
            model.arch,
            default_class_names(model.num_classes),
            Preprocess(),
            va_activation=model.va_activation,
        )
    model = copy.deepcopy(model).to(device="cpu", dtype=torch.float32, memory_format=torch.contiguous_format)
    return model.eval(), info, None


def _info_json(info: ModelInfo, fmt: str, sha: str | None, opset: int | None, dynamic: bool) -> str:
    import affectlab

    data = info.to_dict()
    data["export"] = {
        "format": fmt,
        "affectlab_version": affectlab.__version__,
        "torch_version": torch.__version__,
        "source_sha256": sha,
        "opset": opset,
        "dynamic_batch": dynamic,
        "input": {"name": INPUT_NAME, "layout": "NCHW", "dtype": "float32", "size": info.preprocess.size},
        "outputs": list(OUTPUT_NAMES),
        "normalisation": "RGB scaled to [0, 1], then (x - mean) / std",
    }
    return json.dumps(data)


def _real_images(size: int) -> np.ndarray:
    """Real photos (scikit-image samples) when installed, else smooth synthetic faces; uint8 (N, S, S, 3)."""
    images: list[np.ndarray] = []
    try:
        from skimage import data as skdata

        astro = skdata.astronaut()
        images = [astro[30:230, 150:320], astro, skdata.coffee(), skdata.chelsea()]
    except Exception:  # scikit-image is optional; fall back to synthetic smooth images
        yy, xx = np.mgrid[0:256, 0:256] / 255.0
        for k in range(4):
            face = np.exp(-(((xx - 0.5) / 0.3) ** 2 + ((yy - 0.5) / 0.4) ** 2))
            shade = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * (k + 1) + yy * 0.5))
            rgb = np.stack([face * 0.9 + 0.1 * shade, face * 0.7 + 0.2 * yy, face * 0.6 + 0.3 * xx], -1)
            images.append((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    batch = []
    for img in images:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
        side = min(t.shape[-2:])
        top, left = (t.shape[-2] - side) // 2, (t.shape[-1] - side) // 2
        t = t[..., top : top + side, left : left + side]
        t = nn.functional.interpolate(
            t, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        batch.append(t.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy())
    return np.stack(batch)


def parity_inputs(preprocess: Preprocess, batch: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Normalised float32 NCHW batches: 'random' (standard normal) and 'real' (photos or smooth images)."""
    rng = np.random.default_rng(seed)
    size = preprocess.size
    rand = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    real = _real_images(size).astype(np.float32) / 255.0
    mean, std = np.asarray(preprocess.mean, np.float32), np.asarray(preprocess.std, np.float32)
    real = ((real - mean) / std).transpose(0, 3, 1, 2)
    return {"random": rand, "real": np.ascontiguousarray(real[:batch], dtype=np.float32)}


def _torch_outputs(head: nn.Module, x: np.ndarray) -> list[np.ndarray]:
    with torch.inference_mode():
        return [t.numpy() for t in head(torch.from_numpy(x))]


def _diffs(expected: list[np.ndarray], got: list[np.ndarray]) -> dict[str, float]:
    return {
        name: float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64).reshape(a.shape))))
        for name, a, b in zip(OUTPUT_NAMES, expected, got, strict=True)
    }


def _onnx_parity(
    head: nn.Module, path: Path, preprocess: Preprocess, dynamic: bool
) -> dict[str, dict[str, float]]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    report = {}
    for name, x in parity_inputs(preprocess).items():
        chunks = [x] if dynamic else [x[i : i + 1] for i in range(len(x))]
        got = [session.run(list(OUTPUT_NAMES), {INPUT_NAME: c}) for c in chunks]
        merged = [np.concatenate([g[i] for g in got]) for i in range(len(OUTPUT_NAMES))]
        report[name] = _diffs(_torch_outputs(head, x), merged)
    return report


def _atomic_target(out: Path) -> Path:
    from affectlab.io import ensure_writable

    ensure_writable(out.parent, "exported model")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AffectlabError(f"cannot write the exported model to {out.parent}: {exc}") from exc
    return out.with_name(f".{out.name}.tmp-{os.getpid()}")


def _report(
    out: Path, fmt: str, info: ModelInfo, model: nn.Module, sha: str | None, **kw: Any
) -> ExportReport:
    """A report for a written file, before its parity check."""
    params, nbytes = sum(p.numel() for p in model.parameters()), out.stat().st_size
    pre = info.preprocess
    return ExportReport(
        out,
        fmt,
        info.arch,
        info.num_classes,
        pre.size,
        params=params,
        file_bytes=nbytes,
        source_sha256=sha,
        **kw,
    )


def export_onnx(
    weights_path_or_model: Source,
    out: str | Path,
    *,
    opset: int = 17,
    dynamic_batch: bool = True,
    check: bool = True,
    info: ModelInfo | None = None,
    tolerance: float = 1e-4,
) -> ExportReport:
    """Export to a single-file ONNX model with affectlab metadata; check parity with ONNX Runtime."""
    import onnx

    model, info, sha = _resolve(weights_path_or_model, info)
    out = Path(out)
    head = _ExportHead(model).eval()
    size = info.preprocess.size
    dummy = torch.zeros(2 if dynamic_batch else 1, 3, size, size)
    axes = {n: {0: "batch"} for n in (INPUT_NAME, *OUTPUT_NAMES)} if dynamic_batch else None
    tmp = _atomic_target(out)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's DeprecationWarning and tracer warnings
            torch.onnx.export(
                head,
                (dummy,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        proto = onnx.load(str(tmp), load_external_data=False)
        if external_data_locations(proto):
            raise AffectlabError(f"ONNX export of {info.arch} produced external data; it must be one file")
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, _info_json(info, "onnx", sha, opset, dynamic_batch)
        proto.producer_name = "affectlab"
        proto.doc_string = f"affectlab {info.arch}: expression logits/probabilities, valence, arousal"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    except AffectlabError:
        raise
    except Exception as exc:
        raise AffectlabError(f"ONNX export of {info.arch} (opset {opset}) failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    extra = {"dynamic_batch": dynamic_batch, "exporter": EXPORTER, "opset": opset, "tolerance": tolerance}
    report = _report(out, "onnx", info, model, sha, **extra)
    if check:
        report.parity = _onnx_parity(head, out, info.preprocess, dynamic_batch)
        if not report.passed:
            log.warning("ONNX parity %.2e exceeds %.0e for %s", report.max_abs_diff, tolerance, out)
    return report


def export_torchscript(
    weights_path_or_model: Source,
    out: str | Path,
    *,
    check: bool = True,
    info: ModelInfo | None = None,
    tolerance: float = 1e-4,
) -> ExportReport:
    """Trace to a TorchScript file (outputs as in ONNX) with the info in `affectlab.json`; check parity."""
    model, info, sha = _resolve(weights_path_or_model, info)
    out = Path(out)
    head = _ExportHead(model).eval()
    size = info.preprocess.size
    tmp = _atomic_target(out)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(head, torch.zeros(2, 3, size, size), strict=False, check_trace=False)
            extra = {"affectlab.json": _info_json(info, "torchscript", sha, None, True)}
            torch.jit.save(traced, str(tmp), _extra_files=extra)
        os.replace(tmp, out)
    except Exception as exc:
        raise AffectlabError(f"TorchScript export of {info.arch} failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    extra = {"dynamic_batch": True, "exporter": "torch.jit.trace", "tolerance": tolerance}
    report = _report(out, "torchscript", info, model, sha, **extra)
    if check:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.jit.load(str(out), map_location="cpu").eval()
        inputs = parity_inputs(info.preprocess)
        report.parity = {
            k: _diffs(_torch_outputs(head, x), _torch_outputs(loaded, x)) for k, x in inputs.items()
        }
    return report


def _node_tensors(nodes: Any) -> Iterator[Any]:
    """Tensors held in node attributes, recursing into subgraphs (If/Loop/Scan bodies)."""
    import onnx

    for node in nodes:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            yield from attr.tensors
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graph_tensors(attr.g)
            for sub in attr.graphs:
                yield from _graph_tensors(sub)


def _graph_tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph: initializers, sparse initializers, node attributes and subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def external_data_locations(proto: Any) -> list[str]:
    """Return the external-data locations referenced by any tensor of an ONNX model (graphs, functions)."""
    import onnx

    tensors = [*_graph_tensors(proto.graph)]
    for func in proto.functions:
        tensors.extend(_node_tensors(func.node))
    found: list[str] = []
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            locations = [e.value for e in tensor.external_data if e.key == "location"]
            found.extend(locations or ["<no location>"])
    return found


def load_onnx_info(path: str | Path) -> ModelInfo:
    """Read the affectlab info of an exported ONNX file; refuse files that use external data."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise AffectlabError(f"ONNX file {path} not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise AffectlabError(f"{path}: not a readable ONNX model ({exc})") from exc
    locations = external_data_locations(proto)
    if locations:
        outside = [
            loc
            for loc in locations
            if Path(loc).is_absolute()
            or not (path.parent / loc).resolve().is_relative_to(path.parent.resolve())
        ]
        where = (
            f"outside its folder ({outside[:3]}: path traversal)"
            if outside
            else f"in {sorted(set(locations))[:3]}"
        )
        raise AffectlabError(
            f"{path}: refused: this ONNX model keeps tensors in external data {where}. affectlab exports are "
            "single files; re-export with `affectlab export`, or, if you trust the files, merge them into "
            "one with onnx.load() then onnx.save(model, out, save_as_external_data=False)"
        )
    meta = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in meta:
        raise AffectlabError(
            f"{path}: this ONNX model has no affectlab metadata (class names, input size, normalisation); "
            "export it with `affectlab export WEIGHTS --format onnx`"
        )
    try:
        data = json.loads(meta[META_KEY])
    except ValueError as exc:
        raise AffectlabError(f"{path}: the affectlab ONNX metadata is not valid JSON ({exc})") from exc
    info = ModelInfo.from_dict(data)
    info.metadata = {**info.metadata, "export": data.get("export", {})}
    return info
