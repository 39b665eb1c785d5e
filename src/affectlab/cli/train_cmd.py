"""`affectlab train`: a thin layer over `affectlab.training.train`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from affectlab.cli.train_options import CompileOpt, ResidentOpt, ThreadsOpt
from affectlab.errors import AffectlabError

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML recipe, e.g. configs/default.yaml")
]
DataOpt = Annotated[str | None, typer.Option("--data", help="prepared store or raw dataset layout")]
ArchOpt = Annotated[str | None, typer.Option("--arch", help="resnet18, mobilenet_v2, efficientnet_b1")]
OutOpt = Annotated[str | None, typer.Option("--out", help="run folder")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="trainer.max_epochs")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="data.batch_size")]
SizeOpt = Annotated[int | None, typer.Option("--size", help="data.size (image side in pixels)")]
PretrainedOpt = Annotated[str | None, typer.Option("--pretrained", help="imagenet or a weights file")]
AcceleratorOpt = Annotated[str | None, typer.Option("--accelerator", help="auto, cpu, gpu")]
DevicesOpt = Annotated[str | None, typer.Option("--devices", help="number of devices, or auto")]
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="auto, ddp, ...")]
PrecisionOpt = Annotated[str | None, typer.Option("--precision", help="auto, 32-true, bf16-mixed, ...")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="random seed")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="continue the run in --out from last.ckpt")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="any config value: --set optim.lr=3e-4 (repeatable)"),
]
SeedsOpt = Annotated[
    int, typer.Option("--seeds", help="train N times with seeds seed, seed+1, ... (OUT/seed-K)")
]


def _resume_config(config: Path | None, out: str | None) -> Path:
    """The recipe to resume with: the one given, else the run folder's own config.yaml."""
    if config is not None:
        return config
    if out is None:
        raise AffectlabError("--resume needs --out (the run folder to continue)")
    found = Path(out) / "config.yaml"
    if not found.is_file():
        raise AffectlabError(f"cannot resume: {found} not found")
    return found


def train_command(
    config: ConfigOpt = None,
    data: DataOpt = None,
    arch: ArchOpt = None,
    out: OutOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = None,
    size: SizeOpt = None,
    pretrained: PretrainedOpt = None,
    accelerator: AcceleratorOpt = None,
    devices: DevicesOpt = None,
    strategy: StrategyOpt = None,
    precision: PrecisionOpt = None,
    compile_model: CompileOpt = None,
    gpu_resident: ResidentOpt = None,
    seed: SeedOpt = None,
    threads: ThreadsOpt = None,
    resume: ResumeOpt = False,
    overrides: SetOpt = None,
    seeds: SeedsOpt = 1,
) -> None:
    """Train a multi-task model (expression + valence + arousal) and write a run folder."""
    from affectlab.training import train

    flags = {
        "data.path": data,
        "model.arch": arch,
        "out": out,
        "trainer.max_epochs": epochs,
        "data.batch_size": batch_size,
        "data.size": size,
        "model.pretrained": pretrained,
        "trainer.accelerator": accelerator,
        "trainer.devices": devices,
        "trainer.strategy": strategy,
        "trainer.precision": precision,
        "seed": seed,
        "speed.threads": threads,
        "model.compile": None if compile_model is None else str(compile_model).lower(),
        "data.gpu_resident": None if gpu_resident is None else str(gpu_resident).lower(),
        "resume": "true" if resume else None,
    }
    sets = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if resume:
        config = _resume_config(config, out)
    if seeds > 1:
        _train_seeds(config, sets + list(overrides or []), seeds)
        return
    run_dir = train(config, sets + list(overrides or []))
    from rich.console import Console

    from affectlab.training.summary import summarize_run

    Console(soft_wrap=False).print(summarize_run(run_dir).render())


def _train_seeds(config: Path | None, sets: list[str], seeds: int) -> None:
    """`--seeds N`: N runs, then their mean, standard deviation and every run."""
    from affectlab.training.seeds import SUMMARY_KEYS, train_seeds

    runs, path = train_seeds(config, sets, seeds)
    summary = json.loads(path.read_text())["metrics"]
    for key in SUMMARY_KEYS:
        s = summary[key]
        if s["mean"] is None:
            continue
        spread = f" ± {s['sd']:.4f}" if s["sd"] is not None else ""
        each = ", ".join("—" if v is None else f"{v:.4f}" for v in s["runs"])
        typer.echo(f"{key:<22} {s['mean']:.4f}{spread}   runs: {each}")
    typer.echo(f"runs: {', '.join(str(r) for r in runs)}")
    typer.echo(f"summary: {path}")


def register(app: typer.Typer) -> None:
    """Add `train` to the app."""
    app.command("train")(train_command)
