"""Compare `affectlab evaluate` with `affectlab predict --no-detect` image by image.

Usage: python compare_eval_predict.py EVAL_DIR STORE PREDICT_JSONL [SPLIT]
(EVAL_DIR holds predictions.npz from evaluate; the JSONL is predict's output on the split's raw images.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(eval_dir: str, store: str, jsonl: str, split: str = "val") -> None:
    """Print both accuracies and the largest difference between their per-image probabilities."""
    pred = np.load(Path(eval_dir) / "predictions.npz")
    ids = (Path(store) / split / "ids.txt").read_text(encoding="utf-8").split()
    rows = {Path(r["source"]).stem: r for r in map(json.loads, Path(jsonl).read_text().splitlines())}
    names = [str(n) for n in pred["class_names"]]
    probs = np.array([[rows[i][f"prob_{c}"] for c in names] for i in ids])
    acc_eval = (pred["probs"].argmax(1) == pred["expression"]).mean()
    acc_pred = (probs.argmax(1) == pred["expression"]).mean()
    diff = np.abs(probs - pred["probs"]).max()
    print(
        f"accuracy: evaluate {acc_eval:.4f}, predict --no-detect {acc_pred:.4f}; "
        f"max |probability difference| {diff:.1e}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
