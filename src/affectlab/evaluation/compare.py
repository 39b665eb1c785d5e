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
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.evaluation.compare_plan import Source, unique_labels  # noqa: F401  (unique_labels: re-exported)
from affectlab.workers import refuse_worker_import

log = logging.getLogger(__name__)


from affectlab.evaluation.compare_stats import best_index  # noqa: E402,F401  (re-exported)

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
    ("calibration", "expression_ece", "ECE (top-label, 15 bins)", False, False),
    ("calibration", "expression_classwise_ece", "Classwise ECE", False, False),
    ("calibration", "expression_nll", "NLL", False, False),
    ("calibration", "expression_brier", "Brier score", False, False),
    ("calibration", "expression_aurc", "AURC (risk-coverage)", False, False),
    ("cost", "params_m", "Parameters (M)", False, False),
    ("cost", "gflops", "GFLOPs / image (multiply-adds)", False, False),
    ("cost", "latency_ms", "CPU latency, batch 1 (ms, median)", False, False),
    ("cost", "throughput", "CPU throughput, batch 64 (img/s)", True, False),
    ("cost", "epoch_seconds", "Training time / epoch (s)", False, False),
)


def _split_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(i).strip() for i in items if str(i).strip()]


def _data_list(data: Any) -> list[Any]:
    """--data as a list: paths (one store per input size, or a raw layout) or one in-memory split."""
    if isinstance(data, (list, tuple)):
        return [str(d) for d in data]
    return [str(data)] if isinstance(data, (str, Path)) else [data]


def _train_planned(plans: list[Any]) -> dict[Path, tuple[float | None, str]]:
    """Train (or resume) every planned run not finished yet; return each trained run's seconds per epoch."""
    from affectlab.training import train

    timing: dict[Path, tuple[float | None, str]] = {}
    for k, plan in enumerate(plans, 1):
        if plan.state == "done":
            log.info("compare: %s seed %d already trained in %s: reused", plan.arch, plan.seed, plan.out)
            continue
        verb = "resuming" if plan.state == "resume" else "training"
        log.info("compare: %s %s seed %d (%d/%d) -> %s", verb, plan.arch, plan.seed, k, len(plans), plan.out)
        started = time.perf_counter()
        run_dir = Path(train(plan.config, [*plan.sets, *(["resume=true"] if plan.state == "resume" else [])]))
        elapsed = time.perf_counter() - started
        epochs = _epochs(run_dir)
        how = "measured around train(), incl. validation and set-up, / epochs"
        if plan.state == "resume":
            how += " (resumed: this session's time only)"
        timing[run_dir] = (elapsed / epochs if epochs else None, how)
        (run_dir / "timing.json").write_text(
            json.dumps({"seconds_per_epoch": timing[run_dir][0], "how": how}), encoding="utf-8"
        )
    return timing


def _epochs(run_dir: Path) -> int | None:
    try:
        record = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    epochs = (record.get("training") or {}).get("epochs_trained")
    return int(epochs) if epochs else None


def _run_values(result: Any) -> dict[str, Any]:
    """A run's value on every metric row (cost rows are per model, measured once)."""
    return {key: result.metrics.get(key) for _, key, *_ in ROWS if key in result.metrics}


def _model_record(
    name: str, runs: list[Any], sources: list[Source], cost: Any, epochs: list[tuple[float | None, str]]
) -> dict[str, Any]:
    """One model of the comparison: the mean over its runs per row, their spread, and every run."""
    from affectlab.evaluation.compare_stats import mean_sd

    per_run = [_run_values(r) for r in runs]
    values: dict[str, Any] = {}
    sd: dict[str, Any] = {}
    for _, key, *_ in ROWS:
        if any(key in v for v in per_run):
            values[key], sd[key] = mean_sd([v.get(key) for v in per_run])
    epoch_mean, _ = mean_sd([e[0] for e in epochs])
    values.update(
        params_m=cost.params / 1e6,
        gflops=cost.gflops,
        latency_ms=cost.latency_ms,
        throughput=cost.throughput,
        epoch_seconds=epoch_mean,
    )
    first, m = runs[0], runs[0].metrics
    training = (first.loaded.metadata if first.loaded else {}) or {}
    return {
        "name": name,
        "arch": first.info["arch"],
        "weights": first.info["weights"],
        "initial_weights": sources[0].initial_weights,
        "input_size": first.loaded.preprocess.size if first.loaded else None,
        "run_dir": first.info["run_dir"],
        "eval_dir": str(first.out),
        "n_runs": len(runs),
        "values": values,
        "sd": sd,
        "runs": [
            {
                "seed": src.seed
                if src.seed is not None
                else (r.loaded.metadata.get("seed") if r.loaded else None),
                "run_dir": r.info["run_dir"],
                "eval_dir": str(r.out),
                "values": v,
            }
            for r, src, v in zip(runs, sources, per_run, strict=True)
        ],
        "ci": first.ci if len(runs) == 1 else {},
        "per_class": m.get("expression_per_class"),
        "confusion_matrix": m.get("expression_confusion_matrix"),
        "class_names": m.get("expression_class_names"),
        "calibration": {
            "reliability": m.get("expression_reliability"),
            "risk_coverage": m.get("expression_risk_coverage"),
            "applied": (getattr(first, "calibration", None) or {}).get("applied"),
        },
        "undefined": m.get("undefined", {}),
        "cost": cost.to_dict(),
        "epoch_seconds_how": epochs[0][1],
        "protocol": first.protocol,
        "recipe": training.get("recipe"),
        "epochs_trained": training.get("epochs_trained"),
        "eval_report": str(Path(first.out) / "report" / "report.html"),
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
    seeds: int = 1,
    seed: int | None = None,
) -> Path:
    """Train each arch ``seeds`` times (or take run folders, weights or (model, info) pairs), evaluate all.

    ``data`` is a path or a list of paths: stores prepared at each architecture's input size from the same
    raw data, or a raw layout. Everything is checked before anything trains; runs already in ``out`` are
    reused (or resumed) when their recipe is the one asked for. Returns comparison.json's path.
    """
    refuse_worker_import("compare")
    from affectlab.evaluation.compare_plan import given_sources, plan_runs, planned_source

    arch_list, run_list, pairs = _parse_sources(archs, runs)
    if seeds < 1:
        raise AffectlabError(f"seeds must be at least 1, got {seeds}")
    data_list = _data_list(data)
    out_dir = Path(out)
    n_boot = (200 if quick else 1000) if n_boot is None else n_boot
    user_sets = list(overrides or [])
    plans: list[Any] = []
    if arch_list:
        if not all(isinstance(d, str) for d in data_list):
            raise AffectlabError("training needs --data paths (a prepared store or a raw layout)")
        base = seed if seed is not None else _config_seed(config, user_sets)
        plans = plan_runs(
            data_list, arch_list, config, user_sets, out_dir, quick, [base + k for k in range(seeds)]
        )
    sources = given_sources(run_list, pairs, data_list)  # opened (so checked) before anything trains
    out_dir.mkdir(parents=True, exist_ok=True)
    trained = _train_planned(plans)
    sources = [planned_source(p, trained) for p in plans] + sources
    return _finish(
        sources,
        split,
        out_dir,
        device,
        n_boot,
        timing,
        progress,
        quick,
        seeds,
        {
            "archs": arch_list,
            "runs": run_list,
            "config": None if config is None else str(config),
            "overrides": user_sets,
            "quick": quick,
            "seeds": seeds,
            "data": [str(d) if isinstance(d, str) else type(d).__name__ for d in data_list],
        },
    )


def _config_seed(config: Any, overrides: list[str]) -> int:
    from affectlab.training.config import load_config

    return int(load_config(config, overrides).seed)


def _finish(
    sources: list[Source],
    split: str,
    out_dir: Path,
    device: str,
    n_boot: int,
    timing: bool,
    progress: bool,
    quick: bool,
    seeds: int,
    protocol: dict[str, Any],
) -> Path:
    """Evaluate every source, group runs into models, decide best and ties, write the record and report."""
    from affectlab.evaluation.compare_stats import build_rows, pairwise
    from affectlab.evaluation.evaluate import write_json
    from affectlab.reports.compare_report import write_comparison_report

    results = _evaluate_all(sources, split, out_dir, device, n_boot, progress)
    groups = _groups(sources, results)
    models = _model_records(groups, timing, quick)
    extra = [key for _, key, *_ in ROWS if key in ("expression_auc_roc", "expression_auc_pr")]
    pair = pairwise({name: [r for r, _ in runs] for name, runs in groups.items()}, n_boot, extra)
    protocol.update(
        n_boot=n_boot,
        gflops_convention="multiply-adds (FlopCounterMode total / 2), one image",
        timing="CPU, float32, torch threads as configured; latency = median of runs",
        verdict_rule=(
            "seeds + paired bootstrap (docs/metrics.md)" if seeds > 1 else "paired bootstrap of single runs"
        ),
    )
    first = results[0].predictions
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": ", ".join(protocol["data"]),
        "split": split,
        "num_samples": int(first.index.size),
        "class_names": first.class_names,
        "protocol": protocol,
        "models": models,
        "rows": build_rows(models, pair, ROWS),
        "pairwise": pair,
    }
    path = out_dir / "comparison.json"
    write_json(path, record)
    write_comparison_report(
        record, out_dir / "report", {n: runs[0][0].predictions for n, runs in groups.items()}
    )
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
    sources: list[Source], split: str, out_dir: Path, device: str, n_boot: int, progress: bool
) -> list[Any]:
    """Evaluate every source on the split (each on the data of its input size), same samples for all."""
    from affectlab.evaluation.evaluate import evaluate

    results = []
    for k, src in enumerate(sources, 1):
        folder = src.model if isinstance(src.model, tuple) or src.model.is_dir() else src.model.parent
        label = getattr(src.model[1], "arch", "model") if isinstance(src.model, tuple) else folder.name
        if src.group is not None and src.seed is not None:
            label = f"{src.group}-seed{src.seed}"
        result = evaluate(
            src.model,
            src.data,
            split,
            out=out_dir / "models" / f"{k:02d}-{label or 'model'}",
            device=device,
            n_boot=n_boot,
            progress=progress,
        )
        results.append(result)
    first = results[0].predictions
    for src, r in zip(sources, results, strict=True):
        if not np.array_equal(r.predictions.index, first.index) or not np.array_equal(
            r.predictions.expression, first.expression
        ):
            raise AffectlabError(f"{src.model} was evaluated on different samples; compare needs one split")
    return results


def _groups(sources: list[Source], results: list[Any]) -> dict[str, list[tuple[Any, Source]]]:
    """Runs grouped into models: an architecture's seeds together; each given run on its own, labelled."""
    groups: dict[str, list[tuple[Any, Source]]] = {}
    loose = [(r, s) for r, s in zip(results, sources, strict=True) if s.group is None]
    labels = unique_labels([(r.info["arch"], r.loaded.run_dir if r.loaded else None) for r, _ in loose])
    taken = {s.group for s in sources if s.group is not None}
    for r, s in zip(results, sources, strict=True):
        if s.group is not None:
            groups.setdefault(s.group, []).append((r, s))
    for label, (r, s) in zip(labels, loose, strict=True):
        name = label if label not in taken else f"{label} (given)"
        groups[name] = [(r, s)]
    return groups


def _model_records(
    groups: dict[str, list[tuple[Any, Source]]], timing: bool, quick: bool
) -> list[dict[str, Any]]:
    """One record per model: its runs' metrics, spread and intervals, and its cost (PyTorch models only)."""
    from affectlab.evaluation.cost import measure_cost
    from affectlab.reports.runlogs import epoch_seconds

    models = []
    for name, runs in groups.items():
        loaded = runs[0][0].loaded
        if loaded is None or loaded.model is None:
            raise AffectlabError(
                f"{name}: compare measures each model's cost on PyTorch; give its run folder or "
                "model.safetensors rather than an ONNX export"
            )
        cost = measure_cost(
            loaded.model, loaded.preprocess.size, timing=timing, latency_runs=10 if quick else 50
        )
        epochs = []
        for r, src in runs:
            run_dir = r.loaded.run_dir if r.loaded else None
            epochs.append(src.epoch or (epoch_seconds(run_dir) if run_dir else (None, "no run folder")))
        models.append(_model_record(name, [r for r, _ in runs], [s for _, s in runs], cost, epochs))
    return models
