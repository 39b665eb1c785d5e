"""`affectlab train`: a thin layer over `affectlab.training.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
CompileOpt = Annotated[bool, typer.Option("--compile", help="torch.compile the model")]
ResidentOpt = Annotated[bool, typer.Option("--gpu-resident", help="hold the data on the device")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="random seed")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="continue the run in --out from last.ckpt")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="any config value: --set optim.lr=3e-4 (repeatable)")
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
    compile_model: CompileOpt = False,
    gpu_resident: ResidentOpt = False,
    seed: SeedOpt = None,
    resume: ResumeOpt = False,
    overrides: SetOpt = None,
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
    switches = {"model.compile": compile_model, "data.gpu_resident": gpu_resident, "resume": resume}
    sets = [f"{k}={v}" for k, v in flags.items() if v is not None]
    sets += [f"{k}=true" for k, on in switches.items() if on]
    if resume:
        config = _resume_config(config, out)
    run_dir = train(config, sets + list(overrides or []))
    typer.echo(f"run folder: {run_dir}")


def register(app: typer.Typer) -> None:
    """Add `train` to the app."""
    app.command("train")(train_command)
