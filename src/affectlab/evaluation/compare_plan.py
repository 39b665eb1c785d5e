"""Planning a comparison before anything trains: every name, config, data path and weight source checked.

``plan_runs`` resolves each architecture's config (the YAML, its ``per_arch`` block, the overrides), picks
the data for its input size (one store per size, prepared from the same raw data, or a raw layout), checks its
starting weights (loading them), and finds what the output folder already holds: a finished run (reused when
its resolved config is the one asked for), an unfinished one (resumed) or nothing (trained).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: Overrides a quick comparison applies before the user's own (`--set` wins).
QUICK_OVERRIDES = ("trainer.max_epochs=1",)
#: Config keys that may differ between a finished run and the plan that reuses it.
_IGNORED_KEYS = frozenset({"out", "resume"})


@dataclass
class PlannedRun:
    """One training run of a comparison: what it trains, on which data, from which weights, and its state."""

    arch: str
    seed: int
    out: Path
    data: str
    sets: list[str]
    config: Any
    weights: str
    image_size: int | None
    state: str = "new"  # new | resume | done
    resolved: dict[str, Any] = field(default_factory=dict)


def data_sizes(paths: list[str]) -> dict[str, int | None]:
    """{path: a store's image size, or None for a raw layout (cut at any size)}; each path must exist."""
    from affectlab.data.store import is_incomplete_store, read_manifest

    out: dict[str, int | None] = {}
    for path in paths:
        if not Path(path).exists():
            raise AffectlabError(f"data path {path} does not exist")
        if is_incomplete_store(path):
            raise AffectlabError(
                f"{path}: incomplete store (prepare was interrupted); re-run prepare into it"
            )
        manifest = read_manifest(path) if Path(path).is_dir() else None
        out[path] = None if manifest is None else int(manifest["image_size"])
    return out


def data_for_size(sizes: dict[str, int | None], size: int | None, who: str) -> str:
    """The data path that serves `size` px: the store prepared at that size, else a raw layout."""
    stores = {s: p for p, s in sizes.items() if s is not None}
    raw = [p for p, s in sizes.items() if s is None]
    if size is None:
        return next(iter(sizes))
    if size in stores:
        return stores[size]
    if raw:
        return raw[0]
    have = ", ".join(f"{p} ({s} px)" for s, p in sorted(stores.items()))
    raise AffectlabError(
        f"{who} trains at {size} px but no --data serves that size (have: {have}); prepare a store at "
        f"{size} px from the same raw data (`affectlab prepare RAW OUT --size {size}`: same ids and order, "
        "so the comparison stays paired) and pass it with another --data"
    )


def check_same_samples(paths: list[str], splits: list[str]) -> None:
    """Stores of one comparison must hold the same samples in the same order (ids), split by split."""
    from affectlab.data.store import read_manifest

    stores = [p for p in paths if Path(p).is_dir() and read_manifest(p) is not None]
    for split in splits:
        ids: dict[str, list[str]] = {}
        for path in stores:
            file = Path(path) / split / "ids.txt"
            if not file.is_file():
                raise AffectlabError(f"{path}: store has no {split!r} split")
            ids[path] = file.read_text(encoding="utf-8").splitlines()
        first = next(iter(ids.items()), None)
        for path, these in ids.items():
            if first is not None and these != first[1]:
                raise AffectlabError(
                    f"{path} and {first[0]} hold different {split} samples (ids or order differ): prepare "
                    "every store of a comparison from the same raw data"
                )


def run_folder(out: Path, arch: str, seed: int, n_seeds: int) -> Path:
    """runs/<arch> for one seed (the layout of earlier comparisons), runs/<arch>/seed-<k> for several."""
    return out / "runs" / arch if n_seeds == 1 else out / "runs" / arch / f"seed-{seed}"


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved configs (ignoring out/resume)."""
    diffs: list[str] = []
    for key in sorted(set(old) | set(new)):
        dotted = prefix + key
        if dotted in _IGNORED_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, dotted + ".")
        elif a != b:
            diffs.append(f"{dotted}: {a!r} -> {b!r}")
    return diffs


def run_state(run: PlannedRun) -> str:
    """done (finished, same config), resume (unfinished, same config) or new; refuse another config."""
    folder = run.out
    finished = (folder / "model.safetensors").is_file() and (folder / "metrics.json").is_file()
    started = (folder / "checkpoints" / "last.ckpt").is_file()
    if not (finished or started):
        return "new"
    saved = folder / "config.yaml"
    old = yaml.safe_load(saved.read_text()) if saved.is_file() else {}
    diffs = _differences(old or {}, run.resolved)
    if diffs:
        raise AffectlabError(
            f"{folder} holds a run of another recipe ({'; '.join(diffs[:3])}"
            f"{'; ...' if len(diffs) > 3 else ''}): choose another --out, or remove that folder to retrain it"
        )
    return "done" if finished else "resume"


def plan_runs(
    data: list[str],
    archs: list[str],
    config: Any,
    overrides: list[str],
    out: Path,
    quick: bool,
    seeds: list[int],
) -> list[PlannedRun]:
    """Resolve and check every run of a comparison before any of them trains."""
    from affectlab.models.pretrained import check_weights_source
    from affectlab.models.registry import model_spec
    from affectlab.training.config import load_config

    for arch in archs:
        model_spec(arch)  # every name first: a misspelt one fails before anything trains
    sizes = data_sizes(data)
    plans: list[PlannedRun] = []
    checked: dict[tuple[str, str], str] = {}
    for arch in archs:
        for seed in seeds:
            folder = run_folder(out, arch, seed, len(seeds))
            sets = [*(QUICK_OVERRIDES if quick else ()), *overrides, f"model.arch={arch}", f"seed={seed}"]
            sets.append(f"out={folder}")
            probe = load_config(config, sets)
            path = data_for_size(sizes, probe.data.size, arch)
            sets = (
                [f"data.path={path}", *sets]
                if not any(s.startswith("data.path=") for s in overrides)
                else sets
            )
            cfg = load_config(config, sets)
            key = (arch, str(cfg.model.pretrained))
            if key not in checked:
                checked[key] = check_weights_source(arch, cfg.model.pretrained)
            plan = PlannedRun(
                arch, seed, folder, str(cfg.data.path), sets, config, checked[key], cfg.data.size
            )
            plan.resolved = cfg.to_dict()
            plans.append(plan)
    check_same_samples(list(sizes), sorted({p.resolved["data"]["val_split"] for p in plans} | {"train"}))
    for plan in plans:
        plan.state = run_state(plan)
    for arch in archs:
        first = next(p for p in plans if p.arch == arch)
        states = ", ".join(f"seed {p.seed}: {p.state}" for p in plans if p.arch == arch)
        size = f"{first.image_size} px" if first.image_size else "the data's size"
        log.info("compare: %s at %s on %s, weights %s (%s)", arch, size, first.data, first.weights, states)
    return plans
