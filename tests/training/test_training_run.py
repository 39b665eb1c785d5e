"""End-to-end `train()` runs on in-memory splits: run folder, overfit, resume, NaN guard, seeds, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from affectlab.errors import AffectlabError
from affectlab.training import TrainingInterrupted, train
from affectlab.training.module import AffectModule
from helpers.doubles import nan_loss_at


def _run(make_config, split_factory, tiny_model, out: Path, overrides=None, n_train=64, n_val=32, **cfg):
    config = make_config(out, **cfg)
    torch.manual_seed(0)  # the test builds the model before train() seeds: seed its initialisation here
    return train(
        config,
        overrides,
        train_split=split_factory(n_train, 32, 0),
        val_split=split_factory(n_val, 32, 1),
        model=tiny_model(),
    )


def _record(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def _metrics(out: Path) -> dict:
    """The metrics of a run's metrics.json with its training facts beside them."""
    record = _record(out)
    return {**record["training"], **record["metrics"]}


def test_run_folder_layout(tmp_path, make_config, split_factory, tiny_model) -> None:
    out = _run(make_config, split_factory, tiny_model, tmp_path / "run")
    for name in (
        "config.yaml",
        "run.json",
        "metrics.json",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
        "logs/metrics.csv",
    ):
        assert (out / name).is_file(), name
    assert any((out / "logs" / "tensorboard").iterdir())
    header = (out / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    for key in (
        "train/loss_step",
        "train/loss_expression",
        "val/expression_accuracy",
        "val/expression_f1_macro",
        "val/valence_ccc",
        "val/arousal_ccc",
        "val/valence_rmse",
        "val/arousal_corr",
        "val/score",
    ):
        assert key in header, key
    m = _metrics(out)
    assert m["monitor"] == "val/score" and m["epochs_trained"] == 2 and m["global_step"] == 8
    assert len(m["expression_confusion_matrix"]) == 8
    assert set(m["expression_per_class"]) == set(_record(out)["model"]["class_names"])
    assert (
        m["score"] is not None and "valence_pearson" not in m and "confusion" not in m
    )  # one key per metric
    for key in ("expression_accuracy", "expression_f1_macro", "valence_ccc", "arousal_rmse", "score"):
        assert key in m
    run = json.loads((out / "run.json").read_text())
    assert run["arch"] == "resnet18" and run["class_names"][0] == "neutral" and run["image_size"] == 32


def test_tiny_batch_overfits(tmp_path, make_config, split_factory, tiny_model) -> None:
    split = split_factory(16, 32, 0, noise=40.0)
    config = make_config(
        tmp_path / "of",
        data={"batch_size": 16},
        optim={"name": "adam", "lr": 1e-2},
        trainer={"max_epochs": 150, "accelerator": "cpu", "progress_bar": "none", "log_every_n_steps": 50},
    )
    out = train(config, train_split=split, val_split=split, model=tiny_model())
    m = _metrics(out)
    assert m["expression_accuracy"] == 1.0
    assert m["valence_rmse"] < 0.1 and m["arousal_rmse"] < 0.1


def test_resume_continues_epochs_and_optimizer(tmp_path, make_config, split_factory, tiny_model) -> None:
    out = tmp_path / "r"
    _run(make_config, split_factory, tiny_model, out, ["trainer.max_epochs=1"])
    first = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert first["epoch"] == 0 and first["global_step"] == 4
    with pytest.raises(AffectlabError, match="already holds a run"):
        _run(make_config, split_factory, tiny_model, out, ["trainer.max_epochs=2"])
    _run(make_config, split_factory, tiny_model, out, ["trainer.max_epochs=3", "resume=true"])
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 2 and last["global_step"] == 12
    steps = [s["step"] for s in last["optimizer_states"][0]["state"].values()]
    assert all(int(s) == 12 for s in steps)  # Adam's moments continued rather than restarted
    assert "RngState" in "".join(last["callbacks"])
    assert (out / "logs" / "metrics.1.csv").is_file()
    assert _metrics(out)["epochs_trained"] == 3


def test_resume_refuses_other_arch_or_data(tmp_path, make_config, split_factory, tiny_model) -> None:
    out = tmp_path / "r"
    _run(make_config, split_factory, tiny_model, out, ["trainer.max_epochs=1"])
    with pytest.raises(AffectlabError, match="arch"):
        _run(make_config, split_factory, tiny_model, out, ["resume=true", "model.arch=mobilenet_v2"])
    with pytest.raises(AffectlabError, match="dataset"):
        _run(make_config, split_factory, tiny_model, out, ["resume=true"], n_train=48)
    with pytest.raises(AffectlabError, match="not found"):
        _run(make_config, split_factory, tiny_model, tmp_path / "none", ["resume=true"])


def test_nan_loss_stops_with_step_and_checkpoint(
    tmp_path, monkeypatch, make_config, split_factory, tiny_model
) -> None:
    nan_loss_at(monkeypatch, 5)
    out = tmp_path / "nan"
    with pytest.raises(
        AffectlabError, match=r"global step 5 \(epoch 1, batch 1\).*last good checkpoint: .*last\.ckpt"
    ):
        _run(make_config, split_factory, tiny_model, out)
    assert not (out / "metrics.json").exists()


def test_nan_loss_skip_policy_counts(tmp_path, monkeypatch, make_config, split_factory, tiny_model) -> None:
    nan_loss_at(monkeypatch, 2)
    out = _run(make_config, split_factory, tiny_model, tmp_path / "skip", ["nan_policy=skip"])
    m = _metrics(out)
    assert m["skipped_steps"] == 1 and m["global_step"] == 8  # Lightning counts the skipped step


def test_seed_reproducible_with_augmentation_and_balancing(
    tmp_path, make_config, split_factory, tiny_model
) -> None:
    extra = [
        "augment.enabled=true",
        "augment.brightness=0.2",
        "augment.erasing=0.5",
        "data.sampling=balanced",
        "loss.ccc_weight=0.5",
        "scheduler.name=cosine",
        "scheduler.warmup_epochs=0.5",
        "optim.name=adamw",
    ]
    a = _metrics(_run(make_config, split_factory, tiny_model, tmp_path / "a", extra))
    b = _metrics(_run(make_config, split_factory, tiny_model, tmp_path / "b", extra))
    c = _metrics(_run(make_config, split_factory, tiny_model, tmp_path / "c", extra + ["seed=1"]))
    keys = ("expression_accuracy", "valence_ccc", "arousal_rmse", "score", "best_score")
    assert [a[k] for k in keys] == [b[k] for k in keys]
    assert a["valence_ccc"] != c["valence_ccc"]


def test_device_resident_path_matches_loader_path(tmp_path, make_config, split_factory, tiny_model) -> None:
    extra = ["augment.enabled=true", "augment.crop_scale=[0.7, 1.0]"]
    a = _metrics(_run(make_config, split_factory, tiny_model, tmp_path / "a", extra))
    b = _metrics(
        _run(make_config, split_factory, tiny_model, tmp_path / "b", extra + ["data.gpu_resident=true"])
    )
    assert a["score"] == b["score"] and a["valence_rmse"] == b["valence_rmse"]


def test_sigterm_saves_checkpoint_and_resume_finishes(
    tmp_path, monkeypatch, make_config, split_factory, tiny_model
) -> None:
    def kill_at_step_6(self, outputs, batch, batch_idx):
        if self.trainer.global_step == 6:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(AffectModule, "on_train_batch_end", kill_at_step_6, raising=False)
    out = tmp_path / "term"
    with pytest.raises(TrainingInterrupted, match=r"SIGTERM.*checkpoint saved.*affectlab train --resume"):
        _run(make_config, split_factory, tiny_model, out, ["trainer.max_epochs=3"])
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 6
    monkeypatch.undo()
    _run(make_config, split_factory, tiny_model, out, ["trainer.max_epochs=3", "resume=true"])
    assert _metrics(out)["epochs_trained"] == 3
