"""Loader memory: peak RSS of one data-loading epoch over a prepared store, measured in a fresh subprocess."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError


def _status_kib(field: str) -> int | None:
    """Read one `/proc/self/status` field in KiB (None where there is no /proc)."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _peak_rss_mib() -> float:
    """Peak RSS of this process: VmHWM (reset by exec) where there is /proc, else ru_maxrss."""
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm / 1024
    # ru_maxrss can survive exec (then it holds the parent's peak); bytes on macOS, KiB elsewhere
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def epoch_memory(store: str | Path, batch_size: int = 256, split: str = "train") -> dict[str, Any]:
    """Run one shuffled epoch of the store loader in this process; return peak RSS and peak private RSS."""
    import numpy as np

    from affectlab.bench.data import affectlab_loader
    from affectlab.data import open_split

    face_split = open_split(store, split)
    loader = affectlab_loader(face_split, 0, batch_size)
    before = _peak_rss_mib()
    anon_peak = file_peak = 0
    images, checksum = 0, 0
    started = time.perf_counter()
    for batch in loader:
        images += len(batch["image"])
        checksum += int(batch["image"][:, 0, 0, 0].sum())  # touch the data
        anon_peak = max(anon_peak, _status_kib("RssAnon") or 0)
        file_peak = max(file_peak, _status_kib("RssFile") or 0)
    seconds = time.perf_counter() - started
    return {
        "samples": len(face_split),
        "images": images,
        "image_size": face_split.image_size,
        "batch_size": batch_size,
        "seconds": seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "peak_rss_before_epoch_mib": before,
        "peak_private_rss_mib": anon_peak / 1024,
        "peak_file_backed_rss_mib": file_peak / 1024,
        "labels_mib": sum(v.nbytes for v in face_split.labels().values()) / 2**20,
        "store_mib": images * face_split.image_size**2 * 3 / 2**20,
        "checksum": checksum % int(np.iinfo(np.int32).max),
    }


def measure_memory(store: str | Path, batch_size: int = 256, timeout: float = 1800.0) -> dict[str, Any]:
    """Run :func:`epoch_memory` in a fresh Python process (its peaks are its own); return the result."""
    cmd = [sys.executable, "-m", "affectlab.bench.memory", str(store), "--batch-size", str(batch_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AffectlabError(f"memory probe failed on {store}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_memory(small: Path, large: Path, batch_size: int = 256) -> dict[str, Any]:
    """Peak RSS of one epoch over a small and a large store, and the growth ratios (target: within 10%)."""
    runs = {"small": measure_memory(small, batch_size), "large": measure_memory(large, batch_size)}
    out: dict[str, Any] = dict(runs)
    out["rss_growth"] = runs["large"]["peak_rss_mib"] / runs["small"]["peak_rss_mib"] - 1.0
    out["private_rss_growth"] = (
        runs["large"]["peak_private_rss_mib"] / runs["small"]["peak_private_rss_mib"] - 1.0
    )
    out["file_rss_growth"] = (
        runs["large"]["peak_file_backed_rss_mib"] / runs["small"]["peak_file_backed_rss_mib"] - 1.0
    )
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry of the probe: print one JSON line."""
    import argparse

    parser = argparse.ArgumentParser(description="Peak RSS of one loading epoch over a prepared store.")
    parser.add_argument("store")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    print(json.dumps(epoch_memory(args.store, args.batch_size)))


if __name__ == "__main__":
    main()
