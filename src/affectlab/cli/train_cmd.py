"""`affectlab train`: a thin layer over `affectlab.training.train`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from affectlab.cli.train_options import (
    AcceleratorOpt,
    BatchOpt,
    CompileOpt,
    ConfigOpt,
    DevicesOpt,
    EpochsOpt,
    PrecisionOpt,
    PretrainedOpt,
    ResidentOpt,
    SetOpt,
    SizeOpt,
    StrategyOpt,
    ThreadsOpt,
    flag_overrides,
)
from affectlab.errors import AffectlabError

DataOpt = Annotated[str | None, typer.Option("--data", help="prepared store or raw dataset layout")]
ArchOpt = Annotated[str | None, typer.Option("--arch", help="resnet18, mobilenet_v2, efficientnet_b1")]
OutOpt = Annotated[str | None, typer.Option("--out", help="run folder")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="random seed")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="continue the run in --out from last.ckpt")]
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

    own = {"data.path": data, "model.arch": arch, "out": out, "resume": "true" if resume else None}
    sets = [f"{k}={v}" for k, v in own.items() if v is not None]
    sets += flag_overrides(
        epochs=epochs,
        batch_size=batch_size,
        size=size,
        pretrained=pretrained,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=precision,
        seed=seed,
        threads=threads,
        compile_model=compile_model,
        gpu_resident=gpu_resident,
    )
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
