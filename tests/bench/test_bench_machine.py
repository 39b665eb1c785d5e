"""Machine facts beside the bench's figures: how the OS holds a store file in its page cache."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from affectlab.bench import machine
from affectlab.bench.machine import page_cache_folios

_READABLE = os.access("/proc/kpageflags", os.R_OK) and Path("/proc/self/pagemap").exists()


def _share_by_hand(path: Path, pages: np.ndarray) -> float:
    """The same share, read page by page with struct (an independent reading of the two /proc tables).

    Unbuffered: a buffered read of pagemap would keep entries from before the page was mapped.
    """
    large = 0
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        buffer = np.frombuffer(view, np.uint8)
        base = buffer.ctypes.data
        with (
            open("/proc/self/pagemap", "rb", buffering=0) as pm,
            open("/proc/kpageflags", "rb", buffering=0) as kf,
        ):
            for page in pages.tolist():
                _ = int(buffer[page * mmap.PAGESIZE])  # map it
                pm.seek((base // mmap.PAGESIZE + page) * 8)
                (entry,) = struct.unpack("<Q", pm.read(8))
                kf.seek((entry & ((1 << 55) - 1)) * 8)
                (flags,) = struct.unpack("<Q", kf.read(8))
                large += bool(flags & (1 << 15) or flags & (1 << 16))
        del buffer
    return large / len(pages)


def test_page_cache_share_matches_a_reading_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "images.npy"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes())
    got = page_cache_folios(path, samples=64)
    if not _READABLE or os.geteuid() != 0:
        assert got is None  # frame numbers are hidden from unprivileged users: unknown, never a guess
        return
    assert got is not None and got["pages_sampled"] == 64
    pages = np.unique(np.linspace(0, (path.stat().st_size - 1) // mmap.PAGESIZE, 64).astype(np.int64))
    assert got["large_folio_share"] == pytest.approx(_share_by_hand(path, pages), abs=1e-4)


def test_page_cache_unknown_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert page_cache_folios(empty) is None
    small = tmp_path / "small.npy"
    small.write_bytes(b"x" * 10_000)
    monkeypatch.setattr(machine, "_pread_u64", lambda path, positions: None)  # a table that cannot be read
    assert page_cache_folios(small) is None
    monkeypatch.setattr(machine, "_pread_u64", lambda path, positions: np.zeros(len(positions), np.uint64))
    assert page_cache_folios(small) is None  # every page absent, or every frame number hidden
