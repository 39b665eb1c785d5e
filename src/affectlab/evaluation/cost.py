"""What a model costs to run: parameters, GFLOPs per image (multiply-adds), CPU latency and throughput."""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

#: FlopCounterMode counts a multiply-add as 2 FLOPs; GFLOPs here follow the common "1 MAC = 1 FLOP" convention
#: of model-zoo tables (ResNet-18 at 224 px = 1.8), so the counter's total is halved.
FLOPS_PER_MAC = 2


@dataclass
class ModelCost:
    """Cost figures for one model at its input size."""

    params: int
    gflops: float
    latency_ms: float | None
    latency_runs: int
    throughput: float | None
    throughput_batch: int
    input_size: int
    threads: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def count_params(model: Any) -> int:
    """Return the number of parameters."""
    return int(sum(p.numel() for p in model.parameters()))


def gflops_per_image(model: Any, size: int) -> float:
    """Return multiply-add GFLOPs for one (1, 3, size, size) forward pass, counted by FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(model).eval().cpu().float()
    x = torch.zeros(1, 3, size, size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        m(x)
    return counter.get_total_flops() / FLOPS_PER_MAC / 1e9


def _timed(model: Any, x: Any, runs: int, warmup: int) -> list[float]:
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return times


def measure_cost(
    model: Any,
    size: int,
    *,
    latency_runs: int = 30,
    throughput_batch: int = 64,
    throughput_runs: int = 3,
    warmup: int = 3,
    timing: bool = True,
) -> ModelCost:
    """Measure a model on CPU (float32): median latency at batch 1 and images/s at batch 64."""
    import torch

    m = copy.deepcopy(model).eval().cpu().float()
    latency = throughput = None
    if timing:
        latency = 1000 * statistics.median(_timed(m, torch.randn(1, 3, size, size), latency_runs, warmup))
        batch = torch.randn(throughput_batch, 3, size, size)
        per_batch = statistics.median(_timed(m, batch, throughput_runs, 1))
        throughput = throughput_batch / per_batch
    return ModelCost(
        params=count_params(m),
        gflops=gflops_per_image(m, size),
        latency_ms=latency,
        latency_runs=latency_runs if timing else 0,
        throughput=throughput,
        throughput_batch=throughput_batch,
        input_size=size,
        threads=torch.get_num_threads(),
    )
