"""CPU threads: the one rule for how many threads torch, ONNX Runtime and OpenCV use (torch-free import).

Measured on this project's shared 2-core machine (benchmarks/RESULTS.md): torch's default of one thread per
*logical* CPU, or more threads than idle cores, makes OpenMP barriers spin and a training step 2-3x slower;
one thread per *physical* core is the default for a single job, and one thread per concurrent request is
the default in `serve` (each request then runs on its own core instead of all of them fighting for all).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)


def physical_cores() -> int:
    """Return the physical cores this process may use (core ids in /proc/cpuinfo; logical fallback)."""
    cores: set[tuple[str, str]] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        allowed = _allowed_cpus()
        cpu = phys = core = ""
        for line in [*cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines(), ""]:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "processor":
                cpu = value.strip()
            elif key == "physical id":
                phys = value.strip()
            elif key == "core id":
                core = value.strip()
            elif not line.strip() and core:
                if allowed is None or (cpu.isdigit() and int(cpu) in allowed):
                    cores.add((phys, core))
                cpu = phys = core = ""
    if cores:
        return len(cores)
    allowed = _allowed_cpus()
    return len(allowed) if allowed else os.cpu_count() or 1


def _allowed_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return None


def resolve_threads(threads: int | None, default: int | None = None) -> int:
    """The thread count to use: `threads` when given (>= 1), else `default`, else the physical cores."""
    if threads is not None:
        if threads < 1:
            raise AffectlabError(f"--threads must be at least 1, got {threads}")
        return int(threads)
    return default if default is not None else physical_cores()


def threads_per_request(concurrency: int) -> int:
    """Threads for each of `concurrency` inferences running at once: the physical cores shared out (>= 1)."""
    return max(1, physical_cores() // max(1, concurrency))


def set_torch_threads(threads: int) -> int:
    """Set torch's intra-op threads (and inter-op to 1 where it can still be set); return the count."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # settable only before the first parallel op
        torch.set_num_interop_threads(1)
    return torch.get_num_threads()


def set_opencv_threads(threads: int) -> None:
    """Set OpenCV's worker threads (resizing, YuNet) when OpenCV is already imported."""
    import sys

    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(threads)
