"""Benchmark inputs made from the embedded synthetic dataset: raw layouts, prepared stores, tiled stores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

#: AffectNet's manually annotated training set size: the memory benchmark's "large" store.
AFFECTNET_TRAIN = 287_651
_MIN_SYNTH_SIZE = 32


def make_raw(out: Path, *, train: int, val: int = 16, size: int, seed: int = 0) -> Path:
    """Generate (or reuse) a repackaged-layout synthetic dataset of `train` images at `size` px."""
    meta = out / "synth.json"
    if meta.is_file():
        info = json.loads(meta.read_text(encoding="utf-8"))
        if (
            info.get("image_size") == max(size, _MIN_SYNTH_SIZE)
            and info["splits"]["train"]["images"] == train
            and info.get("seed") == seed
        ):
            return out
    # In a fresh interpreter: the generator forks its workers, and forking a process whose torch or
    # ONNX Runtime thread pools are running can deadlock the children.
    options = dict(
        out=str(out),
        train=train,
        val=val,
        size=max(size, _MIN_SYNTH_SIZE),
        layout="repackaged",
        seed=seed,
        progress=False,
        overwrite=True,
        workers=min(os.cpu_count() or 1, 8),
    )
    code = "import json, sys; from affectlab.data.synth import generate; generate(**json.loads(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(options)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AffectlabError(f"synthetic dataset generation failed: {proc.stderr.strip()[-2000:]}")
    return out


def make_store(raw: Path, out: Path, size: int) -> Path:
    """Prepare (or reuse) a store of `raw` at `size` px."""
    from affectlab.data.store import MANIFEST
    from affectlab.data.store_writer import prepare

    manifest = out / MANIFEST
    if manifest.is_file():
        info = json.loads(manifest.read_text(encoding="utf-8"))
        if info.get("image_size") == size and info["source"]["path"] == str(raw.resolve()):
            return out
    if out.exists():
        shutil.rmtree(out)
    return prepare(raw, out, size, progress=False, workers=min(os.cpu_count() or 1, 8))


def tile_store(src: Path, out: Path, count: int, split: str = "train", chunk: int = 8192) -> Path:
    """Write a valid store whose `split` holds `count` samples: the source split's samples repeated."""
    from affectlab.data.store import MANIFEST, file_sample_digest, open_store
    from affectlab.io import file_sha256

    store = open_store(src)
    if split not in store.splits:
        raise AffectlabError(f"{src}: no {split!r} split to tile")
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        info = json.loads(manifest_path.read_text(encoding="utf-8"))
        if info["splits"][split]["count"] == count and info["image_size"] == store.image_size:
            return out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    for name in store.splits:
        if name != split:
            shutil.copytree(src / name, out / name)
    folder = out / split
    folder.mkdir()
    base = np.load(src / split / "images.npy", mmap_mode="r")
    n = len(base)
    size = store.image_size
    images = np.lib.format.open_memmap(
        folder / "images.npy", mode="w+", dtype=np.uint8, shape=(count, size, size, 3)
    )
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        images[start:stop] = base[np.arange(start, stop) % n]
    images.flush()
    del images
    _, _, digest = file_sample_digest(folder / "images.npy")
    order = np.arange(count) % n
    with np.load(src / split / "labels.npz") as labels:
        np.savez(folder / "labels.npz", **{k: labels[k][order] for k in labels.files})  # type: ignore[arg-type]
    ids = (src / split / "ids.txt").read_text(encoding="utf-8").splitlines()
    (folder / "ids.txt").write_text(
        "".join(f"{ids[i % n]}~{i // n}\n" for i in range(count)), encoding="utf-8"
    )
    shutil.copy(src / "validation_report.json", out / "validation_report.json")
    entry = manifest["splits"][split]
    entry["count"] = count
    entry["checksums"] = {
        "labels_sha256": file_sha256(folder / "labels.npz"),
        "ids_sha256": file_sha256(folder / "ids.txt"),
        "images_sample_sha256": digest,
    }
    manifest["settings"]["tiled_from"] = {"path": str(src.resolve()), "count": n}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, manifest_path)
    return out


class TiledSplit:
    """A FaceSplit that repeats another one up to `count` samples (sample i is the base's i mod n).

    The GPU check uses it to train on AffectNet's size without writing a 43 GB store to disk; every
    `affectlab.data.FaceSplit` attribute that training reads is the base split's.
    """

    def __init__(self, base: Any, count: int) -> None:
        if count < 1 or len(base) < 1:
            raise AffectlabError(f"cannot tile {len(base)} samples to {count}")
        self.base, self.count = base, count
        self.class_names = base.class_names
        self.image_size = base.image_size
        self.crop_margin = getattr(base, "crop_margin", None)
        self.align = getattr(base, "align", None)
        order = np.arange(count) % len(base)
        self._labels = {k: v[order] for k, v in base.labels().items()}

    def __len__(self) -> int:
        return self.count

    def labels(self) -> dict[str, np.ndarray]:
        """Labels of every tiled sample."""
        return self._labels

    def preprocess(self, mean: Any, std: Any) -> Any:
        """The base split's Preprocess (see `affectlab.data.FaceSplit.preprocess`)."""
        return self.base.preprocess(mean, std)

    def get_batch(self, indices: Any) -> dict[str, np.ndarray]:
        """The base split's samples `indices mod n`, with `index` the tiled indices."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.count):
            raise AffectlabError(f"index out of range for a tiled split of {self.count} samples")
        batch = self.base.get_batch(idx % len(self.base))
        batch["index"] = idx
        return batch
