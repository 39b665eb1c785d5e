"""Export a trained model to one self-describing ONNX (or TorchScript) file, with a parity check."""

from __future__ import annotations

import contextlib
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
from affectlab.models.info import META_KEY, ModelInfo
from affectlab.models.onnx import INPUT_NAME, OUTPUT_NAMES, external_data_locations, onnx_session
from affectlab.preprocessing.spec import Preprocess

log = logging.getLogger(__name__)
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
        pair: tuple[nn.Module, ModelInfo] = source
        source, info = pair[0], info or pair[1]
    if isinstance(source, str | Path):
        from affectlab.models.artifacts import open_model

        artifact = open_model(source)
        if artifact.format != "safetensors":
            raise AffectlabError(
                f"{artifact.path} is already an ONNX export; export from its model.safetensors"
            )
        return artifact.load_torch(), info or artifact.info, artifact.sha256
    model = source
    while isinstance(getattr(model, "_orig_mod", None), nn.Module):  # torch.compile wrapper
        model = model._orig_mod  # type: ignore[assignment]
    if info is None:
        # The preprocessing a model needs is a fact of its training data, never a default.
        raise AffectlabError(
            "exporting a model object needs info=ModelInfo(arch, class_names, preprocess); or export its "
            "model.safetensors file or run folder, which carry them"
        )
    model = copy.deepcopy(model).to("cpu", torch.float32).to(memory_format=torch.contiguous_format)
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


def _real_faces(size: int, margin: float) -> np.ndarray:
    """Faces cropped from real photos (scikit-image samples) by affectlab's own crop rule; uint8 (N, S, S, 3).

    Without scikit-image, smooth synthetic images stand in (whole-image crops).
    """
    from affectlab.preprocessing.crop import crop_face

    try:
        from skimage import data as skdata

        astro = skdata.astronaut()
        regions = [(astro, (177.0, 56.0, 95.0, 120.0)), (astro, None), (skdata.coffee(), None)]
        regions.append((skdata.chelsea(), None))
    except Exception:  # scikit-image is optional; fall back to synthetic smooth images
        yy, xx = np.mgrid[0:256, 0:256] / 255.0
        regions = []
        for k in range(4):
            face = np.exp(-(((xx - 0.5) / 0.3) ** 2 + ((yy - 0.5) / 0.4) ** 2))
            shade = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * (k + 1) + yy * 0.5))
            rgb = np.stack([face * 0.9 + 0.1 * shade, face * 0.7 + 0.2 * yy, face * 0.6 + 0.3 * xx], -1)
            regions.append(((np.clip(rgb, 0, 1) * 255).astype(np.uint8), None))
    return np.stack([crop_face(np.ascontiguousarray(rgb), box, size, margin) for rgb, box in regions])


def parity_inputs(preprocess: Preprocess, batch: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Normalised float32 NCHW batches: 'random' (standard normal) and 'real' (faces from photos)."""
    from affectlab.preprocessing.normalise import normalise

    rng = np.random.default_rng(seed)
    size = preprocess.size
    rand = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    real = normalise(_real_faces(size, preprocess.crop_margin)[:batch], preprocess.mean, preprocess.std)
    return {"random": rand, "real": real}


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
    session = onnx_session(path)
    report = {}
    for name, x in parity_inputs(preprocess).items():
        chunks = [x] if dynamic else [x[i : i + 1] for i in range(len(x))]
        got = [session.run(list(OUTPUT_NAMES), {INPUT_NAME: c}) for c in chunks]
        merged = [np.concatenate([g[i] for g in got]) for i in range(len(OUTPUT_NAMES))]
        report[name] = _diffs(_torch_outputs(head, x), merged)
    return report


@contextlib.contextmanager
def _written_atomically(out: Path, failure: str) -> Iterator[Path]:
    """Yield a temporary path next to `out` and move it onto `out` when the body succeeds.

    Nothing partial is left behind: the temporary file goes in any case. A failure other than an
    AffectlabError becomes one, `failure` saying what failed.
    """
    from affectlab.io import ensure_writable

    ensure_writable(out.parent, "exported model")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AffectlabError(f"cannot write the exported model to {out.parent}: {exc}") from exc
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, out)
    except AffectlabError:
        raise
    except Exception as exc:
        raise AffectlabError(f"{failure}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Job:
    """What both exporters work from: the model copy, its info, the source file's hash and the export head."""

    model: nn.Module
    info: ModelInfo
    sha: str | None
    head: nn.Module

    @classmethod
    def of(cls, source: Source, info: ModelInfo | None) -> _Job:
        """Resolve the source (a file, a model or a (model, info) pair) and wrap the model for export."""
        model, info, sha = _resolve(source, info)
        return cls(model, info, sha, _ExportHead(model).eval())

    def report(self, out: Path, fmt: str, **kw: Any) -> ExportReport:
        """A report for the written file `out`, before its parity check."""
        params, nbytes = sum(p.numel() for p in self.model.parameters()), out.stat().st_size
        info = self.info
        return ExportReport(
            out,
            fmt,
            info.arch,
            info.num_classes,
            info.preprocess.size,
            params=params,
            file_bytes=nbytes,
            source_sha256=self.sha,
            **kw,
        )


def _trace_onnx(head: nn.Module, path: Path, size: int, opset: int, dynamic_batch: bool) -> None:
    """Write the ONNX graph of `head` (TorchScript-based exporter) with a batch axis that may vary."""
    dummy = torch.zeros(2 if dynamic_batch else 1, 3, size, size)
    axes = {n: {0: "batch"} for n in (INPUT_NAME, *OUTPUT_NAMES)} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's DeprecationWarning and tracer warnings
        torch.onnx.export(
            head,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def _stamp_onnx(path: Path, info: ModelInfo, metadata: str) -> None:
    """Make the ONNX file self-describing (affectlab metadata, producer), check it and save it as one file."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    if external_data_locations(proto):
        raise AffectlabError(f"ONNX export of {info.arch} produced external data; it must be one file")
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, metadata
    proto.producer_name = "affectlab"
    proto.doc_string = f"affectlab {info.arch}: expression logits/probabilities, valence, arousal"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


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
    job, out = _Job.of(weights_path_or_model, info), Path(out)
    info = job.info
    with _written_atomically(out, f"ONNX export of {info.arch} (opset {opset}) failed") as tmp:
        _trace_onnx(job.head, tmp, info.preprocess.size, opset, dynamic_batch)
        _stamp_onnx(tmp, info, _info_json(info, "onnx", job.sha, opset, dynamic_batch))
    report = job.report(
        out, "onnx", dynamic_batch=dynamic_batch, exporter=EXPORTER, opset=opset, tolerance=tolerance
    )
    if check:
        report.parity = _onnx_parity(job.head, out, info.preprocess, dynamic_batch)
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
    job, out = _Job.of(weights_path_or_model, info), Path(out)
    size = job.info.preprocess.size
    with (
        _written_atomically(out, f"TorchScript export of {job.info.arch} failed") as tmp,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(job.head, torch.zeros(2, 3, size, size), strict=False, check_trace=False)
        files = {"affectlab.json": _info_json(job.info, "torchscript", job.sha, None, True)}
        torch.jit.save(traced, str(tmp), _extra_files=files)
    report = job.report(
        out, "torchscript", dynamic_batch=True, exporter="torch.jit.trace", tolerance=tolerance
    )
    if check:
        report.parity = _torchscript_parity(job.head, out, job.info.preprocess)
    return report


def _torchscript_parity(head: nn.Module, path: Path, preprocess: Preprocess) -> dict[str, dict[str, float]]:
    """Max differences between the traced file, loaded back, and PyTorch on the parity inputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu").eval()
    return {
        k: _diffs(_torch_outputs(head, x), _torch_outputs(loaded, x))
        for k, x in parity_inputs(preprocess).items()
    }
