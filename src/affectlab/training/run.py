"""`train(config) -> run folder`: set up the run, fit with Lightning, export the best weights, score them."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from torch import nn

from affectlab.data.selection import SELECTION_FILE
from affectlab.errors import AffectlabError
from affectlab.io import ensure_free_space, ensure_writable
from affectlab.preprocessing.spec import Preprocess
from affectlab.training.callbacks import InterruptCheckpoint, RunStamp
from affectlab.training.checkpoint_io import (
    RUN_KEY,
    checkpoint_bytes,
    load_checkpoint_file,
    remove_stale_temps,
)
from affectlab.training.config import TrainConfig, load_config, save_config
from affectlab.training.console import best_epoch, describe_start, quiet_lightning
from affectlab.training.datamodule import AffectDataModule
from affectlab.training.module import AffectModule, NonFiniteLossError
from affectlab.training.summary import check_not_finished
from affectlab.training.trainer import apply_speed, build_callbacks, build_trainer
from affectlab.workers import refuse_worker_import

log = logging.getLogger(__name__)


class TrainingInterrupted(AffectlabError):
    """Training stopped on SIGTERM or Ctrl-C after saving a checkpoint."""


def _class_weights(dm: AffectDataModule, num_classes: int) -> list[float]:
    expr = dm.train_expressions()
    counts = np.bincount(expr[expr >= 0], minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return [float(w) for w in weights]


def _plain(value: Any) -> Any:
    """The JSON form of a value (tuples as lists), so run.json and a checkpoint's copy compare alike."""
    return json.loads(json.dumps(value))


def _compare_run(out: Path, where: str, before: dict[str, Any], run_info: dict[str, Any]) -> None:
    """Refuse to resume when what ``where`` recorded differs from this run (arch, classes, data, ...)."""
    before, now = _plain(before), _plain(run_info)
    for key in ("arch", "class_names", "preprocess", "protocol"):
        if (key in before or key != "protocol") and before.get(key) != now[key]:
            raise AffectlabError(
                f"cannot resume {out}: {key} was {before.get(key)!r} ({where}), now {now[key]!r}"
            )
    old, new = before.get("dataset", {}), now["dataset"]
    for key in ("source", "path", "manifest_sha256", "sizes"):
        if old.get(key) != new.get(key):
            raise AffectlabError(
                f"cannot resume {out}: dataset {key} was {old.get(key)!r} ({where}), now {new.get(key)!r} "
                "(a run resumes only on the data it started with)"
            )


def _check_resume(out: Path, run_info: dict[str, Any]) -> None:
    """Check that last.ckpt loads safely and belongs to this run: by run.json and by the checkpoint's own
    record of its run (either alone suffices; a run that records neither is not resumed blindly)."""
    ckpt = out / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise AffectlabError(f"cannot resume: {ckpt} not found (start a new run without --resume)")
    recorded: list[tuple[str, dict[str, Any]]] = []
    path = out / "run.json"
    if path.is_file():
        try:
            recorded.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, RecursionError) as exc:
            raise AffectlabError(
                f"cannot resume {out}: {path} is unreadable ({type(exc).__name__})"
            ) from None
    stamp = load_checkpoint_file(ckpt).get(RUN_KEY)
    if isinstance(stamp, dict):
        recorded.append((ckpt.name, stamp))
    if not recorded:
        raise AffectlabError(
            f"cannot resume {out}: run.json is missing and {ckpt.name} does not record its run "
            "(architecture, classes, data), so what it would continue cannot be checked; start a new run "
            "(another --out)"
        )
    for where, before in recorded:
        _compare_run(out, where, before, run_info)


def _check_room(out: Path, module: AffectModule) -> None:
    """Before the first epoch: room for last.ckpt and best.ckpt, one temporary copy while a checkpoint is
    replaced, and model.safetensors; stale temp files of killed saves are removed first."""
    folder = out / "checkpoints"
    remove_stale_temps(out, folder)
    per_ckpt = checkpoint_bytes(module.model)
    missing = sum(not (folder / name).is_file() for name in ("last.ckpt", "best.ckpt"))
    weights = sum(p.numel() * p.element_size() for p in module.model.parameters())
    ensure_free_space(out, per_ckpt * (missing + 1) + weights + (16 << 20), "checkpoints")


def _keep_old_csv(out: Path) -> None:
    csv = out / "logs" / "metrics.csv"
    if csv.is_file():
        k = 1
        while (out / "logs" / f"metrics.{k}.csv").exists():
            k += 1
        csv.rename(out / "logs" / f"metrics.{k}.csv")


def _run_info(
    cfg: TrainConfig, dm: AffectDataModule, preprocess: Preprocess, recipe: dict[str, Any]
) -> dict[str, Any]:
    """What the run folder records about itself (run.json): what a resume must match, and the protocol."""
    return {
        "arch": cfg.model.arch,
        "class_names": dm.class_names,
        "image_size": dm.image_size,
        "dataset": dm.fingerprint(),
        "preprocess": preprocess.to_dict(),
        "recipe": recipe,
        "protocol": protocol_facts(cfg, dm),
        "tasks": task_facts(dm),
    }


def protocol_facts(cfg: TrainConfig, dm: AffectDataModule) -> dict[str, Any]:
    """Which split selected the exported weights and which one the run reports on."""
    sel = cfg.selection
    record = dm.selection_record or {}
    selected_on = {
        "holdout": f"{record.get('split', 'selection')} ({record.get('num_samples')} samples held out of "
        f"{cfg.data.train_split}, seed {sel.seed})",
        "reported": f"{cfg.data.val_split} (the reported split itself)",
        "none": "none (last epoch exported)",
    }[sel.split]
    return {
        "selection": sel.split,
        "selected_on": selected_on if cfg.export == "best" else "none (last epoch exported)",
        "selection_split": record.get("split")
        if sel.split == "holdout"
        else (cfg.data.val_split if sel.split == "reported" else None),
        "selection_size": record.get("num_samples"),
        "selection_seed": sel.seed if sel.split == "holdout" else None,
        "reported_on": cfg.data.val_split,
        "export": cfg.export,
        "selected_on_reported": sel.split == "reported" and cfg.export == "best",
    }


def task_facts(dm: AffectDataModule) -> dict[str, Any]:
    """Labelled samples per task and split; the tasks trained (those with labels in the training split)."""
    from affectlab.training.module import TASKS

    counts = dm.task_counts()
    trained = [t for t in TASKS if counts["train"][t] > 0]
    if not trained:
        raise AffectlabError("the training split has no labels at all (expression, valence or arousal)")
    left_out = {t: "no labels in the training split" for t in TASKS if t not in trained}
    for split in ("selection", "val"):
        for t in trained:
            if counts[split][t] == 0:
                left_out.setdefault(t, f"no labels in the {split} split")
    return {"trained": trained, "counts": counts, "left_out": left_out}


def _say_left_out(tasks: dict[str, Any]) -> None:
    """Say which tasks a run leaves out of its loss, metrics and selection score, and why."""
    counts = tasks["counts"]
    for task in ("expression", "valence", "arousal"):
        if task not in tasks["trained"]:
            log.warning(
                "%s: no labels in the training split: left out of the loss, the metrics and the selection "
                "score (its head is not trained)",
                task,
            )
            continue
        for split, role in (("selection", "the selection score"), ("val", "the reported metrics")):
            if counts[split][task] == 0:
                log.warning("%s: no labels in the %s split: left out of %s", task, split, role)


def _fit(
    trainer: pl.Trainer,
    module: AffectModule,
    dm: AffectDataModule,
    cfg: TrainConfig,
    interrupt: InterruptCheckpoint,
) -> None:
    """Run trainer.fit, turning a NaN stop or an interruption into an AffectlabError saying how to resume."""
    out = Path(cfg.out)
    last = out / "checkpoints" / "last.ckpt"
    hint = f"affectlab train --resume --out {out}"
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=last if cfg.resume else None, weights_only=True)
    except NonFiniteLossError as exc:
        good = f"last good checkpoint: {last}" if last.exists() else "no checkpoint was written before it"
        raise AffectlabError(
            f"{exc}; {good}. Lower optim.lr, set trainer.gradient_clip_val, or use nan_policy=skip, "
            f"then `{hint}`"
        ) from None
    except SystemExit:  # SIGTERMException, and Lightning's exit after a Ctrl-C
        if interrupt.interrupted_by is None:
            raise
        saved = f"checkpoint saved to {last}" if interrupt.saved else "no checkpoint could be saved"
        raise TrainingInterrupted(
            f"training stopped by {interrupt.interrupted_by}; {saved}; resume with `{hint}`"
        ) from None


def _export_weights(
    module: AffectModule, ckpt: Path, out: Path, preprocess: Preprocess, meta: dict[str, Any]
) -> Any:
    """Load a checkpoint's weights (best or last) into the model, write model.safetensors; return its info."""
    from affectlab.models import ModelInfo, save_weights
    from affectlab.models.artifacts import WEIGHTS_NAME

    saved = load_checkpoint_file(ckpt)
    state = saved["state_dict"]
    weights = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    module.model.load_state_dict(weights)
    meta["exported_epoch"] = int(saved.get("epoch", -1)) + 1  # 1-based: epoch k ends after k passes
    info = ModelInfo(
        arch=module.cfg.model.arch,
        class_names=tuple(module.class_names),
        preprocess=preprocess,
        metadata=meta,
        va_activation=str(getattr(module.model, "va_activation", "tanh")),
    )
    save_weights(module.model, info, out / WEIGHTS_NAME)
    return info


def _final_metrics(
    module: AffectModule, info: Any, dm: AffectDataModule, cfg: TrainConfig, device: Any
) -> dict[str, Any]:
    """Score the exported model on the validation split through the one evaluation path (metrics.json)."""
    from affectlab.evaluation.evaluate import evaluate_model, metrics_record
    from affectlab.evaluation.protocol import evaluation_protocol
    from affectlab.evaluation.runner import load_for_eval

    assert dm.val_split is not None
    loaded = load_for_eval((module.model, info), run_dir=cfg.out)
    run = evaluate_model(
        loaded, dm.val_split, batch_size=cfg.data.val_batch_size or cfg.data.batch_size, device=str(device)
    )
    data = {"path": cfg.data.path or "in-memory", "split": cfg.data.val_split}
    extra = {"device": str(device), "seconds": round(run.seconds, 3), "training": info.metadata}
    extra["protocol"] = evaluation_protocol(info.metadata, cfg.data.val_split)
    extra["targets"] = targets_met(cfg.targets, run.metrics)
    return metrics_record(loaded, data, run.predictions, run.metrics, run.ci, **extra)


def targets_met(targets: dict[str, float], metrics: dict[str, Any]) -> dict[str, Any]:
    """Each target with the value reached and whether it was met (RMSE: at most; the others: at least)."""
    out: dict[str, Any] = {}
    for key, target in targets.items():
        value = metrics.get(key)
        met = None if value is None else (value <= target if key.endswith("_rmse") else value >= target)
        out[key] = {"target": float(target), "value": value, "met": met}
    return out


def _finish(
    trainer: pl.Trainer,
    module: AffectModule,
    dm: AffectDataModule,
    cfg: TrainConfig,
    best: Path,
    preprocess: Preprocess,
    seconds: float,
) -> None:
    """Export the best weights with their info and write metrics.json (rank 0 only)."""
    from affectlab.evaluation.evaluate import write_json

    out = Path(cfg.out)
    score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    run_info = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    meta = {
        "monitor": cfg.monitor,
        "best_score": None if score is None else float(score),
        "best_checkpoint": best.name,
        "best_epoch": best_epoch(best),
        "export": cfg.export,
        "epochs_trained": trainer.current_epoch,
        "train_seconds": round(seconds, 1),
        "global_step": trainer.global_step,
        "skipped_steps": module.skipped_steps,
        "seed": cfg.seed,
        "dataset": dm.fingerprint(),
        "protocol": run_info.get("protocol", protocol_facts(cfg, dm)),
        "tasks": run_info.get("tasks", task_facts(dm)),
        "recipe": run_info.get("recipe"),
    }
    info = _export_weights(module, best, out, preprocess, meta)
    write_json(out / "metrics.json", _final_metrics(module, info, dm, cfg, trainer.strategy.root_device))


def train(
    config: str | Path | dict[str, Any] | TrainConfig | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    *,
    train_split: Any = None,
    val_split: Any = None,
    model: nn.Module | None = None,
) -> Path:
    """Train a multi-task affect model and return its run folder (see docs/training.md)."""
    refuse_worker_import("train")
    cfg = load_config(config, overrides)
    recipe = {
        "config": str(config) if isinstance(config, (str, Path)) else None,
        "overrides": [o for o in overrides] if isinstance(overrides, list) else overrides,
    }
    out = Path(cfg.out)
    ensure_writable(out, "run folder")
    hint = f"affectlab train --resume --out {out}"
    last = out / "checkpoints" / "last.ckpt"
    if not cfg.resume and last.exists():
        raise AffectlabError(f"{out} already holds a run; continue it with `{hint}` or choose another --out")
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    speed = apply_speed(cfg)  # threads first: opening the data and building the model already use them
    dm = AffectDataModule(cfg, train_split, val_split)
    preprocess = dm.preprocess()  # from the data itself: size, margin, alignment (never a default)
    run_info = _run_info(cfg, dm, preprocess, recipe)
    run_info["speed"] = speed
    _say_left_out(run_info["tasks"])
    if cfg.resume:
        _check_resume(out, run_info)  # other data, classes or architecture first: that is the real problem
        check_not_finished(out, cfg.trainer.max_epochs)
        _keep_old_csv(out)
    weights = _class_weights(dm, len(dm.class_names)) if cfg.loss.class_weights == "balanced" else None
    module = AffectModule(
        cfg.to_dict(),
        dm.class_names,
        class_weights=weights,
        model=model,
        preprocess=preprocess.to_dict(),
        tasks=run_info["tasks"]["trained"],
    )
    callbacks, ckpt_cb, interrupt_cb = build_callbacks(cfg, out, hint)
    callbacks.append(RunStamp(run_info))
    _check_room(out, module)
    with quiet_lightning():
        trainer = build_trainer(cfg, out, callbacks)
        if trainer.is_global_zero:
            out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, out / "config.yaml")
            (out / "run.json").write_text(json.dumps(run_info, indent=2))
            dm.save_selection(out / SELECTION_FILE)
            describe_start(trainer, cfg, module, run_info)
        started = time.perf_counter()
        _fit(trainer, module, dm, cfg, interrupt_cb)
    if trainer.is_global_zero:
        # The run folder's own best.ckpt: Lightning's best_model_path is absolute and, after the run folder
        # was moved or copied, still names the old place (a file outside this run).
        best = out / "checkpoints" / "best.ckpt"
        best = best if ckpt_cb.best_model_path and best.is_file() and cfg.export == "best" else last
        _finish(trainer, module, dm, cfg, best, preprocess, time.perf_counter() - started)
    return out
