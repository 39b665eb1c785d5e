"""`affectlab train`: a thin layer over `affectlab.training.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from affectlab.errors import AffectlabError


def train_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML recipe, e.g. configs/default.yaml")
    ] = None,
    data: Annotated[str | None, typer.Option("--data", help="prepared store or raw dataset layout")] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="resnet18, mobilenet_v2, efficientnet_b1")
    ] = None,
    out: Annotated[str | None, typer.Option("--out", help="run folder")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="trainer.max_epochs")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="data.batch_size")] = None,
    size: Annotated[int | None, typer.Option("--size", help="data.size (image side in pixels)")] = None,
    pretrained: Annotated[str | None, typer.Option("--pretrained", help="imagenet or a weights file")] = None,
    accelerator: Annotated[str | None, typer.Option("--accelerator", help="auto, cpu, gpu")] = None,
    devices: Annotated[str | None, typer.Option("--devices", help="number of devices, or auto")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="auto, ddp, ...")] = None,
    precision: Annotated[
        str | None, typer.Option("--precision", help="auto, 32-true, bf16-mixed, ...")
    ] = None,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model")] = False,
    gpu_resident: Annotated[bool, typer.Option("--gpu-resident", help="hold the data on the device")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="random seed")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the run in --out from last.ckpt")
    ] = False,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="any config value: --set optim.lr=3e-4 (repeatable)")
    ] = None,
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
    }
    sets = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if compile_model:
        sets.append("model.compile=true")
    if gpu_resident:
        sets.append("data.gpu_resident=true")
    if resume:
        sets.append("resume=true")
        if config is None:
            if out is None:
                raise AffectlabError("--resume needs --out (the run folder to continue)")
            config = Path(out) / "config.yaml"
            if not config.is_file():
                raise AffectlabError(f"cannot resume: {config} not found")
    run_dir = train(config, sets + list(overrides or []))
    typer.echo(f"run folder: {run_dir}")


def register(app: typer.Typer) -> None:
    """Add `train` to the app."""
    app.command("train")(train_command)
