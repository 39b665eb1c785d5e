"""TiledSplit: a split repeated to a larger size without writing it to disk (the GPU check's data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlab.bench.datasets import TiledSplit
from affectlab.data import open_split
from affectlab.errors import AffectlabError


def test_tiled_split_repeats_the_base(tiny_store: Path) -> None:
    base = open_split(tiny_store, "train")
    n = len(base)
    tiled = TiledSplit(base, 3 * n + 5)
    assert len(tiled) == 3 * n + 5 and tiled.image_size == base.image_size
    idx = np.array([0, n, 2 * n + 7, 3 * n + 4])
    batch = tiled.get_batch(idx)
    ref = base.get_batch(idx % n)
    np.testing.assert_array_equal(batch["image"], ref["image"])
    np.testing.assert_array_equal(batch["index"], idx)
    np.testing.assert_array_equal(tiled.labels()["expression"][idx], ref["expression"])
    assert tiled.preprocess([0.5] * 3, [0.5] * 3) == base.preprocess([0.5] * 3, [0.5] * 3)
    with pytest.raises(AffectlabError, match="out of range"):
        tiled.get_batch(np.array([3 * n + 5]))
