"""The training options `train` and `compare` share: one declaration, one mapping to config overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML recipe, e.g. configs/default.yaml")
]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="trainer.max_epochs")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="data.batch_size")]
SizeOpt = Annotated[int | None, typer.Option("--size", help="data.size (image side in pixels)")]
PretrainedOpt = Annotated[str | None, typer.Option("--pretrained", help="imagenet or a weights file")]
AcceleratorOpt = Annotated[str | None, typer.Option("--accelerator", help="auto, cpu, gpu")]
DevicesOpt = Annotated[str | None, typer.Option("--devices", help="number of devices, or auto")]
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="auto, ddp, ...")]
PrecisionOpt = Annotated[str | None, typer.Option("--precision", help="auto, 32-true, bf16-mixed, ...")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="random seed (the first one with --seeds)")]
SeedsOpt = Annotated[int, typer.Option("--seeds", help="train N times with seeds seed, seed+1, ...")]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", help="speed.threads: torch CPU threads (default: physical cores)")
]
CompileOpt = Annotated[
    bool | None, typer.Option("--compile/--no-compile", help="torch.compile the model (default: config)")
]
ResidentOpt = Annotated[
    bool | None,
    typer.Option("--gpu-resident/--no-gpu-resident", help="hold the data on the device (default: config)"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="any config value: --set optim.lr=3e-4 (repeatable)"),
]

#: Option name -> config key (the short flags of docs/training.md).
FLAG_KEYS = {
    "epochs": "trainer.max_epochs",
    "batch_size": "data.batch_size",
    "size": "data.size",
    "pretrained": "model.pretrained",
    "accelerator": "trainer.accelerator",
    "devices": "trainer.devices",
    "strategy": "trainer.strategy",
    "precision": "trainer.precision",
    "seed": "seed",
    "threads": "speed.threads",
    "compile_model": "model.compile",
    "gpu_resident": "data.gpu_resident",
}


def flag_overrides(**values: Any) -> list[str]:
    """`key=value` overrides for the training flags that were given (None: not given)."""
    # a --x/--no-x switch is a bool: written as the config's true/false
    return [
        f"{FLAG_KEYS[name]}={str(v).lower() if isinstance(v, bool) else v}"
        for name, v in values.items()
        if v is not None
    ]
