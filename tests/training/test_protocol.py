"""The training protocol: the selection split in a run, last-epoch export, the seed recipe in detail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from affectlab.training import train
from affectlab.training.config import load_config
from affectlab.training.module import AffectModule, compute_losses

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from affectlab.data.store_writer import prepare
    from affectlab.data.synth import generate

    root = tmp_path_factory.mktemp("protocol")
    raw = generate(root / "raw", train=160, val=48, size=32, seed=2, workers=1, progress=False)
    prepare(raw, root / "store", 32, workers=1)
    return root / "store"


def _cfg(out: Path, store: Path, **extra) -> dict:
    cfg = {
        "out": str(out),
        "data": {"path": str(store), "batch_size": 32},
        "model": {"arch": "resnet18"},
        "selection": {"fraction": 0.2},
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "progress_bar": "none", "log_every_n_steps": 1},
    }
    cfg.update(extra)
    return cfg


def test_holdout_selects_and_val_reports(store: Path, tmp_path: Path) -> None:
    from affectlab.evaluation.evaluate import evaluate

    run = train(_cfg(tmp_path / "run", store))
    selection = json.loads((run / "selection.json").read_text())
    train_ids = (store / "train" / "ids.txt").read_text().splitlines()
    assert selection["num_samples"] == len(selection["ids"]) == pytest.approx(32, abs=3)
    assert set(selection["ids"]) <= set(train_ids)
    info = json.loads((run / "run.json").read_text())
    n_sel = selection["num_samples"]
    assert info["dataset"]["sizes"] == {"train": 160 - n_sel, "val": 48, "selection": n_sel}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["split"] == "val" and metrics["protocol"]["selection_split"] == "selection"
    assert metrics["protocol"]["warnings"] == []
    # the selection split, addressed by name, reproduces the score that chose the checkpoint
    again = evaluate(run, store, "selection", out=tmp_path / "sel", n_boot=0, progress=False)
    assert again.metrics["score"] == pytest.approx(metrics["training"]["best_score"], abs=1e-5)
    assert again.protocol["selected_on_reported"] is True
    assert (
        "Warning: The exported weights were chosen on this split"
        in (tmp_path / "sel" / "report" / "report.md").read_text()
    )
    # a second run with the same settings holds out the same samples
    run_b = train(
        _cfg(tmp_path / "run_b", store, seed=5, trainer={**_cfg(tmp_path, store)["trainer"], "max_epochs": 1})
    )
    assert json.loads((run_b / "selection.json").read_text())["ids"] == selection["ids"]


def test_selecting_on_the_reported_split_is_explicit_and_said_first(store: Path, tmp_path: Path) -> None:
    from affectlab.evaluation.evaluate import evaluate

    run = train(
        _cfg(
            tmp_path / "run",
            store,
            selection={"split": "reported"},
            trainer={"max_epochs": 1, "accelerator": "cpu", "progress_bar": "none"},
        )
    )
    assert not (run / "selection.json").exists()
    evaluate(run, store, "val", out=tmp_path / "ev", n_boot=0, progress=False)
    md = (tmp_path / "ev" / "report" / "report.md").read_text()
    first = md[: md.index("## Metrics")]
    assert "Selected on:** val (the reported split itself)" in first and "selection bias" in first
    # compare says it too, before anything else, for the run that selected on the split it reports
    from affectlab.evaluation.compare import compare

    held_out = train(_cfg(tmp_path / "held", store, trainer={"max_epochs": 1, "accelerator": "cpu"}))
    comparison = compare(
        str(store),
        runs=[str(run), str(held_out)],
        out=tmp_path / "cmp",
        n_boot=0,
        timing=False,
        progress=False,
    )
    record = json.loads(Path(comparison).read_text())
    by_name = {m["name"]: m["protocol"] for m in record["models"]}
    assert sorted(p["selected_on_reported"] for p in by_name.values()) == [False, True]
    report = (tmp_path / "cmp" / "report" / "report.md").read_text()
    assert report.index("Read this first") < report.index("## Classification")
    assert report.count("Warning: The exported weights were chosen on this split (val)") == 1


def test_last_epoch_export(store: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    run = train(_cfg(tmp_path / "run", store, export="last", selection={"split": "none"}))
    exported = load_file(str(run / "model.safetensors"))
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    for key, value in exported.items():
        assert torch.equal(value, last["state_dict"]["model." + key]), key
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["exported_epoch"] == 2 and metrics["training"]["export"] == "last"
    assert metrics["protocol"]["selected_on"] == "none (last epoch exported)"


def test_calibrate_fits_on_the_runs_own_selection_split(store: Path, tmp_path: Path) -> None:
    """`affectlab calibrate RUN --data STORE --split selection`: the held-out samples of selection.json, no
    others (the path docs/calibration.md recommends), and the reported split stays apart."""
    from affectlab.evaluation.calibrate import calibrate

    run = train(_cfg(tmp_path / "run", store, trainer={"max_epochs": 1, "accelerator": "cpu"}))
    held_out = json.loads((run / "selection.json").read_text())["num_samples"]
    result = calibrate(run, store, "selection", n_boot=0, device="cpu")
    fitted = result.calibration.fitted_on
    assert fitted["split"] == "selection" and fitted["n"] == held_out
    assert fitted["report_split"] == "val" and not fitted["forced"]
    assert result.record["fit"]["n"] == held_out


def test_export_best_needs_a_selection_split() -> None:
    from affectlab.errors import AffectlabError

    with pytest.raises(AffectlabError, match="export=best needs a selection split"):
        load_config({"selection": {"split": "none"}})


def _seed_recipe(arch: str):
    return load_config(CONFIGS / "seed_recipe.yaml", [f"model.arch={arch}"])


@pytest.mark.parametrize(
    ("arch", "epochs", "dropout"),
    [("resnet18", 10, 0.0), ("mobilenet_v2", 10, 0.2), ("efficientnet_b1", 8, 0.2)],
)
def test_seed_recipe_is_the_original_protocol(arch: str, epochs: int, dropout: float, monkeypatch) -> None:
    import affectlab.models.pretrained as pretrained

    cfg = _seed_recipe(arch)
    assert cfg.trainer.max_epochs == epochs and cfg.data.batch_size == 64 and cfg.data.sampling == "uniform"
    assert cfg.export == "last" and cfg.selection.split == "none" and not cfg.augment.enabled
    assert cfg.model.pretrained == ("imagenet" if arch == "efficientnet_b1" else None)
    asked = []

    def fake_imagenet(name, enum):  # offline: torchvision's own architecture, randomly initialised
        asked.append((name, enum))
        from affectlab.models.registry import model_spec

        return {f"{k}": v for k, v in model_spec(name).factory().module.state_dict().items()}

    monkeypatch.setattr(pretrained, "imagenet_state_dict", fake_imagenet)
    module = AffectModule(cfg.to_dict(), [f"c{k}" for k in range(8)])
    model = module.model
    assert asked == ([("efficientnet_b1", "EfficientNet_B1_Weights")] if arch == "efficientnet_b1" else [])
    # heads: linear valence/arousal (no bound), torchvision's dropout where the original kept it
    assert model.va_activation == "linear"
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == pytest.approx(dropout)
    with torch.no_grad():
        model.valence.bias.fill_(5.0)
    model.eval()
    assert float(model(torch.zeros(1, 3, 32, 32))["valence"][0]) > 1.0
    # optimiser and schedule: Adam 1e-3, no weight decay, StepLR(4, 0.1) stepped per epoch
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]
    assert type(opt) is torch.optim.Adam and all(
        g["lr"] == 1e-3 and g["weight_decay"] == 0 for g in opt.param_groups
    )
    assert opt.defaults["betas"] == (0.9, 0.999)
    step = sched["scheduler"]
    assert isinstance(step, torch.optim.lr_scheduler.StepLR) and sched["interval"] == "epoch"
    assert step.step_size == 4 and step.gamma == pytest.approx(0.1)
    # loss: CE + MSE(valence) + MSE(arousal), unweighted, no smoothing, no CCC
    g = torch.Generator().manual_seed(0)
    out = {
        "expression": torch.randn(5, 8, generator=g),
        "valence": torch.randn(5, generator=g),
        "arousal": torch.randn(5, generator=g),
    }
    batch = {"expression": torch.arange(5), "valence": torch.rand(5), "arousal": torch.rand(5)}
    terms = compute_losses(out, batch, cfg.loss, module._class_weights())
    expected = (
        F.cross_entropy(out["expression"], batch["expression"])
        + F.mse_loss(out["valence"], batch["valence"])
        + F.mse_loss(out["arousal"], batch["arousal"])
    )
    assert torch.allclose(terms["loss"], expected) and set(terms) == {
        "expression",
        "valence",
        "arousal",
        "loss",
    }


def test_default_recipe_keeps_the_better_choices() -> None:
    cfg = load_config(CONFIGS / "default.yaml", ["model.arch=mobilenet_v2"])
    assert cfg.model.va_activation == "tanh" and cfg.selection.split == "holdout" and cfg.export == "best"
    assert cfg.optim.name == "adamw" and cfg.model.zero_init_residual


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_weight_decay_leaves_norms_and_biases_out(name: str) -> None:
    cfg = load_config({"optim": {"name": name, "weight_decay": 0.05}, "model": {"arch": "resnet18"}})
    module = AffectModule(cfg.to_dict(), [f"c{k}" for k in range(8)])
    opt = module.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for mod in module.model.modules():
        if isinstance(mod, (nn.BatchNorm2d, nn.Linear, nn.Conv2d)):
            if isinstance(mod, nn.BatchNorm2d):
                assert id(mod.weight) not in decayed and id(mod.bias) not in decayed
            elif mod.bias is not None:
                assert id(mod.bias) not in decayed
            if not isinstance(mod, nn.BatchNorm2d):
                assert id(mod.weight) in decayed


def test_train_seeds_gives_every_run_and_the_spread(store: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from affectlab.cli import app

    args = [
        "train",
        "--data",
        str(store),
        "--arch",
        "resnet18",
        "--out",
        str(tmp_path / "s"),
        "--epochs",
        "1",
    ]
    args += ["--seeds", "2", "--seed", "3", "--batch-size", "32", "--set", "trainer.progress_bar=none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s" / "seeds.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [3, 4]
    acc = summary["metrics"]["expression_accuracy"]
    assert len(acc["runs"]) == 2 and acc["mean"] == pytest.approx(sum(acc["runs"]) / 2)
    assert "expression_accuracy" in result.output and "±" in result.output
