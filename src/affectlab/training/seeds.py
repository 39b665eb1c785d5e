"""`train --seeds N`: one recipe trained N times with consecutive seeds, and the spread of the results."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: The metrics summarised over seeds (seeds.json and the CLI table).
SUMMARY_KEYS = (
    "expression_accuracy",
    "expression_f1_macro",
    "valence_ccc",
    "arousal_ccc",
    "valence_rmse",
    "arousal_rmse",
    "score",
)
SEEDS_FILE = "seeds.json"


def summarise(runs: list[Path]) -> dict[str, Any]:
    """Mean, standard deviation and every run's value of each summary metric (from each metrics.json)."""
    from affectlab.evaluation.compare_stats import mean_sd

    records = [json.loads((r / "metrics.json").read_text(encoding="utf-8")) for r in runs]
    summary: dict[str, Any] = {}
    for key in SUMMARY_KEYS:
        values = [rec["metrics"].get(key) for rec in records]
        mean, sd = mean_sd(values)
        summary[key] = {"mean": mean, "sd": sd, "runs": values}
    return {
        "runs": [
            {"seed": rec.get("training", {}).get("seed"), "run_dir": str(r)}
            for r, rec in zip(runs, records, strict=True)
        ],
        "metrics": summary,
        "protocol": records[0].get("protocol") if records else None,
    }


def train_seeds(
    config: Any = None, overrides: list[str] | None = None, seeds: int = 2, **kwargs: Any
) -> tuple[list[Path], Path]:
    """Train the recipe `seeds` times (seed, seed + 1, ...) into OUT/seed-<k>; return the runs and seeds.json.

    A run folder that already holds a finished run is reused, an unfinished one is resumed, so an
    interrupted `train --seeds` continues where it stopped.
    """
    from affectlab.training.config import load_config
    from affectlab.training.run import train

    if seeds < 1:
        raise AffectlabError(f"--seeds must be at least 1, got {seeds}")
    sets = list(overrides or [])
    cfg = load_config(config, sets)  # checked once, before the first run
    out = Path(cfg.out)
    runs = []
    for k in range(seeds):
        seed = cfg.seed + k
        folder = out / f"seed-{seed}"
        if (folder / "metrics.json").is_file():
            log.info("seed %d: %s already finished, reused", seed, folder)
            runs.append(folder)
            continue
        resume = ["resume=true"] if (folder / "checkpoints" / "last.ckpt").is_file() else []
        log.info("seed %d (%d/%d) -> %s", seed, k + 1, seeds, folder)
        runs.append(Path(train(config, [*sets, f"seed={seed}", f"out={folder}", *resume], **kwargs)))
    path = out / SEEDS_FILE
    path.write_text(json.dumps(summarise(runs), indent=2) + "\n", encoding="utf-8")
    return runs, path
