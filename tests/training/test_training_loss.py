"""Multi-task loss terms: masking of missing labels, class weights, CCC term."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from affectlab.training.config import LossConfig
from affectlab.training.module import WarmupCosine, compute_losses


def _outputs(n: int = 10, c: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "expression": torch.randn(n, c, generator=g),
        "valence": torch.rand(n, generator=g) * 2 - 1,
        "arousal": torch.rand(n, generator=g) * 2 - 1,
    }


def _batch(n: int = 10, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "expression": torch.randint(0, 8, (n,), generator=g),
        "valence": torch.rand(n, generator=g) * 2 - 1,
        "arousal": torch.rand(n, generator=g) * 2 - 1,
    }


def test_full_labels_match_torch_losses() -> None:
    out, batch = _outputs(), _batch()
    terms = compute_losses(out, batch, LossConfig())
    assert torch.allclose(terms["expression"], F.cross_entropy(out["expression"], batch["expression"]))
    assert torch.allclose(terms["valence"], F.mse_loss(out["valence"], batch["valence"]))
    assert torch.allclose(terms["loss"], terms["expression"] + terms["valence"] + terms["arousal"])


def test_missing_labels_are_masked_per_task() -> None:
    out, batch = _outputs(), _batch()
    batch["expression"][[1, 4]] = -1
    batch["valence"][[0, 2, 3]] = float("nan")
    terms = compute_losses(out, batch, LossConfig(label_smoothing=0.1))
    keep = batch["expression"] >= 0
    ref = F.cross_entropy(out["expression"][keep], batch["expression"][keep], label_smoothing=0.1)
    assert torch.allclose(terms["expression"], ref)
    vk = torch.isfinite(batch["valence"])
    assert torch.allclose(terms["valence"], F.mse_loss(out["valence"][vk], batch["valence"][vk]))
    assert torch.isfinite(terms["loss"])


def test_all_missing_gives_zero_not_nan() -> None:
    out, batch = _outputs(), _batch()
    batch["expression"][:] = -1
    batch["arousal"][:] = float("nan")
    terms = compute_losses(out, batch, LossConfig(ccc_weight=1.0))
    assert terms["expression"] == 0 and terms["arousal"] == 0 and torch.isfinite(terms["loss"])


def test_class_weights_match_weighted_cross_entropy() -> None:
    out, batch = _outputs(), _batch()
    w = torch.linspace(0.5, 2.0, 8)
    terms = compute_losses(out, batch, LossConfig(), class_weights=w)
    assert torch.allclose(
        terms["expression"], F.cross_entropy(out["expression"], batch["expression"], weight=w)
    )


def test_ccc_term_and_task_weights() -> None:
    out, batch = _outputs(), _batch()
    out["valence"] = batch["valence"].clone()
    terms = compute_losses(out, batch, LossConfig(ccc_weight=0.5, arousal_weight=0.0, expression_weight=2.0))
    assert terms["valence"] < 1e-12 and terms["valence_ccc"].abs() < 1e-5  # perfect prediction: CCC = 1
    assert torch.allclose(
        terms["loss"], 2.0 * terms["expression"] + terms["valence"] + 0.5 * terms["valence_ccc"]
    )


def test_warmup_cosine_schedule() -> None:
    f = WarmupCosine(warmup=10, total=110, min_ratio=0.01)
    assert math.isclose(f(0), 0.1) and math.isclose(f(9), 1.0)
    assert math.isclose(f(10), 1.0) and math.isclose(f(110), 0.01) and 0.01 < f(60) < 1.0
