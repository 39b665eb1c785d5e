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


@dataclass
class Source:
    """One model to evaluate: a run folder, a weights file or a (model, info) pair, and its group."""

    model: Any
    data: Any
    group: str | None = None
    seed: int | None = None
    initial_weights: str | None = None
    epoch: tuple[float | None, str] | None = None


def planned_source(plan: PlannedRun, trained: dict[Path, tuple[float | None, str]]) -> Source:
    """The source of a planned run: its folder, data, architecture, seed, weights and epoch time."""
    from affectlab.reports.runlogs import epoch_seconds

    epoch = trained.get(plan.out) or epoch_seconds(plan.out)
    return Source(plan.out, plan.data, plan.arch, plan.seed, plan.weights, epoch)


def given_sources(run_list: list[str], pairs: list[tuple[Any, Any]], data_list: list[Any]) -> list[Source]:
    """Sources for --runs (opened now: a bad path fails before any training) and in-memory pairs."""
    from affectlab.models.artifacts import open_model
    from affectlab.models.pretrained import weights_source

    sizes = data_sizes([d for d in data_list if isinstance(d, str)]) if run_list else {}
    out = []
    for run in run_list:
        artifact = open_model(run)
        size = artifact.info.preprocess.size
        data = data_for_size(sizes, size, str(run)) if sizes else data_list[0]
        start = _run_start(artifact.run_dir, artifact.info.arch, weights_source)
        out.append(Source(Path(run), data, None, None, start))
    return out + [Source(pair, data_list[0]) for pair in pairs]


def _run_start(run_dir: Path | None, arch: str, describe: Any) -> str | None:
    """Where a given run's training started from, read from its config.yaml (None when unknown)."""
    import yaml

    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return None
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    return str(describe(arch, (cfg.get("model") or {}).get("pretrained")))


def unique_labels(entries: list[tuple[str, Path | None]]) -> list[str]:
    """One label per model: the architecture, plus what tells runs of one architecture apart.

    Runs of the same architecture get the first path component (from the end) in which their folders
    differ, e.g. ``resnet18 (a)`` and ``resnet18 (b)`` for a/resnet18 and b/resnet18; never "X (X)".
    """
    labels = [arch for arch, _ in entries]
    for arch in set(labels):
        same = [i for i, (a, _) in enumerate(entries) if a == arch]
        if len(same) < 2:
            continue
        parts = [list(reversed(Path(str(entries[i][1] or f"model-{i}")).resolve().parts)) for i in same]
        depth = 0
        while (
            depth < max(len(p) for p in parts)
            and len({p[depth] if depth < len(p) else "" for p in parts}) == 1
        ):
            depth += 1
        for i, p in zip(same, parts, strict=True):
            labels[i] = f"{arch} ({p[depth] if depth < len(p) else 'model'})"
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):  # still equal (3+ runs in look-alike folders): number them
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[i] = f"{label} #{seen[label]}"
    return labels
