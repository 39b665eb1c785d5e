"""Fixtures for the evaluation tests: the shared doubles (tests/helpers/doubles.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from helpers.doubles import ColourSplit, TinyNet, make_info


@pytest.fixture
def tiny_pair() -> tuple[nn.Module, Any]:
    torch.manual_seed(0)
    return TinyNet(), make_info("tinynet")


@pytest.fixture(scope="session")
def doubles() -> SimpleNamespace:
    """The doubles, for test modules."""
    return SimpleNamespace(ArraySplit=ColourSplit, TinyNet=TinyNet, make_info=make_info)
