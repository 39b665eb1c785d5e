"""`compare` as a protocol: checks before training, continuing, seeds with mean ± sd, labels, ≈ marks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectlab.errors import AffectlabError
from affectlab.evaluation.compare import ROWS, compare, unique_labels
from affectlab.evaluation.compare_stats import build_rows

RECIPE = """
data:
  batch_size: 32
selection:
  fraction: 0.2
trainer:
  max_epochs: 1
  accelerator: cpu
  progress_bar: none
  log_every_n_steps: 1
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    from affectlab.data.store_writer import prepare
    from affectlab.data.synth import generate

    root = tmp_path_factory.mktemp("cmp_protocol")
    raw = generate(root / "raw", train=128, val=40, size=32, seed=3, workers=1, progress=False)
    prepare(raw, root / "store", 32, workers=1)
    (root / "recipe.yaml").write_text(RECIPE)
    out = root / "cmp"
    compare(
        root / "store",
        archs="resnet18",
        config=root / "recipe.yaml",
        out=out,
        seeds=2,
        n_boot=30,
        timing=False,
        progress=False,
    )
    return {"root": root, "store": root / "store", "config": root / "recipe.yaml", "out": out}


def test_seeds_give_every_run_and_mean_sd(setup) -> None:
    record = json.loads((setup["out"] / "comparison.json").read_text())
    (model,) = record["models"]
    assert model["n_runs"] == 2 and [r["seed"] for r in model["runs"]] == [0, 1]
    accs = [r["values"]["expression_accuracy"] for r in model["runs"]]
    assert model["values"]["expression_accuracy"] == pytest.approx(sum(accs) / 2)
    assert model["sd"]["expression_accuracy"] == pytest.approx(abs(accs[0] - accs[1]) / 2**0.5)
    assert model["initial_weights"].startswith("from scratch") and model["input_size"] == 32
    md = (setup["out"] / "report" / "report.md").read_text()
    assert "| resnet18 | mean ± sd |" in md and "**Seeds:** 2" in md
    assert "selected on selection" in md and "reported on val" in md


def test_a_finished_comparison_is_continued_not_refused(setup) -> None:
    runs = setup["out"] / "runs" / "resnet18"
    before = {p: (p / "model.safetensors").stat().st_mtime for p in runs.iterdir()}
    (runs / "seed-1" / "metrics.json").unlink()  # seed 1 stopped before its end
    (runs / "seed-1" / "model.safetensors").unlink()
    result = CliRunner().invoke(
        __import__("affectlab.cli", fromlist=["app"]).app,
        [
            "compare",
            "--data",
            str(setup["store"]),
            "--archs",
            "resnet18",
            "--config",
            str(setup["config"]),
            "--out",
            str(setup["out"]),
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--bootstrap",
            "20",
            "--no-timing",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (runs / "seed-0" / "model.safetensors").stat().st_mtime == before[runs / "seed-0"]  # reused
    assert (runs / "seed-1" / "metrics.json").is_file()  # resumed and finished
    assert "resnet18" in result.output and "scratch" in result.output


def test_another_recipe_in_the_same_folder_is_refused_before_training(setup) -> None:
    with pytest.raises(AffectlabError, match=r"another recipe \(optim.lr: 0.001 -> 0.01"):
        compare(
            setup["store"],
            archs="resnet18",
            config=setup["config"],
            out=setup["out"],
            seeds=2,
            overrides=["optim.lr=0.01"],
            timing=False,
            progress=False,
        )


def test_names_configs_and_weights_are_checked_before_anything_trains(setup, tmp_path, monkeypatch) -> None:
    import affectlab.models.pretrained as pretrained

    common = {"config": setup["config"], "timing": False, "progress": False}
    with pytest.raises(AffectlabError, match="unknown architecture 'resnet19'"):
        compare(setup["store"], archs="resnet18,resnet19", out=tmp_path / "a", **common)
    with pytest.raises(AffectlabError, match="unknown config key 'optim.lrr'"):
        compare(setup["store"], archs="resnet18", out=tmp_path / "b", overrides=["optim.lrr=1"], **common)

    def offline(arch, enum):
        raise AffectlabError(f"could not fetch ImageNet weights for {arch}")

    monkeypatch.setattr(pretrained, "imagenet_state_dict", offline)
    with pytest.raises(AffectlabError, match="efficientnet_b1: starting weights 'imagenet' unusable"):
        compare(
            setup["store"],
            archs="resnet18,efficientnet_b1",
            out=tmp_path / "c",
            overrides=["per_arch.efficientnet_b1.model.pretrained=imagenet"],
            **common,
        )
    with pytest.raises(AffectlabError, match="no --data serves that size"):
        compare(setup["store"], archs="resnet18", out=tmp_path / "d", overrides=["data.size=48"], **common)
    assert not any((tmp_path / k / "runs").exists() for k in "abcd")


def test_given_runs_are_labelled_and_their_recipes_said(setup, tmp_path) -> None:
    runs = setup["out"] / "runs" / "resnet18"
    path = compare(
        setup["store"],
        runs=[str(runs / "seed-0"), str(runs / "seed-1")],
        out=tmp_path / "r",
        n_boot=20,
        timing=False,
        progress=False,
    )
    record = json.loads(path.read_text())
    assert [m["name"] for m in record["models"]] == ["resnet18 (seed-0)", "resnet18 (seed-1)"]
    md = (tmp_path / "r" / "report" / "report.md").read_text()
    assert "resnet18 (seed-0): " in md and "recipe.yaml" in md and "seed 1" in md
    assert "default settings" not in md


def test_unique_labels() -> None:
    labels = unique_labels(
        [("resnet18", Path("a/resnet18")), ("resnet18", Path("b/resnet18")), ("mnv2", None)]
    )
    assert labels == ["resnet18 (a)", "resnet18 (b)", "mnv2"]
    assert unique_labels([("resnet18", Path("runs/resnet18")), ("resnet18", Path("x/runs/resnet18"))]) != [
        "resnet18",
        "resnet18 (resnet18)",
    ]


def test_equal_at_the_shown_precision_gets_the_mark_without_an_interval() -> None:
    def model(name: str, auc: float, acc: float) -> dict:
        return {"name": name, "values": {"expression_auc_roc": auc, "expression_accuracy": acc}, "ci": {}}

    rows = build_rows([model("a", 0.4991, 0.50), model("b", 0.4989, 0.40)], {}, ROWS)
    auc = next(r for r in rows if r["key"] == "expression_auc_roc")
    acc = next(r for r in rows if r["key"] == "expression_accuracy")
    assert auc["best"] == ["a"] and "b" in auc["indistinguishable_from_best"]  # 0.499 vs 0.499
    assert acc["indistinguishable_from_best"] == {}  # 50.00% vs 40.00%: a real difference
