"""The main job on the embedded dataset: generate, prepare, train the three architectures, compare, report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

DEMO_ARCHS: tuple[str, ...] = ("resnet18", "mobilenet_v2", "efficientnet_b1")


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo run; the defaults finish in about 10 minutes on 2 CPU cores."""

    train: int = 6000
    val: int = 800
    render_size: int = 96
    size: int = 48
    epochs: int = 4
    seed: int = 0
    archs: tuple[str, ...] = DEMO_ARCHS
    config: str | None = None


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    raw: Path
    store: Path
    comparison: Path
    report_html: Path
    seconds: float


def default_demo_config() -> Path:
    """Return configs/demo.yaml from a source checkout, or raise if it is not there."""
    path = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    if not path.is_file():
        raise AffectlabError(f"demo config not found at {path}; pass --config configs/demo.yaml explicitly")
    return path


def run_demo(out: str | Path, settings: DemoSettings | None = None) -> DemoResult:
    """Run the whole story on freshly generated data and return the report location."""
    from affectlab.data import is_store, prepare
    from affectlab.data.synth import generate
    from affectlab.evaluation.compare import compare

    settings = settings or DemoSettings()
    out = Path(out)
    started = time.perf_counter()
    raw, store = out / "data" / "raw", out / "data" / "store"
    if not (raw / "synth.json").is_file():
        generate(raw, train=settings.train, val=settings.val, size=settings.render_size, seed=settings.seed)
    else:
        log.info("demo: reusing generated data in %s", raw)
    if not is_store(store):
        prepare(raw, store, settings.size)
    else:
        log.info("demo: reusing prepared store in %s", store)
    config = settings.config or str(default_demo_config())
    overrides = [f"trainer.max_epochs={settings.epochs}", f"seed={settings.seed}"]
    comparison = Path(
        compare(store, archs=list(settings.archs), config=config, out=out / "compare", overrides=overrides)
    )
    report = comparison.parent / "report" / "report.html"
    return DemoResult(raw, store, comparison, report, time.perf_counter() - started)
