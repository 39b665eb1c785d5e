"""Training on the embedded synthetic dataset via `open_split` (raw layout, prepared store) and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectlab.data.store_writer import prepare
from affectlab.data.synth import generate
from affectlab.training import train


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    raw = generate(root / "raw", train=480, val=160, size=48, seed=0, workers=1, progress=False)
    store = prepare(raw, root / "store", 48, workers=1)
    return {"raw": Path(raw), "store": Path(store) if store else root / "store"}


@pytest.mark.parametrize("source", ["store", "raw"])
def test_run_from_store_and_raw_layout(source, synth, tmp_path, make_config) -> None:
    cfg = make_config(
        tmp_path / source,
        data={"path": str(synth[source]), "size": 48, "batch_size": 32, "sampling": "balanced"},
        augment={"enabled": True, "brightness": 0.2, "erasing": 0.25},
        trainer={
            "max_epochs": 1,
            "accelerator": "cpu",
            "progress_bar": "none",
            "limit_train_batches": 4,
            "log_every_n_steps": 2,
        },
    )
    out = train(cfg)
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["num_samples"] == 160 and m["training"]["global_step"] == 4
    for key in (
        "expression_accuracy",
        "expression_cohen_kappa",
        "valence_ccc",
        "arousal_sagr",
        "expression_per_class",
    ):
        assert key in m["metrics"], key
    run = json.loads((out / "run.json").read_text())
    assert run["dataset"]["source"] == ("store" if source == "store" else "layout")
    if source == "store":
        assert len(run["dataset"]["manifest_sha256"]) == 64
    assert (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_short_run_beats_chance_with_positive_ccc(synth, tmp_path, make_config) -> None:
    cfg = make_config(
        tmp_path / "r18",
        data={"path": str(synth["store"]), "batch_size": 32, "sampling": "balanced"},
        optim={"name": "adamw", "lr": 2e-3},
        scheduler={"name": "cosine", "warmup_epochs": 0.3},
        trainer={"max_epochs": 6, "accelerator": "cpu", "progress_bar": "none", "log_every_n_steps": 5},
    )
    m = json.loads((train(cfg) / "metrics.json").read_text())["metrics"]
    keys = ("expression_accuracy", "expression_f1_macro", "valence_ccc", "arousal_ccc")
    print({k: round(m[k], 3) for k in keys})
    assert m["expression_accuracy"] > 0.25  # twice chance (1/8 on the class-balanced val split)
    assert m["valence_ccc"] > 0.1 and m["arousal_ccc"] > 0.1


def test_cli_train_with_overrides(synth, tmp_path) -> None:
    from affectlab.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"),
            "--data",
            str(synth["store"]),
            "--arch",
            "mobilenet_v2",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--size",
            "48",
            "--accelerator",
            "cpu",
            "--seed",
            "3",
            "--set",
            "optim.lr=3e-4",
            "--set",
            "trainer.limit_train_batches=3",
            "--set",
            "trainer.progress_bar=none",
        ],
    )
    assert result.exit_code == 0, result.output
    text = (out / "config.yaml").read_text()
    assert "lr: 0.0003" in text and "arch: mobilenet_v2" in text and "seed: 3" in text


def test_cli_bad_key_is_a_clean_error(tmp_path) -> None:
    from affectlab.cli import app

    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "x"), "--set", "optim.lrr=1"])
    assert result.exit_code != 0
    assert "optim.lrr" in str(result.exception) or "optim.lrr" in result.output


@pytest.mark.parametrize("source", ["store", "raw"])
def test_the_model_records_how_its_faces_were_cut(source, tmp_path, make_config) -> None:
    """prepare --margin 0.3 --align (or the raw layout's data.margin/align) -> model.safetensors says so."""
    from affectlab.models import open_model

    raw = generate(tmp_path / "raw", train=32, val=16, size=64, layout="official", workers=1, progress=False)
    if source == "store":
        data = {"path": str(prepare(raw, tmp_path / "store", 32, margin=0.3, align=True, workers=1))}
    else:
        data = {"path": str(raw), "size": 32, "margin": 0.3, "align": True}
    cfg = make_config(
        tmp_path / "run",
        data={**data, "batch_size": 16, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.3, 0.4]},
        model={"arch": "resnet18"},
        trainer={"max_epochs": 1, "accelerator": "cpu", "progress_bar": "none", "limit_train_batches": 1},
    )
    out = train(cfg)
    pre = open_model(out).info.preprocess
    assert (pre.size, pre.crop_margin, pre.align) == (32, 0.3, True)
    assert pre.mean == (0.5, 0.4, 0.3) and pre.std == (0.2, 0.3, 0.4)
    assert json.loads((out / "run.json").read_text())["preprocess"] == pre.to_dict()
    import torch

    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["preprocess"] == pre.to_dict()
