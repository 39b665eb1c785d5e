"""Tiny benchmark inputs shared by the bench tests: a synthetic raw layout and its prepared store."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.bench.datasets import make_raw, make_store


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_raw(tmp_path_factory.mktemp("bench") / "raw", train=48, val=8, size=32)


@pytest.fixture(scope="session")
def tiny_store(tiny_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tiny_raw, tmp_path_factory.mktemp("bench") / "store", 32)
