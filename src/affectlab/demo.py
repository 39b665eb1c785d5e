"""The main job on the embedded dataset: generate, prepare, train the three architectures, compare, report.

Each architecture trains at its own input size (``configs/demo.yaml``, ``per_arch``): the demo prepares one
store per size from the same generated raw data (same ids, same order), so the comparison stays paired.
EfficientNet-B1 starts from ImageNet weights when they can be had (cached, online, or a local file), as in
the original study, and from scratch otherwise; the table says which.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

DEMO_ARCHS: tuple[str, ...] = ("resnet18", "mobilenet_v2", "efficientnet_b1")


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo run; the defaults finish in about 10 minutes on 2 quiet CPU cores."""

    train: int = 6000
    val: int = 800
    render_size: int = 96
    #: Input size for every architecture (None: each its own, from the config's per_arch blocks).
    size: int | None = None
    #: Epochs for every architecture (None: the config's, per architecture).
    epochs: int | None = None
    seed: int = 0
    seeds: int = 1
    archs: tuple[str, ...] = DEMO_ARCHS
    config: str | None = None
    #: EfficientNet-B1's starting weights: auto (ImageNet when available), none, imagenet or a file path.
    pretrained: str = "auto"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs, and how long each stage took."""

    raw: Path
    stores: dict[int, Path]
    comparison: Path
    report_html: Path
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


def default_demo_config() -> Path:
    """Return configs/demo.yaml from a source checkout, or raise if it is not there."""
    path = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    if not path.is_file():
        raise AffectlabError(f"demo config not found at {path}; pass --config configs/demo.yaml explicitly")
    return path


def imagenet_available(arch: str) -> bool:
    """True when torchvision's ImageNet weights for `arch` are cached or can be fetched now."""
    from affectlab.models.pretrained import check_weights_source

    try:
        check_weights_source(arch, "imagenet")
    except AffectlabError as exc:
        log.info("demo: ImageNet weights for %s not available (%s): it trains from scratch", arch, exc)
        return False
    return True


def _b1_overrides(settings: DemoSettings) -> list[str]:
    """EfficientNet-B1's starting weights, as the original study (ImageNet) when they can be had."""
    if "efficientnet_b1" not in settings.archs or settings.pretrained == "none":
        return []
    if settings.pretrained == "auto" and not imagenet_available("efficientnet_b1"):
        return []
    source = "imagenet" if settings.pretrained == "auto" else settings.pretrained
    return [f"per_arch.efficientnet_b1.model.pretrained={source}"]


def _sizes(config: str, overrides: list[str], archs: tuple[str, ...]) -> list[int]:
    """The distinct input sizes the architectures train at (from the resolved configs)."""
    from affectlab.training.config import load_config

    sizes = []
    for arch in archs:
        size = load_config(config, [*overrides, f"model.arch={arch}"]).data.size
        if size is None:
            raise AffectlabError(f"the demo config gives {arch} no data.size; set it (or --size)")
        sizes.append(int(size))
    return sorted(set(sizes))


def _training_seconds(runs: Path, archs: tuple[str, ...]) -> dict[str, float]:
    """Wall seconds each architecture's training took (from the runs' timing.json, all seeds together)."""
    import json

    out: dict[str, float] = {}
    for arch in archs:
        for timing in sorted((runs / arch).glob("**/timing.json")):
            run = timing.parent
            per_epoch = json.loads(timing.read_text()).get("seconds_per_epoch")
            epochs = json.loads((run / "metrics.json").read_text())["training"]["epochs_trained"]
            if per_epoch:
                out[arch] = out.get(arch, 0.0) + float(per_epoch) * int(epochs)
    return out


def run_demo(out: str | Path, settings: DemoSettings | None = None) -> DemoResult:
    """Run the whole story on freshly generated data and return the report location."""
    from affectlab.data import is_store, prepare
    from affectlab.data.synth import generate
    from affectlab.evaluation.compare import compare

    settings = settings or DemoSettings()
    out = Path(out)
    started = time.perf_counter()
    stages: dict[str, float] = {}
    config = settings.config or str(default_demo_config())
    overrides = [f"seed={settings.seed}"]
    overrides += [f"trainer.max_epochs={settings.epochs}"] if settings.epochs is not None else []
    overrides += [f"data.size={settings.size}"] if settings.size is not None else []
    overrides += _b1_overrides(settings)
    sizes = _sizes(config, overrides, settings.archs)  # a bad config fails before the data is generated
    raw = out / "data" / "raw"
    t = time.perf_counter()
    if not (raw / "synth.json").is_file():
        generate(raw, train=settings.train, val=settings.val, size=settings.render_size, seed=settings.seed)
    else:
        log.info("demo: reusing generated data in %s", raw)
    stages["synth"] = time.perf_counter() - t
    stores: dict[int, Path] = {}
    for size in sizes:
        stores[size] = out / "data" / f"store-{size}"
        t = time.perf_counter()
        if not is_store(stores[size]):
            prepare(raw, stores[size], size)
        else:
            log.info("demo: reusing prepared store in %s", stores[size])
        stages[f"prepare {size} px"] = time.perf_counter() - t
    t = time.perf_counter()
    comparison = Path(
        compare(
            [str(p) for p in stores.values()],
            archs=list(settings.archs),
            config=config,
            out=out / "compare",
            overrides=overrides,
            seeds=settings.seeds,
        )
    )
    total = time.perf_counter() - t
    trained = _training_seconds(out / "compare" / "runs", settings.archs)
    stages.update({f"train {arch}": seconds for arch, seconds in trained.items()})
    stages["evaluate + compare"] = total - sum(trained.values())
    report = comparison.parent / "report" / "report.html"
    return DemoResult(raw, stores, comparison, report, time.perf_counter() - started, stages)
