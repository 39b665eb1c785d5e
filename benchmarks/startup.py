"""Start-up of `affectlab predict`: wall time minus the run's own seconds, per source tree, interleaved.

Start-up is what the command costs besides its work: the interpreter, imports, opening the model and
building the detector before the first frame, and the exit after the last. Each run is a fresh process
(``python -c '...'`` calling the program's entry, `run` where the tree has it, else `main`) with PYTHONPATH
set to one of the given source trees, so the same model and clip can be timed with the code before and
after a change, alternating so that load from elsewhere hits both alike.

    python benchmarks/startup.py --model run_or_model --clip clip.avi --src /old/src --src src --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The `affectlab` program's entry in each tree: `run` where it exists (its exit skips the interpreter's
# teardown), `main` in trees from before it.
CODE = (
    "import sys; import affectlab.cli as c; sys.argv[0] = 'affectlab'; "
    "getattr(c, 'run', None) and c.run(); c.main()"
)


def one_run(src: Path, model: Path, clip: Path, threads: int) -> dict[str, float]:
    """Run `affectlab predict` once; return wall seconds, the run's own seconds and their difference."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        cmd = [
            sys.executable,
            "-c",
            CODE,
            "predict",
            str(model),
            str(clip),
            "--out",
            str(Path(tmp) / "r.jsonl"),
        ]
        cmd += ["-q", "--threads", str(threads), "--summary-json", str(summary)]
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(threads)}
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"predict failed with {src}: {proc.stderr[-2000:]}")
        run = json.loads(summary.read_text())["seconds"]
    return {"wall_s": wall, "run_s": run, "startup_s": wall - run, "load": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time start-up for every source tree; print medians and the ratio to the first tree."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--src", type=Path, action="append", required=True, help="a source tree (repeat)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {str(s): [] for s in args.src}
    for _ in range(args.runs):
        for src in args.src:
            runs[str(src)].append(one_run(src, args.model, args.clip, args.threads))
    out: dict[str, Any] = {"model": str(args.model), "clip": str(args.clip), "trees": {}}
    first = None
    for src, values in runs.items():
        med = statistics.median(v["startup_s"] for v in values)
        first = med if first is None else first
        out["trees"][src] = {
            "startup_s": round(med, 2),
            "wall_s": round(statistics.median(v["wall_s"] for v in values), 2),
            "runs": [round(v["startup_s"], 2) for v in values],
            "load": [round(v["load"], 1) for v in values],
            "vs_first": round(med / first, 3),
        }
        print(
            f"{src}: start-up {med:.2f} s (runs {out['trees'][src]['runs']}), x{med / first:.2f} of the first"
        )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
