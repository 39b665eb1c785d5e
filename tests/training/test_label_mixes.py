"""Every layout and label mix trains, evaluates and predicts; a task without labels is left out, and said so.

Before issue 18 a valence/arousal-only dataset crashed in the first training step (torchmetrics' accuracy on
an empty tensor), and an expression-only run added the constant 1 - CCC(empty) = 1 for both missing tasks to
every logged loss and counted them in the run as if they had been trained.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from affectlab.data.synth import generate
from affectlab.training import train
from affectlab.training.config import LossConfig
from affectlab.training.module import compute_losses


def _blank(root: Path, columns: tuple[str, ...], every: int = 1) -> None:
    """Empty the given cells of a manifest layout's train.csv and val.csv (every `every`-th row)."""
    for name in ("train.csv", "val.csv"):
        path = root / name
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        for k, row in enumerate(rows):
            if k % every == 0:
                for column in columns:
                    row[column] = ""
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def _mixed(root: Path) -> None:
    """A mixed manifest: a third without expression, another third without valence/arousal."""
    _blank(root, ("expression",), every=3)
    for name in ("train.csv", "val.csv"):
        path = root / name
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        for k, row in enumerate(rows):
            if k % 3 == 1:
                row["valence"] = row["arousal"] = ""
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


#: (layout written by synth, how its labels are then thinned, the tasks that must be trained)
CASES = {
    "repackaged-full": ("repackaged", None, ["expression", "valence", "arousal"]),
    "official-full": ("official", None, ["expression", "valence", "arousal"]),
    "folders-expression-only": ("folders", None, ["expression"]),
    "manifest-va-only": ("manifest", lambda r: _blank(r, ("expression",)), ["valence", "arousal"]),
    "manifest-mixed": ("manifest", _mixed, ["expression", "valence", "arousal"]),
}


#: The fully labelled layouts train in other tests too (tests/training/test_training_synthetic.py): slow here.
_SLOW = {"repackaged-full", "official-full"}


@pytest.fixture(
    scope="module",
    params=[pytest.param(c, marks=pytest.mark.slow) if c in _SLOW else c for c in sorted(CASES)],
)
def trained(request, tmp_path_factory) -> tuple[str, Path, Path]:
    layout, thin, _ = CASES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    raw = Path(
        generate(root / "raw", train=96, val=40, size=32, layout=layout, seed=1, workers=1, progress=False)
    )
    if thin is not None:
        thin(raw)
    cfg = {
        "out": str(root / "run"),
        "data": {"path": str(raw), "size": 32, "batch_size": 16, "num_workers": 0, "sampling": "balanced"},
        "model": {"arch": "resnet18"},
        "loss": {"ccc_weight": 0.5},
        "selection": {"fraction": 0.25},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "progress_bar": "none", "log_every_n_steps": 1},
    }
    return request.param, raw, train(cfg)


def test_each_layout_and_mix_trains_and_says_what_it_left_out(trained) -> None:
    case, _, run = trained
    tasks = json.loads((run / "run.json").read_text())["tasks"]
    assert tasks["trained"] == CASES[case][2]
    for task in ("expression", "valence", "arousal"):
        assert (task in tasks["left_out"]) == (task not in tasks["trained"])
    metrics = json.loads((run / "metrics.json").read_text())
    for task in ("expression", "valence", "arousal"):
        key = "expression_f1_macro" if task == "expression" else f"{task}_ccc"
        if task in tasks["trained"]:
            assert metrics["metrics"][key] is not None
        else:
            assert metrics["metrics"][key] is None
            assert "not trained" in metrics["metrics"]["undefined"][task]
    trained_keys = {"expression": "expression_f1_macro", "valence": "valence_ccc", "arousal": "arousal_ccc"}
    parts = [metrics["metrics"][trained_keys[t]] for t in tasks["trained"]]
    assert metrics["metrics"]["score"] == pytest.approx(sum(parts) / len(parts))


def test_logged_loss_holds_only_the_trained_tasks(trained) -> None:
    case, _, run = trained
    with (run / "logs" / "metrics.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("val/loss")]
    row = rows[-1]
    trained_tasks = CASES[case][2]
    for task in ("valence", "arousal"):
        assert bool(row.get(f"val/loss_{task}")) == (task in trained_tasks)
    terms = sum(
        float(row[f"val/loss_{t}"]) + (0.5 * float(row[f"val/loss_{t}_ccc"]) if t != "expression" else 0)
        for t in trained_tasks
    )
    assert float(row["val/loss"]) == pytest.approx(terms, rel=1e-4)


def test_each_layout_and_mix_evaluates_and_predicts(trained, tmp_path) -> None:
    from affectlab.evaluation.evaluate import evaluate
    from affectlab.inference import Predictor

    case, raw, run = trained
    result = evaluate(run, raw, "val", out=tmp_path / "eval", n_boot=20, progress=False)
    assert result.metrics["score"] is not None
    if "expression" not in CASES[case][2]:
        assert result.metrics["expression_accuracy"] is None
    from affectlab.data import open_split

    image = open_split(raw, "val", 32).records[0].path  # type: ignore[attr-defined]
    predictor = Predictor.load(run)
    faces = predictor.predict_image(str(image), detect=False)
    assert len(faces) == 1 and faces[0].expression in predictor.class_names


def test_a_batch_without_a_task_adds_exactly_nothing() -> None:
    g = torch.Generator().manual_seed(0)
    out = {"expression": torch.randn(6, 8, generator=g), "valence": torch.rand(6), "arousal": torch.rand(6)}
    batch = {
        "expression": torch.tensor([0, 1, 2, 3, 4, 5]),
        "valence": torch.full((6,), float("nan")),
        "arousal": torch.full((6,), float("nan")),
    }
    terms = compute_losses(out, batch, LossConfig(ccc_weight=0.5))
    expected = F.cross_entropy(out["expression"], batch["expression"])
    assert torch.allclose(terms["loss"], expected)  # before: + 0.5 * (1 - 0) for each empty task
    assert float(terms["valence_ccc"]) == 0.0
    only = compute_losses(out, batch, LossConfig(ccc_weight=0.5), tasks=["expression"])
    assert set(only) == {"expression", "loss"}


def test_balanced_sampling_keeps_unlabelled_samples_at_their_share() -> None:
    from affectlab.training.datamodule import balanced_with_unlabelled

    expressions = np.array([0] * 60 + [1] * 10 + [-1] * 30)
    w = balanced_with_unlabelled(expressions, 8)
    assert w.sum() == pytest.approx(1.0)
    assert w[expressions == -1].sum() == pytest.approx(0.3)
    assert w[expressions == 0].sum() == pytest.approx(w[expressions == 1].sum()) == pytest.approx(0.35)
