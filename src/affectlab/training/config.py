"""Training configuration: nested dataclasses, YAML loading, dotted overrides and validation."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from affectlab.errors import AffectlabError


@dataclass
class DataConfig:
    """Where the data is and how batches are drawn."""

    path: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    #: Face side in pixels; None: a store's own, 112 for a raw layout.
    size: int | None = None
    #: Face-box margin and eye alignment for a raw layout; None: a store's own (0.1 / off for a raw layout).
    margin: float | None = None
    align: bool | None = None
    num_classes: int = 8
    batch_size: int = 64
    val_batch_size: int | None = None
    num_workers: int | None = None
    sampling: str = "uniform"
    gpu_resident: bool = False
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class AugmentConfig:
    """On-device batch augmentation (applied to training batches only)."""

    enabled: bool = False
    crop_scale: list[float] = field(default_factory=lambda: [0.8, 1.0])
    crop_ratio: list[float] = field(default_factory=lambda: [0.9, 1.1])
    hflip: float = 0.5
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    erasing: float = 0.0
    erasing_scale: list[float] = field(default_factory=lambda: [0.02, 0.2])


@dataclass
class ModelConfig:
    """Architecture and initialisation."""

    arch: str = "resnet18"
    pretrained: str | None = None
    channels_last: bool = True
    compile: bool = False


@dataclass
class LossConfig:
    """Multi-task loss: cross-entropy + MSE (+ optional CCC) with task weights."""

    label_smoothing: float = 0.0
    class_weights: str = "none"
    expression_weight: float = 1.0
    valence_weight: float = 1.0
    arousal_weight: float = 1.0
    ccc_weight: float = 0.0


@dataclass
class OptimConfig:
    """Optimizer."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class SchedulerConfig:
    """Learning-rate schedule: none, step (per epoch) or cosine (per step, with linear warmup)."""

    name: str = "none"
    step_size: int = 4
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0


@dataclass
class TrainerConfig:
    """Options passed through to the Lightning Trainer."""

    max_epochs: int = 10
    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    log_every_n_steps: int = 50
    deterministic: bool | None = None
    early_stopping_patience: int = 0
    progress_bar: str = "auto"


@dataclass
class TrainConfig:
    """Everything `affectlab train` needs; every field can be set with `--set a.b=value`."""

    out: str = "runs/train"
    seed: int = 0
    resume: bool = False
    monitor: str = "val/score"
    monitor_mode: str = "max"
    nan_policy: str = "stop"
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    #: Per-architecture overrides, e.g. {"efficientnet_b1": {"trainer.max_epochs": 8}}; CLI ones win.
    per_arch: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain, YAML-ready dict."""
        return dataclasses.asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.sampling": ("uniform", "balanced"),
    "loss.class_weights": ("none", "balanced"),
    "optim.name": ("adam", "adamw", "sgd"),
    "scheduler.name": ("none", "step", "cosine"),
    "monitor_mode": ("max", "min"),
    "nan_policy": ("stop", "skip"),
    "trainer.progress_bar": ("auto", "rich", "tqdm", "none"),
    "trainer.precision": ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"),
}


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a parsed YAML value to the declared field type, or raise naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        for arg in args:
            if arg in (int, float) and isinstance(value, arg) and not isinstance(value, bool):
                return value  # 1 (a batch count) and 1.0 (a fraction) mean different things to Lightning
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except AffectlabError as exc:
                errors.append(str(exc))
        raise AffectlabError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if tp is Any:
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise AffectlabError(f"{key}: expected a list, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_coerce(v, inner, key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise AffectlabError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise AffectlabError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise AffectlabError(f"{key}: expected an integer, got {value!r}")
        try:
            as_float = float(value)
        except ValueError as exc:
            raise AffectlabError(f"{key}: expected an integer, got {value!r}") from exc
        if as_float != int(as_float):
            raise AffectlabError(f"{key}: expected an integer, got {value!r}")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise AffectlabError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise AffectlabError(f"{key}: expected a number, got {value!r}") from exc
    if tp is str:
        if isinstance(value, (dict, list)):
            raise AffectlabError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise AffectlabError(f"{key}: unsupported type {tp}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        where = f"'{prefix}'" if prefix else "the top level"
        raise AffectlabError(
            f"unknown config key {prefix + unknown[0]!r}; valid keys in {where}: {', '.join(sorted(types_))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        tp = types_[name]
        key = prefix + name
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise AffectlabError(f"{key}: expected a mapping of {', '.join(_field_types(tp))}")
            kwargs[name] = _build(tp, value, key + ".")
        else:
            kwargs[name] = _coerce(value, tp, key)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[str, Any]:
    """Split `a.b=value` into the dotted key and the YAML-parsed value."""
    if "=" not in text:
        raise AffectlabError(f"override {text!r} must look like key=value, e.g. optim.lr=3e-4")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise AffectlabError(f"cannot set {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check value ranges and choices; raise naming the offending key."""
    for key, choices in _CHOICES.items():
        node: Any = cfg
        for part in key.split("."):
            node = getattr(node, part)
        if node not in choices:
            raise AffectlabError(f"{key} must be one of {', '.join(choices)}; got {node!r}")
    checks = [
        ("data.batch_size", cfg.data.batch_size >= 1),
        ("data.num_classes", cfg.data.num_classes in (7, 8)),
        ("trainer.max_epochs", cfg.trainer.max_epochs >= 1),
        ("optim.lr", cfg.optim.lr > 0),
        ("loss.label_smoothing", 0.0 <= cfg.loss.label_smoothing < 1.0),
        ("augment.hflip", 0.0 <= cfg.augment.hflip <= 1.0),
        ("augment.erasing", 0.0 <= cfg.augment.erasing <= 1.0),
        (
            "augment.crop_scale",
            len(cfg.augment.crop_scale) == 2
            and 0 < cfg.augment.crop_scale[0] <= cfg.augment.crop_scale[1] <= 1,
        ),
        (
            "augment.crop_ratio",
            len(cfg.augment.crop_ratio) == 2 and 0 < cfg.augment.crop_ratio[0] <= cfg.augment.crop_ratio[1],
        ),
        ("data.mean", len(cfg.data.mean) == 3),
        ("data.std", len(cfg.data.std) == 3 and all(s > 0 for s in cfg.data.std)),
    ]
    for key, ok in checks:
        if not ok:
            node = cfg
            for part in key.split("."):
                node = getattr(node, part)
            raise AffectlabError(f"{key} has an invalid value {node!r}")
    if cfg.data.size is not None and cfg.data.size < 16:
        raise AffectlabError(f"data.size must be at least 16 pixels, got {cfg.data.size}")
    return cfg


def load_config(
    source: str | Path | dict[str, Any] | TrainConfig | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> TrainConfig:
    """Build a validated config from a YAML path, dict or config, then apply dotted overrides."""
    if isinstance(source, TrainConfig):
        base: dict[str, Any] = source.to_dict()
    elif isinstance(source, dict):
        base = dict(source)
    elif source is None:
        base = {}
    else:
        path = Path(source)
        if not path.is_file():
            raise AffectlabError(f"config file {path} not found")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise AffectlabError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise AffectlabError(f"config file {path} must hold a mapping at the top level")
        base = loaded
    items = (
        list(overrides.items())
        if isinstance(overrides, dict)
        else [parse_override(o) for o in overrides or []]
    )
    cli: dict[str, Any] = {}
    for key, value in items:
        _set_dotted(cli, key, value)
    # Resolve the arch first so that its per-arch block applies underneath the CLI overrides.
    merged = _merge(base, cli)
    arch = (merged.get("model") or {}).get("arch", ModelConfig.arch)
    per_arch = merged.get("per_arch") or {}
    if not isinstance(per_arch, dict):
        raise AffectlabError("per_arch must map an architecture name to {dotted.key: value}")
    arch_block: dict[str, Any] = {}
    for key, value in (per_arch.get(arch) or {}).items():
        _set_dotted(arch_block, key, value)
    final = _merge(_merge(base, arch_block), cli)
    final["per_arch"] = {}  # applied: the resolved config stands on its own
    return validate(_build(TrainConfig, final, ""))


def save_config(cfg: TrainConfig, path: Path) -> None:
    """Write the resolved config as YAML."""
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
