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
