"""Fixtures for the training tests: a fast CPU config and the shared doubles (tests/helpers/doubles.py)."""

from __future__ import annotations

import pytest

from helpers.doubles import ArraySplit, TinyNet


def base_config(out, **extra) -> dict:
    """A fast CPU config: no progress bar, tiny batches, float32."""
    cfg = {
        "out": str(out),
        "seed": 0,
        "data": {"batch_size": 16},
        "model": {"arch": "resnet18"},
        "trainer": {
            "max_epochs": 2,
            "accelerator": "cpu",
            "devices": 1,
            "progress_bar": "none",
            "log_every_n_steps": 1,
        },
    }
    for key, value in extra.items():
        section, _, name = key.partition("__")
        if name:
            cfg.setdefault(section, {})[name] = value
        else:
            cfg[section] = value
    return cfg


@pytest.fixture
def make_config():
    return base_config


@pytest.fixture
def split_factory():
    return ArraySplit


@pytest.fixture
def tiny_model():
    return TinyNet
