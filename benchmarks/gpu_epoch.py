"""GPU check of issue #6: one ResNet-18 epoch at 224 px from GPU-resident uint8 data, bf16, channels_last.

Prints images/s, epoch seconds, the model-only ceiling (same step on one batch already prepared on the GPU)
and the data-path cost (1 - end-to-end / ceiling), then one JSON line. Without --store it generates a small
synthetic base set, prepares it, puts it on the GPU and tiles it there to --samples (287,651 = AffectNet's
training set, ~43 GB at 224 px). Targets: epoch <= 60 s on one H200, data-path cost < 10%.

    python benchmarks/gpu_epoch.py                       # the issue's check (needs ~45 GB of GPU memory)
    python benchmarks/gpu_epoch.py --store STORE          # a real prepared store, copied to the GPU once
    python benchmarks/gpu_epoch.py --device cpu --samples 512 --size 64 --base 64 --batch-size 32  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from affectlab.data import open_split
from affectlab.data.sampling import BatchIndexSampler, DeviceBatchLoader, DeviceResidentSplit
from affectlab.data.transforms import BatchAugment, prepare_batch
from affectlab.models import build_model
from affectlab.training.config import LossConfig
from affectlab.training.module import compute_losses

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
AUGMENT = dict(
    crop_scale=(0.7, 1.0),
    crop_ratio=(0.9, 1.1),
    hflip=0.5,
    brightness=0.25,
    contrast=0.25,
    saturation=0.25,
    erasing=0.25,
    erasing_scale=(0.02, 0.15),
)


def synthetic_store(root: Path, base: int, size: int) -> Path:
    """Generate `base` synthetic faces at `size` px and prepare them into a store under `root`."""
    from affectlab.data import prepare
    from affectlab.data.synth import generate

    workers = min(os.cpu_count() or 1, 16)
    raw = generate(root / "raw", train=base, val=8, size=size, progress=False, workers=workers)
    return prepare(raw, root / "store", size, progress=False, workers=workers)


def resident_data(store: Path, samples: int | None, device: torch.device) -> DeviceResidentSplit:
    """Copy the store's train split onto the device once; tile it there to `samples` when asked."""
    data = DeviceResidentSplit(open_split(store, "train"), device)
    n = len(data)
    if samples is not None and samples != n:
        order = torch.arange(samples, device=device) % n
        images = torch.empty((samples, *data.images.shape[1:]), dtype=torch.uint8, device=device)
        for start in range(0, samples, 16384):
            stop = min(start + 16384, samples)
            torch.index_select(data.images, 0, order[start:stop], out=images[start:stop])
        data.images = images
        data.labels = {k: v.index_select(0, order) for k, v in data.labels.items()}
    return data


def sync(device: torch.device) -> None:
    """Wait for queued device work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the check and print its results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, help="prepared store (default: synthetic, tiled on the GPU)")
    parser.add_argument("--samples", type=int, default=287_651, help="samples per epoch (tiles the base set)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--base", type=int, default=2048, help="synthetic images to generate and tile")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--no-bf16", action="store_true", help="float32 instead of bf16 autocast")
    parser.add_argument("--ceiling-steps", type=int, default=60)
    parser.add_argument("--warmup-steps", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA GPU visible; use --device cpu for a smoke run")
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-epoch-") as tmp:
        store = args.store or synthetic_store(Path(tmp), args.base, args.size)
        data = resident_data(store, None if args.store else args.samples, device)
    sync(device)
    load_s = time.perf_counter() - started
    n = len(data)
    print(
        f"data: {n} samples x {tuple(data.images.shape[1:])} uint8 on {device} "
        f"({data.images.numel() / 2**30:.1f} GiB) in {load_s:.1f} s",
        flush=True,
    )

    torch.manual_seed(0)
    model = build_model(args.arch, num_classes=len(data.class_names)).to(device)
    model = model.to(memory_format=torch.channels_last).train()
    net = torch.compile(model) if args.compile else model
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    augment = BatchAugment(**AUGMENT)  # type: ignore[arg-type]
    loss_cfg = LossConfig()
    dtype = torch.float32 if args.no_bf16 else torch.bfloat16
    use_amp = not args.no_bf16

    def step(x: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            outputs = net(x)
            loss = compute_losses(outputs, batch, loss_cfg)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    sampler = BatchIndexSampler(n, args.batch_size, shuffle=True, drop_last=True, seed=0)
    loader = DeviceBatchLoader(data, sampler)
    # warm-up (cuDNN autotuning, compilation) on the real path
    for i, batch in enumerate(loader):
        step(prepare_batch(batch["image"], MEAN, STD, augment), batch)
        if i + 1 >= args.warmup_steps:
            break
    sync(device)

    fixed = next(iter(loader))
    fixed_x = prepare_batch(fixed["image"], MEAN, STD, augment)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.ceiling_steps):
        step(fixed_x, fixed)
    sync(device)
    ceiling = args.ceiling_steps * args.batch_size / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    batches = 0
    for batch in loader:  # data path alone: on-device gather, uint8 -> float, augmentation, normalisation
        prepare_batch(batch["image"], MEAN, STD, augment)
        batches += 1
        if batches >= args.ceiling_steps:
            break
    sync(device)
    data_only = batches * args.batch_size / (time.perf_counter() - t0)

    sampler.set_epoch(1)
    seen = 0
    sync(device)
    t0 = time.perf_counter()
    for batch in loader:
        loss = step(prepare_batch(batch["image"], MEAN, STD, augment), batch)
        seen += batch["image"].shape[0]
    sync(device)
    epoch_s = time.perf_counter() - t0
    rate = seen / epoch_s
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "arch": args.arch,
        "size": args.size,
        "batch_size": args.batch_size,
        "samples": n,
        "bf16": use_amp,
        "channels_last": True,
        "compile": args.compile,
        "data_load_s": round(load_s, 1),
        "epoch_images": seen,
        "epoch_s": round(epoch_s, 2),
        "epoch_images_per_s": round(rate, 1),
        "model_only_images_per_s": round(ceiling, 1),
        "data_path_only_images_per_s": round(data_only, 1),
        "end_to_end_vs_ceiling": round(rate / ceiling, 4),
        "data_path_cost": round(1 - rate / ceiling, 4),
        "epoch_287k_s_at_this_rate": round(287_651 / rate, 1),
        "final_loss": float(loss),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 1)
        if device.type == "cuda"
        else None,
        "targets": {
            "epoch_le_60s": 287_651 / rate <= 60.0,
            "data_path_cost_lt_10pct": 1 - rate / ceiling < 0.10,
        },
    }
    print(
        f"epoch: {seen} images in {epoch_s:.1f} s = {rate:,.0f} img/s; "
        f"model-only ceiling {ceiling:,.0f} img/s; "
        f"data path alone {data_only:,.0f} img/s; data-path cost {1 - rate / ceiling:.1%}"
    )
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
