"""Machine facts recorded with every benchmark: CPU, cores, load, library versions and thread settings."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from affectlab.threads import physical_cores

_PACKAGES = (
    "torch",
    "torchvision",
    "onnxruntime",
    "numpy",
    "opencv-python",
    "pillow",
    "simplejpeg",
    "PyTurboJPEG",
)


def cpu_model() -> str:
    """Return the CPU model name (from /proc/cpuinfo where available)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_1min() -> float | None:
    """The 1-minute load average now (None where the OS has none): recorded beside every measurement."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def usable_cores() -> int:
    """Return the number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Return CPU model, core counts, load average, memory, GPU, library versions and thread counts."""
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count() or 1,
        "physical_cores": physical_cores(),
        "usable_cores": usable_cores(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": {name: v for name in _PACKAGES if (v := _version(name)) is not None},
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    return info


#: /proc/kpageflags bits of a page that belongs to a large folio (its first page, or one of the rest).
_COMPOUND_HEAD, _COMPOUND_TAIL = 15, 16


def page_cache_folios(path: str | Path, samples: int = 2048) -> dict[str, Any] | None:
    """How the OS caches `path` now: the share of sampled pages held in large folios (None: unknown here).

    A memory map reads a store up to 2x slower when its page cache is in single 4 KiB pages than in large
    folios (a fault per page instead of per folio; positioned reads 1.0-1.3x), and which one a file gets
    depends on the memory free when it was cached, so the bench records it beside every read rate. Linux
    only, and it needs the page-frame numbers that /proc/self/pagemap shows only to privileged users.
    """
    import mmap

    import numpy as np

    pagemap, flags = Path("/proc/self/pagemap"), Path("/proc/kpageflags")
    size = Path(path).stat().st_size
    if size == 0 or not os.access(flags, os.R_OK) or not pagemap.exists():
        return None
    page = mmap.PAGESIZE
    pages = np.unique(np.linspace(0, (size - 1) // page, min(samples, size // page + 1)).astype(np.int64))
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        data = np.frombuffer(view, np.uint8)
        int(data[pages * page].sum())  # map the sampled pages (the file is read, not changed)
        start = data.ctypes.data // page
        entries = _pread_u64(pagemap, start + pages)
        del data
    if entries is None:
        return None
    present = (entries >> np.uint64(63)) & np.uint64(1) == 1
    frames = entries[present] & np.uint64((1 << 55) - 1)
    if not len(frames) or not frames.all():  # unprivileged: every frame number reads as 0
        return None
    bits = _pread_u64(flags, frames.astype(np.int64))
    if bits is None:
        return None
    large = ((bits >> np.uint64(_COMPOUND_HEAD)) | (bits >> np.uint64(_COMPOUND_TAIL))) & np.uint64(1)
    return {"pages_sampled": len(frames), "large_folio_share": round(float(large.mean()), 4)}


def _pread_u64(path: Path, positions: Any) -> Any:
    """The 8-byte entries at `positions` of a /proc table (one positioned read each); None if unreadable."""
    import numpy as np

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        raw = b"".join(os.pread(fd, 8, int(p) * 8) for p in positions)
    except OSError:
        return None
    finally:
        os.close(fd)
    return np.frombuffer(raw, np.uint64) if len(raw) == 8 * len(positions) else None
