"""Helpers for the fault suite: crafted bad files, a small weights file, unwritable and full disks, and a
bounded subprocess runner (every fault that could hang or kill a process runs in a child)."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ----------------------------------------------------------------------------------------------- images
def gradient(width: int = 48, height: int = 48) -> np.ndarray:
    """A deterministic RGB image with no flat areas (so conversions are visible)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 5 % 256, yy * 5 % 256, (xx + yy) * 3 % 256], -1).astype(np.uint8)


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 100-byte PNG whose header declares width x height pixels (crafted: nothing large is allocated)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _truncated_jpeg() -> bytes:
    data = encode(Image.fromarray(gradient()), "JPEG", quality=90)
    return data[: len(data) // 2]


def _png16() -> bytes:
    arr = (np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 28).astype(np.uint16)
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    return encode(img, "PNG")


def _rgba() -> bytes:
    alpha = np.full((48, 48, 1), 128, np.uint8)
    return encode(Image.fromarray(np.concatenate([gradient(), alpha], axis=2), "RGBA"), "PNG")


def _exif_rotated() -> bytes:
    """32 wide x 48 high in the file, EXIF orientation 6 (rotate 90): 48 wide x 32 high when shown."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(gradient(32, 48)), "JPEG", quality=95, exif=exif.tobytes())


#: name -> bytes of each bad or awkward image; all are written with a ``.jpg`` name.
IMAGE_BYTES: dict[str, Callable[[], bytes]] = {
    "truncated_jpeg": _truncated_jpeg,
    "zero_bytes": lambda: b"",
    "text_named_jpg": lambda: b"name,expression\nthis is a CSV, not a picture\n",
    "decompression_bomb": bomb_png,
    "png_16bit": _png16,
    "cmyk_jpeg": lambda: encode(Image.fromarray(gradient()).convert("CMYK"), "JPEG", quality=95),
    "grayscale": lambda: encode(Image.fromarray(gradient()).convert("L"), "PNG"),
    "rgba": _rgba,
    "exif_rotated": _exif_rotated,
}


class Outcome:
    """The documented outcome of one image case in each place (see docs/reliability.md)."""

    def __init__(
        self,
        reject: str | None,
        notes: tuple[str, ...],
        predict: str | None,
        serve: tuple[int, str],
        shape: tuple[int, int] = (48, 48),
    ) -> None:
        self.reject = reject  # reader / prepare rejection reason (None: kept)
        self.notes = notes  # reader notes when kept
        self.predict = predict  # substring of the predict error (None: predicted)
        self.serve = serve  # HTTP status and error code (200, "") when accepted
        self.shape = shape  # (height, width) after EXIF rotation


OUTCOMES: dict[str, Outcome] = {
    "truncated_jpeg": Outcome("truncated", (), "truncated", (422, "truncated_image")),
    "zero_bytes": Outcome("empty_file", (), "file is empty", (422, "empty_upload")),
    "text_named_jpg": Outcome("not_an_image", (), "not a recognised image", (415, "not_an_image")),
    "decompression_bomb": Outcome("too_large", (), "decompression-bomb guard", (413, "image_too_large")),
    "png_16bit": Outcome(None, ("converted_to_rgb", "extension_mismatch"), None, (200, "")),
    "cmyk_jpeg": Outcome(None, ("converted_to_rgb",), None, (200, "")),
    "grayscale": Outcome(None, ("converted_to_rgb", "extension_mismatch"), None, (200, "")),
    "rgba": Outcome(None, ("converted_to_rgb", "extension_mismatch"), None, (200, "")),
    "exif_rotated": Outcome(None, ("exif_rotated",), None, (200, ""), shape=(32, 48)),
}
assert set(OUTCOMES) == set(IMAGE_BYTES)


def write_image_case(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jpg"
    path.write_bytes(IMAGE_BYTES[name]())
    return path


def good_image(path: Path, seed: int = 0, size: int = 48) -> Path:
    """A valid, distinct JPEG (distinct content, so no duplicate/leakage notes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = np.clip(gradient(size, size).astype(int) + rng.integers(0, 60, (size, size, 3)), 0, 255)
    Image.fromarray(arr.astype(np.uint8)).save(path, "JPEG", quality=90)
    return path


# ----------------------------------------------------------------------------------------------- models
class Exploit:
    """Unpickling this creates `marker`: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def evil_pickle(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"state_dict": Exploit(str(marker))}))
    return path


def save_small_weights(path: Path, arch: str = "mobilenet_v2", num_classes: int = 8, size: int = 32) -> Path:
    import torch

    from affectlab.labels import class_names
    from affectlab.models import ModelInfo, build_model, save_weights
    from affectlab.preprocessing import Preprocess

    torch.manual_seed(0)
    model = build_model(arch, num_classes=num_classes).eval()
    return save_weights(model, ModelInfo(arch, class_names(num_classes), Preprocess(size=size)), path)


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real mobilenet_v2 8-class weights file at 32 px (random init)."""
    return save_small_weights(tmp_path_factory.mktemp("weights") / "model.safetensors")


# ------------------------------------------------------------------------------------------------- disks
@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory path where nothing can be created. As root, chmod does not stop writes, so a path under a
    regular file is used instead (mkdir/open there fail with NotADirectoryError for root too)."""
    if IS_ROOT:
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder\n")
        yield blocker / "out"
        return
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        yield folder / "out"
    finally:
        folder.chmod(0o700)


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """An existing directory that cannot be written: chmod 0o500, or (as root) a read-only tmpfs mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if not IS_ROOT:
        folder.chmod(0o500)
        try:
            yield folder
        finally:
            folder.chmod(0o700)
        return
    if not _mount(folder, "size=64k,ro"):
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        yield folder
    finally:
        _umount(folder)


def _mount(folder: Path, options: str) -> bool:
    if not IS_ROOT or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, timeout=20
    )
    return done.returncode == 0


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=20)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 1 MiB tmpfs that is already full (root only: needs `mount`)."""
    folder = tmp_path / "full"
    folder.mkdir()
    if not _mount(folder, "size=1m"):
        pytest.skip("needs root and `mount -t tmpfs` for a full-disk case")
    try:
        filler = folder / ".filler"
        with filler.open("wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        yield folder
    finally:
        _umount(folder)


# ------------------------------------------------------------------------------------------- subprocesses
def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


CLI = [sys.executable, "-c", "from affectlab.cli import run; run()"]  # the `affectlab` program's own entry


def run_cli(args: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `affectlab ARGS` in a child process; a hang fails the test after `timeout` seconds."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        cwd=cwd or tempfile.gettempdir(),
    )


def run_python(code: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run Python code in a child process with a hard timeout."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=child_env()
    )
