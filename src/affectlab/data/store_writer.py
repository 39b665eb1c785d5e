"""``prepare``: validate a raw layout, crop every face by affectlab.preprocessing and pack it into a store."""

from __future__ import annotations

import json
import logging
import os
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from affectlab.data.readers import (
    SPLITS,
    LabelPolicy,
    Problems,
    Record,
    layout_taxonomy,
    make_policy,
    read_layout,
)
from affectlab.data.store import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    PENDING,
    REPORT,
    SPLIT_FILES,
    file_sample_digest,
    store_entries,
)
from affectlab.data.validation import (
    ContentIndex,
    CropJob,
    ValidationReport,
    default_workers,
    new_report,
    progress_bar,
    scan,
)
from affectlab.errors import AffectlabError
from affectlab.io import ensure_free_space, ensure_writable, file_sha256
from affectlab.preprocessing.spec import DEFAULT_MARGIN, MAX_MARGIN, MAX_SIZE, MIN_SIZE, PIXEL_RULES_VERSION
from affectlab.workers import refuse_worker_import

logger = logging.getLogger(__name__)


def _npy_header(shape: tuple[int, ...], length: int | None = None) -> bytes:
    """Return a version 1.0 .npy header for a C-order uint8 array, padded to ``length`` bytes."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape!r}, }}".encode("latin1")
    if length is None:
        length = -(-(10 + len(text) + 1) // 64) * 64
    pad = length - 10 - len(text) - 1
    if pad < 0:
        raise AffectlabError(f"internal error: .npy header for shape {shape} does not fit in {length} bytes")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", length - 10) + text + b" " * pad + b"\n"


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (both absolute)."""
    return path == folder or folder in path.parents


def _check_apart(src: Path, out: Path, by_split: dict[str, list[Record]]) -> None:
    """Refuse an output that is the source, lies inside it or contains it (or any of its images)."""
    outs = {Path(os.path.abspath(out)), out.resolve()}
    srcs = {Path(os.path.abspath(src)), src.resolve()}
    for o in outs:
        for s in srcs:
            if _inside(o, s) or _inside(s, o):
                where = (
                    "is the source" if o == s else "is inside the source" if _inside(o, s) else "contains it"
                )
                raise AffectlabError(
                    f"{out}: the store folder {where} ({src}); write the store to a folder outside the "
                    "source dataset (prepare never writes into or around its own source)"
                )
    for records in by_split.values():
        for record in records:
            image = Path(os.path.abspath(record.path))
            if any(_inside(image, o) for o in outs):
                raise AffectlabError(
                    f"{out}: the store folder holds source image {record.path} ({record.origin}); write the "
                    "store to a folder outside the source dataset"
                )


def _claim_output(out: Path, splits: list[str]) -> None:
    """Make ``out`` ready for a (re)build: a new or empty folder, or an affectlab store (its manifest or an
    interrupted prepare's marker lists what affectlab wrote there); anything else there is refused, and only
    the files affectlab wrote are ever removed."""
    if out.exists() and not out.is_dir():
        raise AffectlabError(f"{out}: exists and is not a folder; expected a new or previous store folder")
    out.mkdir(parents=True, exist_ok=True)
    present = sorted(p.name for p in out.iterdir())
    owned = store_entries(out) if present else {}
    if owned is None:
        raise AffectlabError(
            f"{out}: not empty and not an affectlab store (found {', '.join(present[:5])}); "
            "choose a new or empty folder (prepare deletes nothing it did not write)"
        )
    foreign = [name for name in present if name not in owned]
    for name in present:
        if name in owned and owned[name] and (out / name).is_dir():
            foreign += [
                f"{name}/{p.name}" for p in sorted((out / name).iterdir()) if p.name not in owned[name]
            ]
        elif name in owned and owned[name]:
            foreign.append(name)  # a split name that is a file: not something prepare wrote
    if foreign:
        raise AffectlabError(
            f"{out}: is an affectlab store but also holds {', '.join(foreign[:5])}, which affectlab did not "
            "write; move them away or choose a new folder (prepare deletes nothing it did not write)"
        )
    old_splits = [name for name in SPLITS if owned.get(name) and (out / name).is_dir()]
    marker = {"format": FORMAT, "state": "writing", "splits": sorted({*splits, *old_splits})}
    (out / PENDING).write_text(json.dumps(marker) + "\n", encoding="utf-8")
    (out / MANIFEST).unlink(missing_ok=True)  # from here on the store looks incomplete until the end
    for name in old_splits:
        if name not in splits:  # a split the new source lacks: its old files go, nothing else
            for file in SPLIT_FILES:
                (out / name / file).unlink(missing_ok=True)
            (out / name).rmdir()


class _SplitWriter:
    """Streams accepted images of one split into ``images.npy`` and collects their labels."""

    def __init__(self, folder: Path, capacity: int, size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in SPLIT_FILES:  # only the files a previous prepare wrote (checked by _claim_output)
            (folder / name).unlink(missing_ok=True)
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
        if any(r.soft is not None for r in self.records):  # FER+ vote distributions (NaN: none)
            soft = np.full((count, len(next(r.soft for r in self.records if r.soft))), np.nan, np.float32)
            for i, record in enumerate(self.records):
                if record.soft is not None:
                    soft[i] = record.soft
            arrays["expression_soft"] = soft
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
    crop: CropJob,
    workers: int,
    progress: bool,
) -> dict[str, Any]:
    """Decode, crop and write every split; return the manifest's per-split entries."""
    splits: dict[str, Any] = {}
    assert crop.size is not None
    with progress_bar(progress) as bar:
        for split, records in by_split.items():
            writer = _SplitWriter(out_path / split, len(records), crop.size)
            try:
                for record, pixels in scan(
                    records,
                    report,
                    problems,
                    content,
                    crop=crop,
                    workers=workers,
                    progress=bar,
                    description=f"prepare {split}",
                ):
                    assert pixels is not None
                    writer.add(record, pixels)
            finally:
                count = writer.close()
            if records and not count:
                problems.warn(
                    f"{out_path} [{split}]",
                    f"none of the {len(records)} images of the {split} split was usable",
                )
            _, _, images_digest = file_sample_digest(out_path / split / "images.npy")
            splits[split] = {
                "count": count,
                "per_class": report.counts.get(split, {}),
                "with_affect": report.affect_counts.get(split, {}),
                "checksums": {
                    "labels_sha256": file_sha256(out_path / split / "labels.npz"),
                    "ids_sha256": file_sha256(out_path / split / "ids.txt"),
                    "images_sample_sha256": images_digest,
                },
            }
    return splits


def _manifest(
    src: Path, layout: str, crop: CropJob, policy: LabelPolicy, problems: Problems, report: ValidationReport
) -> dict[str, Any]:
    """The manifest's fixed part: source, pixel settings, classes and what was skipped."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pixel_rules": PIXEL_RULES_VERSION,
        "source": {"path": str(src.resolve()), "layout": layout},
        "image_size": crop.size,
        "crop_margin": crop.margin,
        "align": crop.align,
        "num_classes": policy.num_classes,
        "class_names": list(policy.names),
        "taxonomy": layout_taxonomy(layout, policy).to_dict(),
        "label_mode": policy.vote_mode,
        "rejected": {reason: entry.count for reason, entry in sorted(problems.rejected.items())},
        "leakage": report.leakage.count,
    }


def _check_room(out_path: Path, by_split: dict[str, list[Record]], size: int) -> None:
    need = sum(map(len, by_split.values())) * size * size * 3 + (1 << 20)
    owned = store_entries(out_path) if out_path.is_dir() else None
    if owned:  # a previous store there is replaced: its space comes back
        old = [out_path / s / f for s in SPLITS if owned.get(s) for f in SPLIT_FILES]
        need -= sum(f.stat().st_size for f in old if f.is_file())
    ensure_free_space(out_path, need, "store")


def _crop_job(size: int, margin: float, align: bool) -> CropJob:
    """Check the pixel settings (size in pixels, margin as a fraction of the face box) and bundle them."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise AffectlabError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size!r}")
    if not 0.0 <= margin <= MAX_MARGIN:  # also false for NaN
        raise AffectlabError(
            f"--margin must be a fraction of the face box in [0, {MAX_MARGIN:g}], got {margin}"
        )
    return CropJob(size, float(margin), align)


def _read_source(src: Path, policy: LabelPolicy, problems: Problems) -> tuple[str, dict[str, list[Record]]]:
    """Read the raw layout's records; a dataset without one usable sample is an error."""
    layout, by_split = read_layout(src, policy, problems)
    if not any(by_split.values()):
        raise AffectlabError(f"{src}: no usable samples found in this {layout} dataset")
    return layout, by_split


def _write_all(
    out_path: Path,
    by_split: dict[str, list[Record]],
    report: ValidationReport,
    problems: Problems,
    crop: CropJob,
    workers: int,
    progress: bool,
) -> dict[str, Any]:
    """Write every split; a disk that fills up or goes away is an AffectlabError that says what to do."""
    try:
        content = ContentIndex(report, problems)
        return _write_splits(out_path, by_split, report, problems, content, crop, workers, progress)
    except OSError as exc:  # disk full or gone while writing: say so, the store stays incomplete
        raise AffectlabError(
            f"writing the store to {out_path} failed: {exc}; nothing is lost from the source, the store is "
            "incomplete (no manifest.json): free space and re-run `affectlab prepare`"
        ) from exc


def _check_not_empty(src: Path, out: Path, splits: dict[str, Any], problems: Problems) -> None:
    """A store without one image is an error, not a success: say why every item was skipped."""
    if sum(s["count"] for s in splits.values()):
        return
    reasons = ", ".join(f"{k} {v.count}" for k, v in sorted(problems.rejected.items())) or "none counted"
    raise AffectlabError(
        f"{src}: no image could be used, so no store was written to {out} (skipped: {reasons}); "
        f"run `affectlab validate {src}` for the first examples of each reason"
    )


def _write_manifest(out_path: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json last and atomically: from then on the store is complete."""
    tmp = out_path / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_path / MANIFEST)
    (out_path / PENDING).unlink(missing_ok=True)


def prepare(
    src: str | Path,
    out: str | Path,
    size: int,
    *,
    margin: float = DEFAULT_MARGIN,
    align: bool = False,
    strict: bool = False,
    num_classes: int = 8,
    workers: int | None = None,
    progress: bool = True,
    label_map: Any = None,
    label_mode: str = "majority",
) -> Path:
    """Validate, crop, resize and pack a raw dataset into a store at ``out``; return ``out``.

    Every split the layout has is written (AffectNet: train, val; RAF-DB: train, test; FER2013: all three).
    """
    refuse_worker_import("prepare")
    crop = _crop_job(size, margin, align)
    src_path, out_path = Path(src), Path(out)
    if not (out_path.exists() and not out_path.is_dir()):  # a file there: _claim_output names the problem
        ensure_writable(out_path, "store")
    workers = default_workers() if workers is None else workers
    policy, problems = make_policy(num_classes, label_map, label_mode), Problems(strict=strict)
    layout, by_split = _read_source(src_path, policy, problems)
    _check_apart(src_path, out_path, by_split)
    _check_room(out_path, by_split, size)
    _claim_output(out_path, list(by_split))
    report = new_report(src_path, layout, policy, problems, True)
    started = time.perf_counter()
    splits = _write_all(out_path, by_split, report, problems, crop, workers, progress)
    seconds = time.perf_counter() - started
    _check_not_empty(src_path, out_path, splits, problems)
    report.write_json(out_path / REPORT)
    manifest = _manifest(src_path, layout, crop, policy, problems, report)
    manifest["splits"] = splits
    manifest["settings"] = {
        "strict": strict,
        "workers": workers,
        "seconds": round(seconds, 2),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_manifest(out_path, manifest)
    total = sum(s["count"] for s in splits.values())
    logger.info(
        "prepared %d samples in %.1fs (%.0f img/s) into %s",
        total,
        seconds,
        total / max(seconds, 1e-9),
        out_path,
    )
    return out_path
