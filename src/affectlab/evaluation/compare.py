"""`compare`: train (or take) several models, evaluate them on one split, write comparison.json + a report.

Orchestration and the statistics that decide "best" and "not distinguishable" live here; the report itself is
rendered by affectlab.reports.compare_report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)


def best_index(values: Sequence[float | None], higher_is_better: bool) -> list[int]:
    """Return the positions holding the best defined value (ties all count), or [] if none is defined."""
    defined = [(i, v) for i, v in enumerate(values) if v is not None and v == v]
    if not defined:
        return []
    target = (max if higher_is_better else min)(v for _, v in defined)
    return [i for i, v in defined if v == target]


#: (group, metrics key, label, higher is better, shown as percent) of every comparison row.
ROWS: tuple[tuple[str, str, str, bool, bool], ...] = (
    ("classification", "expression_accuracy", "Accuracy", True, True),
    ("classification", "expression_balanced_accuracy", "Balanced accuracy", True, True),
    ("classification", "expression_f1_macro", "F1 (macro)", True, False),
    ("classification", "expression_cohen_kappa", "Cohen's kappa", True, False),
    ("classification", "expression_krippendorff_alpha", "Krippendorff's alpha", True, False),
    ("classification", "expression_auc_roc", "AUC-ROC (macro)", True, False),
    ("classification", "expression_auc_pr", "AUC-PR (macro)", True, False),
    *(
        (task, f"{task}_{key}", label, better, False)
        for task in ("valence", "arousal")
        for key, label, better in (
            ("rmse", "RMSE", False),
            ("corr", "CORR", True),
            ("sagr", "SAGR", True),
            ("ccc", "CCC", True),
        )
    ),
    ("cost", "params_m", "Parameters (M)", False, False),
    ("cost", "gflops", "GFLOPs / image (multiply-adds)", False, False),
    ("cost", "latency_ms", "CPU latency, batch 1 (ms, median)", False, False),
    ("cost", "throughput", "CPU throughput, batch 64 (img/s)", True, False),
    ("cost", "epoch_seconds", "Training time / epoch (s)", False, False),
)
#: Overrides a quick comparison applies before the user's own (`--set` wins).
QUICK_OVERRIDES = ("trainer.max_epochs=1",)


def _split_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(i).strip() for i in items if str(i).strip()]


def _train_all(
    data: Any, archs: list[str], config: Any, overrides: list[str], out: Path, quick: bool
) -> list[tuple[Path, float | None, str]]:
    """Train each arch under one protocol; return (run folder, seconds per epoch, how measured)."""
    from affectlab.training import train

    runs = []
    for arch in archs:
        run_out = out / "runs" / arch
        sets = [
            *(QUICK_OVERRIDES if quick else ()),
            f"data.path={data}",
            *overrides,
            f"model.arch={arch}",
            f"out={run_out}",
        ]
        log.info("compare: training %s -> %s", arch, run_out)
        started = time.perf_counter()
        run_dir = Path(train(config, sets))
        elapsed = time.perf_counter() - started
        epochs = _epochs(run_dir)
        runs.append(
            (
                run_dir,
                elapsed / epochs if epochs else None,
                "measured around train(), incl. validation and set-up, / epochs",
            )
        )
    return runs


def _epochs(run_dir: Path) -> int | None:
    try:
        record = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    epochs = (record.get("training") or {}).get("epochs_trained")
    return int(epochs) if epochs else None


def _unique_names(entries: list[tuple[str, Path | None]]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for arch, where in entries:
        name = arch if arch not in seen else f"{arch} ({where.name if where else len(names)})"
        seen.add(name)
        names.append(name)
    return names


def _pairwise(results: dict[str, Any], n_boot: int) -> dict[str, dict[str, Any]]:
    """Paired-bootstrap differences for every pair of models (same samples, same resamples)."""
    from affectlab.metrics.bootstrap import paired_affect_diff

    out: dict[str, dict[str, Any]] = {}
    for a, b in combinations(results, 2):
        pa, pb = results[a].predictions, results[b].predictions
        if not np.array_equal(pa.index, pb.index):
            continue
        out[f"{a}|{b}"] = paired_affect_diff(
            pa.expression,
            pa.probs,
            pb.probs,
            pa.valence,
            pa.pred_valence,
            pb.pred_valence,
            pa.arousal,
            pa.pred_arousal,
            pb.pred_arousal,
            n_boot=n_boot,
        )
    return out


def _ties_with_best(
    key: str, best: str, names: list[str], pairwise: dict[str, dict[str, Any]], ci: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Return {model: evidence} for models not distinguishable from the best one on this metric."""
    from affectlab.metrics.bootstrap import indistinguishable

    ties: dict[str, str] = {}
    for other in names:
        if other == best:
            continue
        record = (pairwise.get(f"{best}|{other}") or pairwise.get(f"{other}|{best}") or {}).get(key)
        if record and record.get("distinguishable") is False:
            ties[other] = (
                f"paired bootstrap: 95% CI of the difference [{record['low']:.3f}, "
                f"{record['high']:.3f}] contains 0"
            )
            continue
        if record is None:
            a, b = ci.get(best, {}).get(key), ci.get(other, {}).get(key)
            if a and b and indistinguishable((a["low"], a["high"]), (b["low"], b["high"])):
                ties[other] = "95% bootstrap intervals overlap"
    return ties


def build_rows(models: list[dict[str, Any]], pairwise: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one record per comparison row: values per model, the best model(s) and statistical ties."""
    names = [m["name"] for m in models]
    ci = {m["name"]: m["ci"] for m in models}
    rows = []
    for group, key, label, higher, percent in ROWS:
        values = [m["values"].get(key) for m in models]
        best = [names[i] for i in best_index(values, higher)]
        ties = _ties_with_best(key, best[0], names, pairwise, ci) if len(best) == 1 else {}
        rows.append(
            {
                "group": group,
                "key": key,
                "label": label,
                "higher_is_better": higher,
                "percent": percent,
                "values": dict(zip(names, values, strict=True)),
                "best": best,
                "indistinguishable_from_best": ties,
            }
        )
    return rows


def _model_record(name: str, result: Any, cost: Any, epoch: tuple[float | None, str]) -> dict[str, Any]:
    m = result.metrics
    values = {key: m.get(key) for _, key, *_ in ROWS if key in m}
    values.update(
        {
            "params_m": cost.params / 1e6,
            "gflops": cost.gflops,
            "latency_ms": cost.latency_ms,
            "throughput": cost.throughput,
            "epoch_seconds": epoch[0],
        }
    )
    return {
        "name": name,
        "arch": result.info["arch"],
        "weights": result.info["weights"],
        "run_dir": result.info["run_dir"],
        "eval_dir": str(result.out),
        "values": values,
        "ci": result.ci,
        "per_class": m.get("expression_per_class"),
        "confusion_matrix": m.get("expression_confusion_matrix"),
        "class_names": m.get("expression_class_names"),
        "undefined": m.get("undefined", {}),
        "cost": cost.to_dict(),
        "epoch_seconds_how": epoch[1],
    }


def compare(
    data: Any,
    archs: str | Sequence[str] | None = None,
    runs: str | Sequence[str | Path | tuple[Any, Any]] | None = None,
    config: Any = None,
    out: str | Path = "runs/compare",
    *,
    overrides: Sequence[str] | None = None,
    quick: bool = False,
    split: str = "val",
    device: str = "auto",
    n_boot: int | None = None,
    timing: bool = True,
    progress: bool = True,
) -> Path:
    """Train each arch (or take run folders, weights or (model, info) pairs), evaluate all on one split.

    Returns the path of comparison.json; the report is in ``out/report/``.
    """
    from affectlab.evaluation.evaluate import write_json
    from affectlab.reports.compare_report import write_comparison_report

    arch_list, run_list, pairs = _parse_sources(archs, runs)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_boot = (200 if quick else 1000) if n_boot is None else n_boot
    user_sets = list(overrides or [])
    trained = _train_all(data, arch_list, config, user_sets, out_dir, quick) if arch_list else []
    sources: list[tuple[Any, float | None, str]] = trained + [(Path(r), None, "") for r in run_list]
    sources += [(pair, None, "") for pair in pairs]
    results, epochs = _evaluate_all(sources, data, split, out_dir, device, n_boot, progress)
    models = _model_records(results, epochs, timing, quick)
    pairwise = _pairwise(results, n_boot) if n_boot > 0 else {}
    protocol = {
        "archs": arch_list,
        "runs": run_list,
        "config": None if config is None else str(config),
        "overrides": user_sets,
        "quick": quick,
        "n_boot": n_boot,
        "gflops_convention": "multiply-adds (FlopCounterMode total / 2), one image",
        "timing": "CPU, float32, torch threads as configured; latency = median of runs",
    }
    first = next(iter(results.values())).predictions
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(data) if isinstance(data, (str, Path)) else type(data).__name__,
        "split": split,
        "num_samples": int(first.index.size),
        "class_names": first.class_names,
        "protocol": protocol,
        "models": models,
        "rows": build_rows(models, pairwise),
        "pairwise": pairwise,
    }
    path = out_dir / "comparison.json"
    write_json(path, record)
    write_comparison_report(record, out_dir / "report", {n: r.predictions for n, r in results.items()})
    log.info("comparison written to %s", out_dir)
    return path


def _parse_sources(archs: Any, runs: Any) -> tuple[list[str], list[str], list[tuple[Any, Any]]]:
    """Split the arguments into (architectures to train, run folders or files, in-memory pairs)."""
    arch_list = _split_list(archs)
    pairs = [r for r in (runs or []) if isinstance(r, tuple)] if not isinstance(runs, str) else []
    run_list = _split_list(
        runs if isinstance(runs, str) else [str(r) for r in runs or [] if not isinstance(r, tuple)]
    )
    if not arch_list and not run_list and not pairs:
        raise AffectlabError(
            "nothing to compare: give --archs (to train) and/or --runs (run folders/weights)"
        )
    return arch_list, run_list, pairs


def _evaluate_all(
    sources: list[tuple[Any, float | None, str]],
    data: Any,
    split: str,
    out_dir: Path,
    device: str,
    n_boot: int,
    progress: bool,
) -> tuple[dict[str, Any], list[tuple[float | None, str]]]:
    """Evaluate every source on the split; return {unique name: EvalResult} and each one's epoch time."""
    from affectlab.evaluation.evaluate import evaluate
    from affectlab.reports.runlogs import epoch_seconds

    evaluated: list[tuple[Any, tuple[float | None, str]]] = []
    for source, seconds, how in sources:
        folder = source if isinstance(source, tuple) or source.is_dir() else source.parent
        label = getattr(source[1], "arch", "model") if isinstance(source, tuple) else folder.name
        slug = f"{len(evaluated) + 1:02d}-{label or 'model'}"
        result = evaluate(
            source,
            data,
            split,
            out=out_dir / "models" / slug,
            device=device,
            n_boot=n_boot,
            progress=progress,
        )
        run_dir = result.loaded.run_dir if result.loaded else None
        epoch = (
            (seconds, how) if seconds else (epoch_seconds(run_dir) if run_dir else (None, "no run folder"))
        )
        evaluated.append((result, epoch))
    names = _unique_names([(r.info["arch"], r.loaded.run_dir if r.loaded else None) for r, _ in evaluated])
    results = dict(zip(names, (r for r, _ in evaluated), strict=True))
    first = evaluated[0][0].predictions
    for name, r in results.items():
        if not np.array_equal(r.predictions.index, first.index):
            raise AffectlabError(f"{name} was evaluated on different samples; compare needs one split")
    return results, [epoch for _, epoch in evaluated]


def _model_records(
    results: dict[str, Any], epochs: list[tuple[float | None, str]], timing: bool, quick: bool
) -> list[dict[str, Any]]:
    """One record per model: its metrics, intervals, cost (PyTorch models only) and report path."""
    from affectlab.evaluation.cost import measure_cost

    models = []
    for (name, result), epoch in zip(results.items(), epochs, strict=True):
        loaded = result.loaded
        if loaded is None or loaded.model is None:
            raise AffectlabError(
                f"{name}: compare measures each model's cost on PyTorch; give its run folder or "
                "model.safetensors rather than an ONNX export"
            )
        cost = measure_cost(
            loaded.model, loaded.preprocess.size, timing=timing, latency_runs=10 if quick else 50
        )
        record = _model_record(name, result, cost, epoch)
        record["eval_report"] = str(Path(record["eval_dir"]) / "report" / "report.html")
        models.append(record)
    return models
