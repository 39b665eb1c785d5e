"""Earlier ways affectlab read a batch from a store's images.npy, kept as references for `affectlab bench`.

- `PerImageReader`: one ``os.preadv`` per image in a Python loop (the read path before issue 17).
- `GatherReader`: one sorted fancy-index gather from a ``np.load(mmap_mode="r")`` memory map (before that);
  fast, but every page it touches stays mapped, so the process's RSS grows with the store.
- `BoundedMapReader`: the same gather, with the map's pages dropped (``MADV_DONTNEED``) whenever the
  process's file-backed RSS has grown by `budget_mib`: issue 17's "memory map with bounded residency",
  measured and not adopted (see benchmarks/RESULTS.md).

The library's own path is `affectlab.data.splits.StoreSplit` (one read per run of consecutive samples).
`ThroughGetBatch` puts any of these behind the library's own ``get_batch`` (index checks, label lookups), so
that the bench compares the image reads alone, like for like.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from affectlab.data.splits import FaceSplit, npy_header


def _layout(path: Path) -> tuple[int, int, tuple[int, ...]]:
    offset, shape, _, _ = npy_header(path)
    return offset, int(np.prod(shape[1:])), shape


class PerImageReader:
    """One positioned read per image, in file order, straight into the batch."""

    def __init__(self, store: str | Path, split: str = "train") -> None:
        path = Path(store) / split / "images.npy"
        self.offset, self.item, self.shape = _layout(path)
        self.fd = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Images (B, S, S, 3) for `indices`, in order."""
        out = np.empty((len(indices), *self.shape[1:]), dtype=np.uint8)
        flat = out.reshape(len(indices), -1)
        for k in np.argsort(indices, kind="stable"):
            os.preadv(self.fd, [flat[k]], self.offset + int(indices[k]) * self.item)
        return out

    def close(self) -> None:
        """Close the file."""
        os.close(self.fd)


class GatherReader:
    """One fancy-index gather from a read-only memory map."""

    def __init__(self, store: str | Path, split: str = "train") -> None:
        self.images = np.load(Path(store) / split / "images.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Images (B, S, S, 3) for `indices`, in order."""
        return np.asarray(self.images[indices])

    def close(self) -> None:
        """Drop the memory map."""
        del self.images


class BoundedMapReader:
    """A gather from a read-only map whose pages are dropped whenever the process maps `budget_mib` more.

    What the map holds is read from /proc/self/statm (resident shared pages: the file-backed RSS) after each
    batch, about 1 us: how much one fault maps depends on how the OS caches the file (16 pages around the
    faulting one when it holds single pages, a whole folio of up to 2 MiB when it holds large ones), so an
    estimate from the batch alone is not a bound.
    """

    def __init__(self, store: str | Path, split: str = "train", budget_mib: int = 64) -> None:
        path = Path(store) / split / "images.npy"
        offset, self.item, shape = _layout(path)
        with open(path, "rb") as fh:
            self.map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        count = shape[0] * self.item
        self.images = np.frombuffer(self.map, np.uint8, count, offset).reshape(shape)
        self.statm = os.open("/proc/self/statm", os.O_RDONLY)
        self.budget = (budget_mib << 20) // mmap.PAGESIZE
        self.base, self.drops = self._shared_pages(), 0

    def _shared_pages(self) -> int:
        return int(os.pread(self.statm, 128, 0).split()[2])

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Images (B, S, S, 3) for `indices`, in order."""
        out = np.take(self.images, indices, axis=0)
        if self._shared_pages() - self.base >= self.budget:
            self.map.madvise(mmap.MADV_DONTNEED)  # the page cache keeps the data; RSS drops
            self.drops += 1
        return out

    def close(self) -> None:
        """Drop the map."""
        del self.images
        self.map.close()
        os.close(self.statm)


class ThroughGetBatch(FaceSplit):
    """A reference reader behind `FaceSplit.get_batch`: the same checks and labels as the library's split."""

    def __init__(self, split: FaceSplit, reader: PerImageReader | GatherReader | BoundedMapReader) -> None:
        self.split, self.reader = split, reader
        self.class_names, self.image_size = split.class_names, split.image_size
        self.crop_margin, self.align = split.crop_margin, split.align

    def __len__(self) -> int:
        return len(self.split)

    def labels(self) -> dict[str, np.ndarray]:
        """The wrapped split's labels."""
        return self.split.labels()

    def _images(self, indices: np.ndarray) -> np.ndarray:
        return self.reader.read(indices)

    def close(self) -> None:
        """Close the reader."""
        self.reader.close()
