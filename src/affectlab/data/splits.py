"""FaceSplit: one split of a prepared store (positioned reads) or of a raw layout (per-item decoding)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.data.readers import Record
from affectlab.errors import AffectlabError
from affectlab.preprocessing.decode import ImageProblem
from affectlab.preprocessing.faces import load_face
from affectlab.preprocessing.spec import Preprocess

if TYPE_CHECKING:
    from affectlab.taxonomy import Taxonomy


class FaceSplit(ABC):
    """A split of faces with labels; ``get_batch`` returns numpy arrays (see docs/ARCHITECTURE.md)."""

    class_names: tuple[str, ...]
    image_size: int
    #: How the faces were cut (see affectlab.preprocessing.crop): what a model trained on them must record.
    crop_margin: float
    align: bool
    #: The source dataset's taxonomy (None: unknown or AffectNet's): what its labels can be.
    taxonomy: Taxonomy | None = None

    @property
    def dataset_classes(self) -> tuple[str, ...]:
        """The classes this split's dataset can label, in affectlab's order, within ``class_names``."""
        if self.taxonomy is None:
            return tuple(self.class_names)
        return tuple(c for c in self.taxonomy.affectlab_classes if c in self.class_names)

    def preprocess(self, mean: Sequence[float], std: Sequence[float]) -> Preprocess:
        """The Preprocess of a model trained on this split with normalisation (mean, std)."""
        return Preprocess(self.image_size, mean, std, self.crop_margin, self.align)

    @abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    @abstractmethod
    def labels(self) -> dict[str, np.ndarray]:
        """Return all labels (``expression`` int64, ``valence``, ``arousal`` float32) without images; FER+
        splits add ``expression_soft`` (N, C) float32, the vote distribution (NaN rows: none)."""

    @abstractmethod
    def _images(self, indices: np.ndarray) -> np.ndarray:
        """Return images (B, S, S, 3) uint8 for valid, in-range indices, in the given order."""

    def _check_indices(self, indices: Any) -> np.ndarray:
        idx = np.array(indices, dtype=np.int64).reshape(-1)  # a copy: the batch's "index" is its own
        n = len(self)
        if idx.size:
            low, high = int(idx.min()), int(idx.max())
            if low < -n or high >= n:
                raise AffectlabError(f"index out of range for a split of {n} samples: {low}..{high}")
            if low < 0:
                idx[idx < 0] += n
        return idx

    def get_batch(self, indices: Any) -> dict[str, np.ndarray]:
        """Return ``image`` (B, S, S, 3) uint8, ``expression``, ``valence``, ``arousal`` and ``index``."""
        idx = self._check_indices(indices)
        labels = self.labels()
        return {
            "image": self._images(idx),
            "expression": labels["expression"][idx],
            "valence": labels["valence"][idx],
            "arousal": labels["arousal"][idx],
            "index": idx,
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Return one sample (the batch of one, unbatched)."""
        batch = self.get_batch(np.array([index]))
        return {key: value[0] for key, value in batch.items()}


class StoreSplit(FaceSplit):
    """A split of a prepared store; images are memory-mapped (lazily, so it pickles into loader workers)."""

    def __init__(
        self, folder: Path, class_names: tuple[str, ...], image_size: int, crop_margin: float, align: bool
    ) -> None:
        self.folder = folder
        self.class_names = class_names
        self.image_size = image_size
        self.crop_margin = crop_margin
        self.align = align
        with np.load(folder / "labels.npz") as data:
            # Landmarks (544 bytes a sample) stay on disk until asked for: memory stays flat with size.
            self._labels = {key: data[key] for key in data.files if key != "landmarks"}
            self._has_landmarks = "landmarks" in data.files
        self._ids: list[str] | None = None
        self._fd: int | None = None
        header = _npy_layout(folder / "images.npy")
        self._offset, self._item_bytes = header

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fd"] = None
        return state

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._labels["expression"])

    def labels(self) -> dict[str, np.ndarray]:
        """Return expression, valence and arousal for every sample."""
        return self._labels

    def landmarks(self) -> np.ndarray | None:
        """Return landmarks (N, 68, 2), NaN where missing, or None if the source had none."""
        if not self._has_landmarks:
            return None
        with np.load(self.folder / "labels.npz") as data:
            return data["landmarks"]

    def ids(self) -> list[str]:
        """Return the source id of every sample, in order."""
        if self._ids is None:
            self._ids = (self.folder / "ids.txt").read_text(encoding="utf-8").splitlines()
        return self._ids

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.folder / "images.npy", os.O_RDONLY)
        return self._fd

    def _images(self, indices: np.ndarray) -> np.ndarray:
        # Positioned reads straight into the batch, one per run of consecutive samples (a sorted batch of a
        # shuffled epoch is mostly runs of one; evaluation and device-resident loading read whole batches in
        # one call). No memory map: the pages read stay in the OS cache, not in this process's RSS, so
        # memory stays flat at any store size. Duplicates (sampling with replacement) are read once.
        n = len(indices)
        out = np.empty((n, self.image_size, self.image_size, 3), dtype=np.uint8)
        if n == 0:
            return out
        increasing = n == 1 or bool(np.all(indices[1:] > indices[:-1]))
        if increasing:
            unique, inverse, staged = indices, None, out
        else:
            unique, inverse = np.unique(indices, return_inverse=True)
            staged = np.empty((len(unique), *out.shape[1:]), dtype=np.uint8)
        self._read_runs(unique, staged)
        if inverse is not None:
            np.take(staged, inverse.reshape(-1), axis=0, out=out)
        return out

    def _read_runs(self, unique: np.ndarray, into: np.ndarray) -> None:
        """Fill `into` with the samples `unique` (strictly increasing): one read per contiguous run."""
        fd, item = self._file(), self._item_bytes
        view, preadv = into.reshape(-1).data, os.preadv
        adjacent = np.diff(unique) == 1
        if not adjacent.any():
            # A shuffled batch: one read per sample, and this loop is then the read path's whole cost, so it
            # does nothing else (measured at 24 px: a fifth less per batch than the general loop below).
            low = 0
            for offset in (self._offset + unique * item).tolist():
                got = preadv(fd, [view[low : low + item]], offset)
                if got != item:
                    self._finish_run(fd, view[low : low + item], offset, got)
                low += item
            return
        # Byte spans in `into` and file offsets of each run, computed in numpy once.
        starts = np.flatnonzero(np.concatenate(([True], ~adjacent)))
        lows = (starts * item).tolist()
        highs = [*lows[1:], len(unique) * item]
        offsets = (self._offset + unique[starts] * item).tolist()
        for low, high, offset in zip(lows, highs, offsets, strict=True):
            got = preadv(fd, [view[low:high]], offset)
            if got != high - low:
                self._finish_run(fd, view[low:high], offset, got)

    def _finish_run(self, fd: int, run: memoryview, offset: int, got: int) -> None:
        """Complete a read that came back in parts (large runs); name the sample where the file ends."""
        done = got + _read_exact(fd, run[got:], offset + got)
        if done < len(run):
            sample = (offset - self._offset + done) // self._item_bytes
            where = self.folder / "images.npy"
            raise AffectlabError(f"{where}: short read at sample {sample}; re-run prepare")


def _read_exact(fd: int, buffer: memoryview, offset: int) -> int:
    """Read up to len(buffer) bytes at `offset` (a large read may come back in parts); return the count."""
    done, size = 0, len(buffer)
    while done < size:
        got = os.preadv(fd, [buffer[done:]], offset + done)
        if got <= 0:
            break
        done += got
    return done


def npy_header(path: Path) -> tuple[int, tuple[int, ...], np.dtype, bool]:
    """Return (data offset, shape, dtype, Fortran order) of a .npy file (ValueError: not one)."""
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        fmt = np.lib.format
        read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        return fh.tell(), tuple(shape), dtype, bool(fortran)


def _npy_layout(path: Path) -> tuple[int, int]:
    """Return (data offset, bytes per sample) of a C-ordered uint8 .npy file."""
    offset, shape, dtype, fortran = npy_header(path)
    if fortran or dtype != np.uint8 or len(shape) != 4:
        raise AffectlabError(f"{path}: expected a C-ordered uint8 (N, S, S, 3) array, found {dtype} {shape}")
    return offset, int(np.prod(shape[1:]))


class RawSplit(FaceSplit):
    """A split of a raw layout, decoded and resized per item (picklable: run it in loader workers)."""

    def __init__(
        self, records: list[Record], class_names: tuple[str, ...], image_size: int, margin: float, align: bool
    ) -> None:
        self.records = records
        self.class_names = class_names
        self.image_size = image_size
        self.crop_margin = margin
        self.align = align
        self._labels: dict[str, np.ndarray] = {
            "expression": np.array([r.expression for r in records], dtype=np.int64),
            "valence": np.array([r.valence for r in records], dtype=np.float32),
            "arousal": np.array([r.arousal for r in records], dtype=np.float32),
        }
        if any(r.soft is not None for r in records):
            soft = np.full((len(records), len(class_names)), np.nan, dtype=np.float32)
            for i, record in enumerate(records):
                if record.soft is not None:
                    soft[i] = record.soft
            self._labels["expression_soft"] = soft

    def __len__(self) -> int:
        return len(self.records)

    def labels(self) -> dict[str, np.ndarray]:
        """Return all labels."""
        return self._labels

    def ids(self) -> list[str]:
        """Return the source id of every sample, in order."""
        return [r.source_id for r in self.records]

    def _images(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), self.image_size, self.image_size, 3), dtype=np.uint8)
        for slot, index in enumerate(indices):
            record = self.records[int(index)]
            try:
                pixels, _, _ = load_face(
                    record.image,
                    record.box,
                    self.image_size,
                    self.crop_margin,
                    landmarks=record.landmarks,
                    align=self.align,
                )
            except ImageProblem as exc:
                raise AffectlabError(
                    f"{record.origin}: {exc.detail} [{exc.reason}]; "
                    "run `affectlab validate` or `affectlab prepare`"
                ) from exc
            assert pixels is not None
            out[slot] = pixels
        return out
