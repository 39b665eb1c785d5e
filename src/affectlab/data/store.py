"""The prepared store: ``prepare`` packs a raw layout into memory-mapped arrays; ``open_store`` reads it."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from affectlab.data.readers import SPLITS, LabelPolicy, Problems, Record, read_layout
from affectlab.data.validation import (
    ContentIndex,
    ValidationReport,
    default_workers,
    new_report,
    progress_bar,
    scan,
)
from affectlab.errors import AffectlabError
from affectlab.io import ensure_free_space, ensure_writable
from affectlab.preprocess import Preprocess

if TYPE_CHECKING:
    from affectlab.data.splits import StoreSplit

logger = logging.getLogger(__name__)

FORMAT = "affectlab-store"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REPORT = "validation_report.json"
_OWNED = {MANIFEST, MANIFEST + ".tmp", REPORT, REPORT + ".tmp", *SPLITS}
_SAMPLE_IMAGES = 64


def _npy_header(shape: tuple[int, ...], length: int | None = None) -> bytes:
    """Return a version 1.0 .npy header for a C-order uint8 array, padded to ``length`` bytes."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape!r}, }}".encode("latin1")
    if length is None:
        length = -(-(10 + len(text) + 1) // 64) * 64
    pad = length - 10 - len(text) - 1
    if pad < 0:
        raise AffectlabError(f"internal error: .npy header for shape {shape} does not fit in {length} bytes")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", length - 10) + text + b" " * pad + b"\n"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sample_digest(images: np.ndarray) -> str:
    """Hash a fixed sample of images (evenly spaced, at most 64) plus the array shape."""
    digest = hashlib.sha256(repr(images.shape).encode())
    if len(images):
        for index in np.unique(
            np.linspace(0, len(images) - 1, min(len(images), _SAMPLE_IMAGES)).astype(np.int64)
        ):
            digest.update(np.ascontiguousarray(images[index]).tobytes())
    return digest.hexdigest()


def _claim_output(out: Path) -> None:
    """Make ``out`` ready for a (re)build; refuse to clobber a folder that is not an affectlab store."""
    if out.exists() and not out.is_dir():
        raise AffectlabError(f"{out}: exists and is not a folder; expected a new or previous store folder")
    out.mkdir(parents=True, exist_ok=True)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in _OWNED)
    if foreign:
        raise AffectlabError(
            f"{out}: not empty and not an affectlab store (found {', '.join(foreign[:5])}); "
            "choose a new folder"
        )
    (out / MANIFEST).unlink(missing_ok=True)  # from here on the store looks incomplete until the end


class _SplitWriter:
    """Streams accepted images of one split into ``images.npy`` and collects their labels."""

    def __init__(self, folder: Path, capacity: int, size: int) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        self.folder, self.size, self.capacity = folder, size, capacity
        self.header_len = len(_npy_header((capacity, size, size, 3)))
        self._fh: IO[bytes] = (folder / "images.npy").open("wb")
        self._fh.write(_npy_header((capacity, size, size, 3)))
        self.records: list[Record] = []

    def add(self, record: Record, pixels: np.ndarray) -> None:
        """Append one (S, S, 3) uint8 image and its record."""
        self._fh.write(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
        self.records.append(record)

    def close(self) -> int:
        """Fix the header to the real count, write labels and ids; return the number of samples."""
        count = len(self.records)
        self._fh.seek(0)
        self._fh.write(_npy_header((count, self.size, self.size, 3), self.header_len))
        self._fh.truncate(self.header_len + count * self.size * self.size * 3)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        arrays: dict[str, np.ndarray] = {
            "expression": np.array([r.expression for r in self.records], dtype=np.int64),
            "valence": np.array([r.valence for r in self.records], dtype=np.float32),
            "arousal": np.array([r.arousal for r in self.records], dtype=np.float32),
        }
        if any(r.landmarks is not None for r in self.records):
            landmarks = np.full((count, 68, 2), np.nan, dtype=np.float32)
            for i, record in enumerate(self.records):
                if record.landmarks is not None:
                    landmarks[i] = record.landmarks
            arrays["landmarks"] = landmarks
        np.savez(self.folder / "labels.npz", **arrays)  # type: ignore[arg-type]
        ids = "".join(r.source_id.replace("\n", " ") + "\n" for r in self.records)
        (self.folder / "ids.txt").write_text(ids, encoding="utf-8")
        return count


def _write_splits(
    out_path: Path,
    by_split: dict[str, list[Record]],
    report: ValidationReport,
    problems: Problems,
    content: ContentIndex,
    size: int,
    margin: float,
    workers: int,
    progress: bool,
) -> dict[str, Any]:
    """Decode, crop and write every split; return the manifest's per-split entries."""
    splits: dict[str, Any] = {}
    with progress_bar(progress) as bar:
        for split, records in by_split.items():
            writer = _SplitWriter(out_path / split, len(records), size)
            try:
                for record, pixels in scan(
                    records,
                    report,
                    problems,
                    content,
                    size=size,
                    margin=margin,
                    workers=workers,
                    progress=bar,
                    description=f"prepare {split}",
                ):
                    assert pixels is not None
                    writer.add(record, pixels)
            finally:
                count = writer.close()
            images = np.load(out_path / split / "images.npy", mmap_mode="r")
            splits[split] = {
                "count": count,
                "per_class": report.counts.get(split, {}),
                "with_affect": report.affect_counts.get(split, {}),
                "checksums": {
                    "labels_sha256": _sha256_file(out_path / split / "labels.npz"),
                    "ids_sha256": _sha256_file(out_path / split / "ids.txt"),
                    "images_sample_sha256": _sample_digest(images),
                },
            }
            del images
    return splits


def prepare(
    src: str | Path,
    out: str | Path,
    size: int,
    *,
    margin: float = Preprocess().crop_margin,
    strict: bool = False,
    num_classes: int = 8,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Validate, crop, resize and pack a raw dataset into a store at ``out``; return ``out``."""
    if not 8 <= size <= 1024:
        raise AffectlabError(f"--size must be between 8 and 1024 pixels, got {size}")
    if not 0.0 <= margin <= 2.0 or math.isnan(margin):
        raise AffectlabError(f"--margin must be a fraction of the face box in [0, 2], got {margin}")
    src_path, out_path = Path(src), Path(out)
    if not (out_path.exists() and not out_path.is_dir()):  # a file there: _claim_output names the problem
        ensure_writable(out_path, "store")
    workers = default_workers() if workers is None else workers
    policy, problems = LabelPolicy(num_classes), Problems(strict=strict)
    layout, by_split = read_layout(src_path, policy, problems)
    if not any(by_split.values()):
        raise AffectlabError(f"{src_path}: no usable samples found in this {layout} dataset")
    need = sum(map(len, by_split.values())) * size * size * 3 + (1 << 20)
    if out_path.is_dir():  # a previous store there is replaced: its space comes back
        old = [f for s in SPLITS if (out_path / s).is_dir() for f in (out_path / s).iterdir()]
        need -= sum(f.stat().st_size for f in old if f.is_file())
    ensure_free_space(out_path, need, "store")
    _claim_output(out_path)
    report = new_report(src_path, layout, policy, problems, True)
    content = ContentIndex(report, problems)
    started = time.perf_counter()
    try:
        splits = _write_splits(out_path, by_split, report, problems, content, size, margin, workers, progress)
    except OSError as exc:  # disk full or gone while writing: say so, the store stays incomplete
        raise AffectlabError(
            f"writing the store to {out_path} failed: {exc}; nothing is lost from the source, the store is "
            "incomplete (no manifest.json): free space and re-run `affectlab prepare`"
        ) from exc
    seconds = time.perf_counter() - started
    report.write_json(out_path / REPORT)
    total = sum(s["count"] for s in splits.values())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": {"path": str(src_path.resolve()), "layout": layout},
        "image_size": size,
        "crop_margin": margin,
        "num_classes": num_classes,
        "class_names": list(policy.names),
        "splits": splits,
        "rejected": {reason: entry.count for reason, entry in sorted(problems.rejected.items())},
        "leakage": report.leakage.count,
        "settings": {
            "strict": strict,
            "workers": workers,
            "seconds": round(seconds, 2),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    tmp = out_path / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_path / MANIFEST)
    logger.info(
        "prepared %d samples in %.1fs (%.0f img/s) into %s",
        total,
        seconds,
        total / max(seconds, 1e-9),
        out_path,
    )
    return out_path


class Store:
    """A prepared store: its manifest and splits (images stay on disk, memory-mapped on use)."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.layout: str = manifest["source"]["layout"]
        self.image_size: int = int(manifest["image_size"])
        self.num_classes: int = int(manifest["num_classes"])
        self.class_names: tuple[str, ...] = tuple(manifest["class_names"])
        self.crop_margin: float = float(manifest["crop_margin"])
        self.splits: tuple[str, ...] = tuple(manifest["splits"])

    def split(self, name: str) -> StoreSplit:
        """Return one split as a FaceSplit."""
        from affectlab.data.splits import StoreSplit

        if name not in self.splits:
            raise AffectlabError(f"{self.path}: store has no {name!r} split (has: {', '.join(self.splits)})")
        return StoreSplit(self.path / name, self.class_names, self.image_size)

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
        if _sha256_file(folder / fname) != sums[key]:
            raise AffectlabError(
                f"{folder / fname}: checksum differs from manifest.json; re-run `affectlab prepare`"
            )
    try:
        images = np.load(folder / "images.npy", mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise AffectlabError(
            f"{folder / 'images.npy'}: unreadable ({exc}); re-run `affectlab prepare`"
        ) from exc
    expected = (int(info["count"]), size, size, 3)
    if images.shape != expected or images.dtype != np.uint8:
        raise AffectlabError(
            f"{folder / 'images.npy'}: shape {images.shape} {images.dtype}, expected {expected} uint8"
        )
    if _sample_digest(images) != sums["images_sample_sha256"]:
        raise AffectlabError(
            f"{folder / 'images.npy'}: image checksum differs from manifest.json; re-run prepare"
        )


def open_store(path: str | Path) -> Store:
    """Open and verify a prepared store (manifest present, checksums and shapes as recorded)."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        if root.is_dir() and any((root / s).is_dir() for s in SPLITS):
            raise AffectlabError(
                f"{root}: incomplete store (no {MANIFEST}): `affectlab prepare` was interrupted or failed; "
                "re-run it into the same folder"
            )
        raise AffectlabError(f"{root}: not a prepared store (no {MANIFEST}); run `affectlab prepare` first")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AffectlabError(f"{manifest_path}: unreadable JSON ({exc})") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise AffectlabError(
            f"{manifest_path}: format {manifest.get('format')!r} v{manifest.get('format_version')}, "
            f"expected {FORMAT!r} v{FORMAT_VERSION}; re-run `affectlab prepare`"
        )
    for name, info in manifest["splits"].items():
        _verify_split(root, name, info, int(manifest["image_size"]))
    return Store(root, manifest)
