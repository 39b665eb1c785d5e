"""One model on several datasets side by side (a dataset x metric table).

``compare_datasets(model, ["affectnet/", "rafdb/@test", "fer2013.csv@private_test"])`` evaluates the model on
each dataset (``affectlab.evaluation.evaluate``: each with its own full report), scoring a dataset of another
taxonomy on the shared classes (``affectlab.evaluation.label_maps``), and writes ``datasets.json``; the report
(one row per dataset, one column per metric, each dataset's label map) is rendered by
``affectlab.reports.cross_dataset_report``. A dataset given without ``@SPLIT`` is scored on the split its
results are usually reported on (AffectNet val, RAF-DB and FER2013 test, ExpW's hash test split).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: (metrics key, column header, percent) of the dataset x metric table.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("expression_n", "Faces", False),
    ("expression_accuracy", "Accuracy", True),
    ("expression_balanced_accuracy", "Bal. acc.", True),
    ("expression_f1_macro", "F1 macro", False),
    ("expression_cohen_kappa", "Kappa", False),
    ("valence_ccc", "Val. CCC", False),
    ("arousal_ccc", "Aro. CCC", False),
)


def parse_dataset(spec: str | Path) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH@SPLIT`` -> (path, split or None)."""
    text = str(spec)
    path, sep, split = text.rpartition("@")
    if sep and split and "/" not in split:
        return Path(path), split
    return Path(text), None


def default_split(path: Path) -> str:
    """The split a dataset's results are usually reported on (from its layout; a store's source layout)."""
    from affectlab.data import detect_layout
    from affectlab.data.readers import eval_split
    from affectlab.data.store import read_manifest

    manifest = read_manifest(path) if path.is_dir() else None
    layout = str(manifest["source"]["layout"]) if manifest else detect_layout(path)
    return eval_split(layout)


def _row(name: str, split: str, result: Any) -> dict[str, Any]:
    return {
        "dataset": name,
        "split": split,
        "values": {key: result.metrics.get(key) for key, _, _ in COLUMNS},
        "classes": result.predictions.class_names,
        "label_map": result.label_map,
        "official": result.official_validation,
        "official_reason": result.official_reason,
        "eval_dir": str(result.out),
        "report": str(result.report_html),
    }


def compare_datasets(
    weights: Any,
    datasets: Sequence[str | Path],
    out: str | Path = "runs/cross",
    *,
    unshared: str = "drop",
    device: str = "auto",
    n_boot: int = 200,
    progress: bool = True,
) -> Path:
    """Evaluate one model on several datasets (``PATH[@SPLIT]`` each); return datasets.json's path."""
    from affectlab.evaluation.evaluate import evaluate, write_json
    from affectlab.reports.cross_dataset_report import write_datasets_report

    if not datasets:
        raise AffectlabError("give at least one dataset (PATH or PATH@SPLIT) to evaluate on")
    out_dir = Path(out)
    rows, info = [], None
    for i, spec in enumerate(datasets, start=1):
        path, split = parse_dataset(spec)
        if not path.exists():
            raise AffectlabError(f"{path}: no such dataset (from {spec!r}; expected PATH or PATH@SPLIT)")
        split = split or default_split(path)
        log.info("cross-dataset: %s (%s)", path, split)
        result = evaluate(
            weights, path, split, out=out_dir / "datasets" / f"{i:02d}-{path.name}", unshared=unshared,
            device=device, n_boot=n_boot, progress=progress,
        )  # fmt: skip
        info = info or result.info
        rows.append(_row(path.name or str(path), split, result))
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": info,
        "unshared": unshared,
        "datasets": rows,
    }
    path = out_dir / "datasets.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
    write_datasets_report(record, out_dir / "report")
    return path
