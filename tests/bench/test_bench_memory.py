"""The memory probe and the tiled stores it runs on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectlab.bench.datasets import tile_store
from affectlab.bench.memory import epoch_memory, measure_memory
from affectlab.data import open_split, open_store


def test_tiled_store_is_valid(tiny_store: Path, tmp_path: Path) -> None:
    tiled = tile_store(tiny_store, tmp_path / "tiled", 130)
    store = open_store(tiled)
    split = open_split(tiled, "train")
    base = open_split(tiny_store, "train")
    assert len(split) == 130 and store.image_size == base.image_size
    batch = split.get_batch(np.array([0, len(base), 129]))
    ref = base.get_batch(np.array([0, 0, 129 % len(base)]))
    np.testing.assert_array_equal(batch["image"], ref["image"])
    np.testing.assert_array_equal(batch["expression"], ref["expression"])
    assert len(set(split.ids())) == 130


def test_epoch_memory_in_process(tiny_store: Path) -> None:
    result = epoch_memory(tiny_store, batch_size=16)
    assert result["images"] > 0 and result["peak_rss_mib"] > 0


def test_memory_probe_subprocess_returns_number(tiny_store: Path) -> None:
    result = measure_memory(tiny_store, batch_size=16, timeout=300)
    assert isinstance(result["peak_rss_mib"], float) and result["peak_rss_mib"] > 0
    assert result["samples"] == len(open_split(tiny_store, "train"))
