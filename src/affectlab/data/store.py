"""The prepared store, read side: what a store is, opening and verifying one (``prepare`` writes it).

A store is a folder whose ``manifest.json`` says ``"format": "affectlab-store"``; the manifest is written
last, so its presence means complete. Per split: ``images.npy`` (uint8 N x S x S x 3), ``labels.npz``
and ``ids.txt``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.data.readers import SPLITS
from affectlab.data.splits import StoreSplit, npy_header
from affectlab.data.validation import ValidationReport
from affectlab.errors import AffectlabError
from affectlab.io import file_sha256
from affectlab.preprocessing.spec import PIXEL_RULES_VERSION
from affectlab.taxonomy import taxonomy_from_dict

FORMAT = "affectlab-store"
#: 2: pixels made by affectlab.preprocessing (pixel rules v2), alignment recorded.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
REPORT = "validation_report.json"
#: Written by ``prepare`` before its first split and removed after the manifest: an interrupted prepare.
PENDING = ".affectlab-prepare.json"
#: The files ``prepare`` writes in each split folder (nothing else there is affectlab's).
SPLIT_FILES: tuple[str, ...] = ("images.npy", "labels.npz", "ids.txt")
_SAMPLE_IMAGES = 64


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """Return the manifest of the store at ``path``, or None when ``path`` holds no store manifest."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise AffectlabError(f"{manifest_path}: unreadable JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


def read_pending(path: str | Path) -> dict[str, Any] | None:
    """Return the marker of an interrupted ``prepare`` at ``path`` (its split names), or None."""
    marker = Path(path) / PENDING
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("splits"), list):
        return None
    return data


def store_entries(path: str | Path) -> dict[str, tuple[str, ...]] | None:
    """What affectlab wrote in the folder ``path``: {top-level name: the file names inside it ((): a file)}.

    Taken from the store's manifest (its listed splits) or from an interrupted ``prepare``'s marker; None when
    ``path`` is neither a store nor an interrupted one, so that nothing else is ever taken for affectlab's.
    """
    listed: set[str] = set()
    manifest = read_manifest(path)
    if manifest is not None and isinstance(manifest.get("splits"), dict):
        listed.update(manifest["splits"])
    pending = read_pending(path)
    if pending is not None:
        listed.update(str(s) for s in pending["splits"])
    if manifest is None and pending is None:
        return None
    entries: dict[str, tuple[str, ...]] = {
        name: () for name in (MANIFEST, MANIFEST + ".tmp", REPORT, REPORT + ".tmp", PENDING)
    }
    entries.update({name: SPLIT_FILES for name in listed if name in SPLITS})
    return entries


def is_store(path: str | Path | None) -> bool:
    """True when ``path`` is a complete prepared store (its manifest exists and says so)."""
    return path is not None and Path(path).is_dir() and read_manifest(path) is not None


def is_incomplete_store(path: str | Path) -> bool:
    """True for a folder with store splits (images.npy) but no manifest: an interrupted ``prepare``."""
    root = Path(path)
    return (
        root.is_dir()
        and not (root / MANIFEST).is_file()
        and (read_pending(root) is not None or any((root / s / "images.npy").is_file() for s in SPLITS))
    )


def _sample_rows(count: int) -> list[int]:
    """The samples a store's image checksum covers: evenly spaced, at most 64 (none of none)."""
    return np.unique(np.linspace(0, count - 1, min(count, _SAMPLE_IMAGES)).astype(np.int64)).tolist()


def file_sample_digest(path: str | Path) -> tuple[tuple[int, ...], np.dtype, str]:
    """Return the shape, dtype and image checksum of an images.npy: its shape and a fixed sample of rows.

    Raises AffectlabError naming the file when it is not a whole .npy array. Read with positioned reads,
    not a memory map: where the OS caches the file in 2 MiB folios, touching 64 rows of a map maps 64 of
    them (~120 MiB of RSS to open a 287K-face store; measured).
    """
    try:
        return _read_sample_digest(Path(path))
    except (OSError, ValueError) as exc:
        raise AffectlabError(f"{path}: unreadable ({exc}); re-run `affectlab prepare`") from exc


def _read_sample_digest(path: Path) -> tuple[tuple[int, ...], np.dtype, str]:
    offset, shape, dtype, fortran = npy_header(path)
    count, row = (shape[0] if shape else 0), int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if fortran or size < offset + count * row:
        raise ValueError(f"{size:,} bytes for a {'Fortran-ordered ' if fortran else ''}{dtype} array {shape}")
    digest = hashlib.sha256(repr(shape).encode())
    fd = os.open(path, os.O_RDONLY)
    try:
        for index in _sample_rows(count):
            data = os.pread(fd, row, offset + index * row)
            if len(data) != row:
                raise ValueError(f"short read at row {index}")
            digest.update(data)
    finally:
        os.close(fd)
    return shape, dtype, digest.hexdigest()


class Store:
    """A prepared store: its manifest and splits (images stay on disk and are read per batch)."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.layout: str = manifest["source"]["layout"]
        self.image_size: int = int(manifest["image_size"])
        self.num_classes: int = int(manifest["num_classes"])
        self.class_names: tuple[str, ...] = tuple(manifest["class_names"])
        self.crop_margin: float = float(manifest["crop_margin"])
        self.align: bool = bool(manifest.get("align", False))
        self.splits: tuple[str, ...] = tuple(manifest["splits"])
        #: The source's taxonomy (manifest "taxonomy"; stores from before it was recorded: AffectNet's).
        self.taxonomy = taxonomy_from_dict(manifest["taxonomy"]) if manifest.get("taxonomy") else None

    def split(self, name: str) -> StoreSplit:
        """Return one split as a FaceSplit (``name`` as affectlab or the dataset calls it: resolve_split)."""
        from affectlab.data.readers import resolve_split

        name = resolve_split(name, self.layout)
        if name not in self.splits:
            raise AffectlabError(f"{self.path}: store has no {name!r} split (has: {', '.join(self.splits)})")
        split = StoreSplit(self.path / name, self.class_names, self.image_size, self.crop_margin, self.align)
        split.taxonomy = self.taxonomy
        return split

    def report(self) -> ValidationReport:
        """Return the validation report written by prepare."""
        from affectlab.data.readers import ReasonCount

        data = json.loads((self.path / REPORT).read_text(encoding="utf-8"))
        for key in ("totals", "total_rejected"):
            data.pop(key, None)
        for key in ("rejected", "notes"):
            data[key] = {k: ReasonCount(**v) for k, v in data[key].items()}
        data["leakage"] = ReasonCount(**data["leakage"])
        return ValidationReport(**data)


def _verify_split(path: Path, name: str, info: dict[str, Any], size: int) -> None:
    folder = path / name
    for fname in ("images.npy", "labels.npz", "ids.txt"):
        if not (folder / fname).is_file():
            raise AffectlabError(f"{folder / fname}: missing from the store; re-run `affectlab prepare`")
    sums = info["checksums"]
    for fname, key in (("labels.npz", "labels_sha256"), ("ids.txt", "ids_sha256")):
        if file_sha256(folder / fname) != sums[key]:
            raise AffectlabError(
                f"{folder / fname}: checksum differs from manifest.json; re-run `affectlab prepare`"
            )
    shape, dtype, digest = file_sample_digest(folder / "images.npy")
    expected = (int(info["count"]), size, size, 3)
    if shape != expected or dtype != np.uint8:
        raise AffectlabError(f"{folder / 'images.npy'}: shape {shape} {dtype}, expected {expected} uint8")
    if digest != sums["images_sample_sha256"]:
        raise AffectlabError(
            f"{folder / 'images.npy'}: image checksum differs from manifest.json; re-run prepare"
        )


def open_store(path: str | Path) -> Store:
    """Open and verify a prepared store (manifest present, checksums and shapes as recorded)."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        if is_incomplete_store(root):
            raise AffectlabError(
                f"{root}: incomplete store (no {MANIFEST}): `affectlab prepare` was interrupted or failed; "
                "re-run it into the same folder"
            )
        raise AffectlabError(f"{root}: not a prepared store (no {MANIFEST}); run `affectlab prepare` first")
    manifest = read_manifest(root)
    if manifest is None:
        raise AffectlabError(f'{manifest_path}: not an affectlab store manifest (no "format": "{FORMAT}")')
    if manifest.get("format_version") != FORMAT_VERSION:
        raise AffectlabError(
            f"{manifest_path}: store format v{manifest.get('format_version')}, this affectlab reads "
            f"v{FORMAT_VERSION} (pixel rules v{PIXEL_RULES_VERSION}); rebuild it with `affectlab prepare`"
        )
    for name, info in manifest["splits"].items():
        _verify_split(root, name, info, int(manifest["image_size"]))
    return Store(root, manifest)
