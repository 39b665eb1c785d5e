"""Predictor: detect faces, crop them as in training, run the model (PyTorch or ONNX Runtime) in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.inference.crops import crop_face, fit_square, normalise
from affectlab.inference.detect import DEFAULT_DETECTOR, Detection, Detector, create_detector, ort_providers
from affectlab.inference.results import FaceResult, FrameResult
from affectlab.inference.sources import Frame, as_rgb, iter_frames, load_image
from affectlab.preprocess import Preprocess

_ARRAY_SOURCE = "<array>"


class Backend(Protocol):
    """Runs the model on a normalised float32 NCHW batch."""

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return expression logits (N, C), valence (N,), arousal (N,)."""
        ...


class TorchBackend:
    """PyTorch model on cpu or cuda, in eval mode."""

    def __init__(self, model: Any, device: str = "cpu") -> None:
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise AffectlabError("device 'cuda' asked for, but torch sees no CUDA GPU; use --device cpu")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return expression logits (N, C), valence (N,), arousal (N,)."""
        import torch

        with torch.inference_mode():
            out = self.model(torch.from_numpy(batch).to(self.device))
        logits = out["expression"].float().cpu().numpy()
        valence = out["valence"].float().reshape(-1).cpu().numpy()
        arousal = out["arousal"].float().reshape(-1).cpu().numpy()
        return logits, valence, arousal


class OnnxBackend:
    """ONNX Runtime session, full graph optimisation; outputs found by name (expression/valence/arousal)."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=ort_providers(device))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise AffectlabError(f"ONNX Runtime could not load {path}: {exc}") from exc
        self.input_name = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        wanted = ("expression", "valence", "arousal")
        if all(n in names for n in wanted):
            self.output_names = list(wanted)
        elif len(names) == 3:
            self.output_names = names
        else:
            raise AffectlabError(f"{path}: expected outputs {list(wanted)}, found {names}")
        shape = self.session.get_inputs()[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return expression logits (N, C), valence (N,), arousal (N,)."""
        if self.fixed_batch is not None and len(batch) != self.fixed_batch:
            parts = [self.run(batch[i : i + 1]) for i in range(len(batch))] if self.fixed_batch == 1 else None
            if parts is None:
                raise AffectlabError(f"this ONNX file takes batches of exactly {self.fixed_batch}")
            return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]
        logits, valence, arousal = self.session.run(self.output_names, {self.input_name: batch})
        n = len(batch)
        return np.asarray(logits, np.float32), np.reshape(valence, (n,)), np.reshape(arousal, (n,))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 for stable probabilities."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _checkpoint_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "model.safetensors"
    if not p.is_file():
        raise AffectlabError(
            f"checkpoint {p} not found (expected a .safetensors file or a training run folder)"
        )
    if p.suffix == ".onnx":
        raise AffectlabError(f"{p} is an ONNX file; use Predictor.from_onnx (the CLI chooses by suffix)")
    if p.suffix == ".ckpt":
        raise AffectlabError(
            f"{p} is a Lightning resume checkpoint; predict with the run's model.safetensors"
        )
    return p


def _as_preprocess(value: Any) -> Preprocess:
    return value if isinstance(value, Preprocess) else Preprocess.from_dict(dict(value))


class Predictor:
    """Faces in, expression probabilities and valence/arousal out; use from_checkpoint or from_onnx."""

    def __init__(
        self,
        backend: Backend,
        class_names: Sequence[str],
        preprocess: Preprocess,
        detector: Detector | str | None = DEFAULT_DETECTOR,
        align: bool = False,
        batch_size: int = 32,
        device: str = "cpu",
        info: Any = None,
    ) -> None:
        if batch_size < 1:
            raise AffectlabError(f"batch size must be at least 1, got {batch_size}")
        self.backend = backend
        self.class_names = tuple(class_names)
        self.preprocess = preprocess
        self.align = align
        self.batch_size = batch_size
        self.device = device
        #: The model's ModelInfo (arch, class names, preprocess, metadata) when loaded from a file.
        self.info = info
        self._detector_arg = detector
        self._detector: Detector | None = detector if not isinstance(detector, str | None) else None

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **kwargs: Any) -> Predictor:
        """Load a `.safetensors` weights file (or a run folder's model.safetensors) on PyTorch."""
        file = _checkpoint_file(path)
        from affectlab.models import load_weights

        model, info = load_weights(file)
        pre = _as_preprocess(info.preprocess)
        return cls(TorchBackend(model, device), info.class_names, pre, device=device, info=info, **kwargs)

    @classmethod
    def from_onnx(
        cls, path: str | Path, device: str = "cpu", threads: int | None = None, **kwargs: Any
    ) -> Predictor:
        """Load an exported ONNX file (class names and preprocessing from its metadata) on ONNX Runtime."""
        from affectlab.inference.export import load_onnx_info

        if not Path(path).is_file():
            raise AffectlabError(f"ONNX file {path} not found")
        info = load_onnx_info(path)
        pre = _as_preprocess(info.preprocess)
        backend = OnnxBackend(path, device, threads)
        return cls(backend, info.class_names, pre, device=device, info=info, **kwargs)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", **kwargs: Any) -> Predictor:
        """Load an ONNX file (by its .onnx suffix) or a checkpoint."""
        if Path(path).suffix.lower() == ".onnx":
            return cls.from_onnx(path, device=device, **kwargs)
        return cls.from_checkpoint(path, device=device, **kwargs)

    @property
    def detector(self) -> Detector:
        """The face detector (built on first use)."""
        if self._detector is None:
            name = self._detector_arg if isinstance(self._detector_arg, str) else "none"
            self._detector = create_detector(name, device=self.device)
        return self._detector

    def _crop(self, rgb: np.ndarray, det: Detection, whole: bool) -> np.ndarray:
        size, margin = self.preprocess.size, self.preprocess.crop_margin
        if whole:
            return fit_square(rgb, size)
        return crop_face(rgb, det.box, size, margin, det.landmarks5, self.align)

    def _faces_of(self, rgb: np.ndarray, detect: bool) -> tuple[list[Detection], list[np.ndarray]]:
        whole = not detect or self.detector.name == "none"
        h, w = rgb.shape[:2]
        dets = [Detection((0.0, 0.0, float(w), float(h)), 1.0)] if whole else self.detector.detect(rgb)
        return dets, [self._crop(rgb, d, whole) for d in dets]

    def infer(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the model on uint8 crops (N, S, S, 3) in batches; return probabilities, valence, arousal."""
        n = len(crops)
        probs = np.zeros((n, len(self.class_names)), np.float64)
        val, aro = np.zeros(n, np.float64), np.zeros(n, np.float64)
        for i in range(0, n, self.batch_size):
            logits, v, a = self.backend.run(normalise(crops[i : i + self.batch_size], self.preprocess))
            if logits.shape[1] != len(self.class_names):
                raise AffectlabError(
                    f"model gave {logits.shape[1]} expression scores for {len(self.class_names)} classes"
                )
            probs[i : i + len(logits)] = softmax(logits)
            val[i : i + len(logits)], aro[i : i + len(logits)] = v, a
        return probs, val, aro

    def _result(
        self, frame: Frame | FrameResult, index: int, det: Detection, p: np.ndarray, v: float, a: float
    ) -> FaceResult:
        return FaceResult(
            source=frame.source,
            frame=frame.frame,
            time_s=frame.time_s,
            face=index,
            box=tuple(float(b) for b in det.box),  # type: ignore[arg-type]
            score=float(det.score),
            expression=self.class_names[int(np.argmax(p))],
            probabilities={name: float(q) for name, q in zip(self.class_names, p, strict=True)},
            valence=float(v),
            arousal=float(a),
        )

    def predict_faces(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[FaceResult]:
        """Predict already-cropped faces (any size; squared and resized); one result per crop."""
        prepared = [fit_square(as_rgb(c), self.preprocess.size) for c in crops]
        if not prepared:
            return []
        probs, val, aro = self.infer(np.stack(prepared))
        results = []
        for i, crop in enumerate(crops):
            h, w = np.asarray(crop).shape[:2]
            det = Detection((0.0, 0.0, float(w), float(h)), 1.0)
            holder = Frame(_ARRAY_SOURCE, 0, None, None)
            results.append(self._result(holder, i, det, probs[i], val[i], aro[i]))
        return results

    def predict_image(self, image: str | Path | np.ndarray, detect: bool = True) -> list[FaceResult]:
        """Detect (unless detect=False: the whole image is one face) and predict every face of one image."""
        if isinstance(image, str | Path):
            frame = Frame(str(image), 0, None, load_image(image))
        else:
            frame = Frame(_ARRAY_SOURCE, 0, None, as_rgb(image))
        return next(iter(self.predict_frames([frame], detect=detect))).faces

    def predict_video(self, path: str | Path, stride: int = 1, detect: bool = True) -> Iterator[FrameResult]:
        """Yield one FrameResult (frame index, time, faces) per `stride`-th frame, streaming the video."""
        for result in self.predict_frames(iter_frames([Path(path)], stride), detect=detect):
            if result.error is not None:
                raise AffectlabError(result.error)
            yield result

    def predict_frames(
        self, frames: Iterable[Frame], detect: bool = True, keep_images: bool = False
    ) -> Iterator[FrameResult]:
        """Predict a stream of frames, batching faces across frames; results come out in input order."""
        pending: list[tuple[Frame, list[Detection]]] = []
        crops: list[np.ndarray] = []
        max_frames = min(self.batch_size, 8) if keep_images else self.batch_size  # bounds memory for 4K video
        for frame in frames:
            if frame.rgb is None:
                pending.append((frame, []))
            else:
                dets, faces = self._faces_of(frame.rgb, detect)
                pending.append((frame, dets))
                crops.extend(faces)
            if len(crops) >= self.batch_size or len(pending) >= max_frames:
                yield from self._flush(pending, crops, keep_images)
                pending, crops = [], []
        yield from self._flush(pending, crops, keep_images)

    def _flush(
        self, pending: list[tuple[Frame, list[Detection]]], crops: list[np.ndarray], keep_images: bool
    ) -> Iterator[FrameResult]:
        if crops:
            probs, val, aro = self.infer(np.stack(crops))
        k = 0
        for frame, dets in pending:
            faces = []
            for j, det in enumerate(dets):
                faces.append(self._result(frame, j, det, probs[k], val[k], aro[k]))
                k += 1
            image = frame.rgb if keep_images else None
            yield FrameResult(frame.source, frame.frame, frame.time_s, faces, image, frame.error)
