"""Shared fixtures for the inference tests: real sample photos, a tiny stand-in model, a generated video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata
from torch import nn

from affectlab.inference import Predictor
from affectlab.inference.backends import TorchBackend
from affectlab.inference.detect import create_detector
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.preprocessing import Preprocess
from helpers.doubles import TinyNet


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return skdata.coffee()


@pytest.fixture(scope="session")
def retinaface():
    return create_detector("retinaface")


@pytest.fixture(scope="session")
def standin_predictor(retinaface) -> Predictor:
    pre = Preprocess(size=64)
    return Predictor(
        TorchBackend(TinyNet(seed=0), pre), AFFECTNET_CLASSES, pre, detector=retinaface, batch_size=4
    )


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _make_video(path: Path, rgb: np.ndarray, frames: int = 6, fps: float = 10.0) -> Path:
    """Write a short MJPG video of the photo shifted a few pixels per frame."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (rgb.shape[1], rgb.shape[0]))
    assert writer.isOpened()
    for i in range(frames):
        shifted = np.roll(rgb, shift=(2 * i, 3 * i), axis=(0, 1))
        writer.write(cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture()
def photo_folder(tmp_path: Path, astronaut: np.ndarray, coffee: np.ndarray) -> Path:
    """A folder with one face photo, one photo without a face, and a corrupt image in a subfolder."""
    folder = tmp_path / "photos"
    _write_png(folder / "astronaut.png", astronaut)
    _write_png(folder / "coffee.png", coffee)
    (folder / "sub").mkdir()
    (folder / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image")
    return folder


@pytest.fixture()
def sample_video(tmp_path: Path, astronaut: np.ndarray) -> Path:
    """Six frames (10 fps) of the astronaut photo, shifted a little each frame."""
    return _make_video(tmp_path / "clip.avi", astronaut)


@pytest.fixture()
def standin_net() -> nn.Module:
    return TinyNet(seed=0).eval()
