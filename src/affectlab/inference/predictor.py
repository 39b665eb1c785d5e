"""Predictor: detect faces, crop them by the model's own preprocessing, run the model in batches."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.inference.backends import Backend, make_backend, probabilities
from affectlab.inference.detect import DEFAULT_DETECTOR, Detection, Detector, create_detector
from affectlab.inference.results import UNCERTAIN, FaceResult, FrameResult
from affectlab.inference.smoothing import TrackSmoother
from affectlab.inference.sources import Frame, iter_frames, load_image
from affectlab.inference.timing import StageTimes
from affectlab.inference.tracking import FaceTracker, StreamTracker, TrackOptions
from affectlab.preprocessing.crop import crop_faces, eyes_from_landmarks
from affectlab.preprocessing.decode import from_array
from affectlab.preprocessing.spec import Preprocess
from affectlab.workers import refuse_worker_import

log = logging.getLogger(__name__)

_ARRAY_SOURCE = "<array>"


class Predictor:
    """Faces in, expression probabilities and valence/arousal out; build one with :meth:`load`."""

    def __init__(
        self,
        backend: Backend,
        class_names: Sequence[str],
        preprocess: Preprocess,
        detector: Detector | str | None = DEFAULT_DETECTOR,
        batch_size: int = 32,
        device: str = "cpu",
        info: Any = None,
        artifact: Any = None,
        *,
        calibrated: bool = True,
        uncertain_below: float | None = None,
        keep_logits: bool = False,
        tracking: TrackOptions | None = TrackOptions(),
        smoothing: float | None = None,
        threads: int | None = None,
    ) -> None:
        from affectlab.models.calibration import check_threshold

        if batch_size < 1:
            raise AffectlabError(f"batch size must be at least 1, got {batch_size}")
        self.backend = backend
        self.class_names = tuple(class_names)
        self.preprocess = preprocess
        self.batch_size = batch_size
        self.device = device
        #: The model's ModelInfo (arch, class names, preprocess, metadata).
        self.info = info
        #: The opened model file (affectlab.models.ModelArtifact), when loaded from one.
        self.artifact = artifact
        self._detector_arg = detector
        self._detector: Detector | None = detector if not isinstance(detector, str | None) else None
        self._warned_unaligned = False
        #: The temperature scaling applied to the logits (the model's, unless calibrated=False), or None.
        self.calibration = getattr(info, "calibration", None) if calibrated else None
        default = self.calibration.uncertain_below if self.calibration is not None else None
        #: Faces whose top probability is below this get expression "uncertain" (None: never).
        self.uncertain_below = check_threshold(
            default if uncertain_below is None else uncertain_below, "--uncertain-below"
        )
        #: Whether each FaceResult carries the raw (uncalibrated) logits.
        self.keep_logits = keep_logits
        self._threads = threads
        #: Video and camera frames: faces followed with track ids (None: detect every frame, no ids).
        self.tracking = tracking
        #: Time constant in frames of the per-track smoothing of outputs (None: off).
        self.smoothing = smoothing
        #: Seconds spent per stage (detect, track, crop, model, ...) since creation or the last reset.
        self.times = StageTimes()
        self._streams: StreamTracker | None = None
        self._smoother: tuple[str, TrackSmoother] | None = None

    @classmethod
    def load(
        cls, path: str | Path, device: str = "cpu", threads: int | None = None, **kwargs: Any
    ) -> Predictor:
        """Open a run folder, model.safetensors or .onnx file (by content) on PyTorch or ONNX Runtime."""
        refuse_worker_import("Predictor.load")
        from affectlab.models.artifacts import open_model

        artifact = open_model(path)
        backend = make_backend(artifact, device, threads)
        info = artifact.info
        kwargs.setdefault("threads", threads)
        return cls(
            backend, info.class_names, info.preprocess, device=device, info=info, artifact=artifact, **kwargs
        )

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **kwargs: Any) -> Predictor:
        """Load a run folder or a model.safetensors file on PyTorch."""
        predictor = cls.load(path, device, **kwargs)
        if predictor.artifact.format != "safetensors":
            raise AffectlabError(f"{path} is an ONNX file; use Predictor.from_onnx or Predictor.load")
        return predictor

    @classmethod
    def from_onnx(cls, path: str | Path, device: str = "cpu", **kwargs: Any) -> Predictor:
        """Load an exported ONNX file (class names and preprocessing from its metadata) on ONNX Runtime."""
        predictor = cls.load(path, device, **kwargs)
        if predictor.artifact.format != "onnx":
            raise AffectlabError(
                f"{path} is not an ONNX file; use Predictor.from_checkpoint or Predictor.load"
            )
        return predictor

    @property
    def detector(self) -> Detector:
        """The face detector (built on first use)."""
        if self._detector is None:
            name = self._detector_arg if isinstance(self._detector_arg, str) else "none"
            self._detector = create_detector(name, device=self.device, threads=self._threads)
        return self._detector

    def _regions(self, dets: list[Detection], whole: bool) -> list[tuple[Any, Any]]:
        if whole:
            if self.preprocess.align and not self._warned_unaligned:
                log.warning("this model was trained on eye-aligned faces; whole images have no landmarks")
                self._warned_unaligned = True
            return [(None, None)]
        eyes = [eyes_from_landmarks(d.landmarks5) if self.preprocess.align else None for d in dets]
        return [(d.box, e) for d, e in zip(dets, eyes, strict=True)]

    def _faces_of(self, rgb: np.ndarray, detect: bool) -> tuple[list[Detection], list[np.ndarray]]:
        whole = not detect or self.detector.name == "none"
        h, w = rgb.shape[:2]
        with self.times.stage("detect"):
            dets = [Detection((0.0, 0.0, float(w), float(h)), 1.0)] if whole else self.detector.detect(rgb)
        return dets, self._crops(rgb, dets, whole)

    def _crops(self, rgb: np.ndarray, dets: list[Detection], whole: bool = False) -> list[np.ndarray]:
        if not dets:
            return []
        pre = self.preprocess
        with self.times.stage("crop"):
            return crop_faces(rgb, self._regions(dets, whole), pre.size, pre.crop_margin)

    def _frame_faces(
        self, frame: Frame, detect: bool
    ) -> tuple[list[Detection], list[np.ndarray], list[int | None]]:
        """Faces of one frame: tracked (video and camera frames, when tracking is on) or detected afresh."""
        assert frame.rgb is not None
        tracked = self.tracking is not None and frame.time_s is not None and detect
        if not tracked or self.detector.name == "none":
            dets, crops = self._faces_of(frame.rgb, detect)
            return dets, crops, [None] * len(dets)
        if self._streams is None or self._streams.options is not self.tracking:
            options = self.tracking
            self._streams = StreamTracker(lambda: FaceTracker(self.detector, options, self.times), options)
        pairs = self._streams.step(frame.source, frame.frame, frame.rgb)
        dets = [d for d, _ in pairs]
        return dets, self._crops(frame.rgb, dets), [t for _, t in pairs]

    def infer_logits(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the model on uint8 crops (N, S, S, 3) in batches; return raw logits, valence, arousal."""
        with self.times.stage("model"):
            return self._infer_logits(crops)

    def _infer_logits(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(crops)
        logits = np.zeros((n, len(self.class_names)), np.float64)
        val, aro = np.zeros(n, np.float64), np.zeros(n, np.float64)
        for i in range(0, n, self.batch_size):
            z, v, a = self.backend.run(crops[i : i + self.batch_size])
            if z.shape[1] != len(self.class_names):
                raise AffectlabError(
                    f"model gave {z.shape[1]} expression scores for {len(self.class_names)} classes"
                )
            logits[i : i + len(z)], val[i : i + len(z)], aro[i : i + len(z)] = z, v, a
        return logits, val, aro

    def infer(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the model on uint8 crops (N, S, S, 3); return (calibrated) probabilities, valence, arousal."""
        logits, val, aro = self.infer_logits(crops)
        return probabilities(logits, self.calibration), val, aro

    def _result(
        self,
        frame: Frame | FrameResult,
        index: int,
        det: Detection,
        p: np.ndarray,
        v: float,
        a: float,
        z: np.ndarray | None = None,
        track: int | None = None,
    ) -> FaceResult:
        uncertain = self.uncertain_below is not None and float(np.max(p)) < self.uncertain_below
        return FaceResult(
            source=frame.source,
            frame=frame.frame,
            time_s=frame.time_s,
            face=index,
            box=tuple(float(b) for b in det.box),  # type: ignore[arg-type]
            score=float(det.score),
            expression=UNCERTAIN if uncertain else self.class_names[int(np.argmax(p))],
            probabilities={name: float(q) for name, q in zip(self.class_names, p, strict=True)},
            valence=float(v),
            arousal=float(a),
            uncertain=uncertain,
            logits=None if z is None else dict(zip(self.class_names, map(float, z), strict=True)),
            track=track,
        )

    def predict_faces(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[FaceResult]:
        """Predict already-cropped faces (any size; squared and resized like whole images); one per crop."""
        images = [from_array(c) for c in crops]
        if not images:
            return []
        frames = [Frame(_ARRAY_SOURCE, i, None, rgb) for i, rgb in enumerate(images)]
        results = [r.faces[0] for r in self.predict_frames(frames, detect=False)]
        return [replace(r, frame=0, face=i) for i, r in enumerate(results)]

    def predict_image(self, image: str | Path | np.ndarray, detect: bool = True) -> list[FaceResult]:
        """Detect (unless detect=False: the whole image is one face) and predict every face of one image."""
        if isinstance(image, str | Path):
            frame = Frame(str(image), 0, None, load_image(image))
        else:
            frame = Frame(_ARRAY_SOURCE, 0, None, from_array(image))
        return next(iter(self.predict_frames([frame], detect=detect))).faces

    def predict_video(self, path: str | Path, stride: int = 1, detect: bool = True) -> Iterator[FrameResult]:
        """Yield one FrameResult (frame index, time, faces) per `stride`-th frame, streaming the video."""
        for result in self.predict_frames(iter_frames([Path(path)], stride), detect=detect):
            if result.error is not None:
                raise AffectlabError(result.error)
            yield result

    def predict_frames(
        self,
        frames: Iterable[Frame],
        detect: bool = True,
        keep_images: bool = False,
        keep_crops: bool = False,
    ) -> Iterator[FrameResult]:
        """Predict a stream of frames, batching faces across frames; results come out in input order.

        ``keep_crops`` puts each face's model-input crop (uint8 S x S x 3) on its FrameResult (`crops`).
        """
        pending: list[tuple[Frame, list[Detection], list[int | None]]] = []
        crops: list[np.ndarray] = []
        max_frames = min(self.batch_size, 8) if keep_images else self.batch_size  # bounds memory for 4K video
        for frame in frames:
            if frame.rgb is None:
                pending.append((frame, [], []))
            else:
                dets, faces, tracks = self._frame_faces(frame, detect)
                pending.append((frame, dets, tracks))
                crops.extend(faces)
            if len(crops) >= self.batch_size or len(pending) >= max_frames:
                yield from self._flush(pending, crops, keep_images, keep_crops)
                pending, crops = [], []
        yield from self._flush(pending, crops, keep_images, keep_crops)

    def _flush(
        self,
        pending: list[tuple[Frame, list[Detection], list[int | None]]],
        crops: list[np.ndarray],
        keep_images: bool,
        keep_crops: bool = False,
    ) -> Iterator[FrameResult]:
        if crops:
            logits, val, aro = self.infer_logits(np.stack(crops))
            probs = probabilities(logits, self.calibration)
        k = 0
        for frame, dets, tracks in pending:
            faces = []
            for j, (det, track) in enumerate(zip(dets, tracks, strict=True)):
                z = logits[k] if self.keep_logits else None
                face = self._result(frame, j, det, probs[k], val[k], aro[k], z, track)
                faces.append(self._smooth(face))
                k += 1
            image = frame.rgb if keep_images else None
            result = FrameResult(
                frame.source, frame.frame, frame.time_s, faces, image, frame.error, frame.notes
            )
            if keep_crops:
                result.crops = crops[k - len(faces) : k]
            yield result

    def _smooth(self, face: FaceResult) -> FaceResult:
        """Per-track causal smoothing (one smoother per stream, restarted when the source changes)."""
        if self.smoothing is None or face.track is None:
            return face
        state = self._smoother
        if state is None or state[0] != face.source or not state[1].accepts(face.frame, self.smoothing):
            state = self._smoother = (face.source, TrackSmoother(self.smoothing, self.class_names))
        return state[1].smooth(face)
