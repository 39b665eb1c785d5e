"""GPU check of issue 17: `affectlab train` itself for one 287K-image epoch at 224 px, next to the bare loop.

1. Generates `--base` synthetic faces (the embedded dataset) at `--size` px and prepares them into a store.
2. Bare-loop ceiling: the same step the product's config asks for (model, batch size, on-device augmentation,
   multi-task loss, AdamW, gradient clipping), written as a plain loop with every speed setting on (cuDNN
   autotuning, TF32, fused AdamW, channels_last, bf16 autocast) over the store's train split tiled to
   `--samples` and held on the GPU; images/s over `--bare-steps` steps after warm-up, and the model-only
   rate (one prepared batch, no data path).
3. The product: `affectlab.training.train` (what `affectlab train` runs: Lightning, the config's datamodule
   with `data.gpu_resident=true`, its module, callbacks and checkpoints) with `--config` for one epoch over
   the same tiled split; a callback times the epoch (first batch to last, and steady state after warm-up).
4. Prints both rates, the ratio (target >= 0.9) and the epoch time (target <= 60 s on one H200), then one
   JSON line.

    python benchmarks/gpu_epoch.py --json gpu.json       # the issue's check (~45 GB of GPU memory, ~5 min)
    python benchmarks/gpu_epoch.py --device cpu --samples 256 --size 64 --base 64 --batch-size 16 \\
        --bare-steps 4 --warmup-steps 2                   # CPU smoke run
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from affectlab.bench.datasets import AFFECTNET_TRAIN, TiledSplit
from affectlab.data import open_split
from affectlab.data.sampling import BatchIndexSampler, DeviceBatchLoader, DeviceResidentSplit
from affectlab.data.transforms import BatchAugment, prepare_batch
from affectlab.models import build_model
from affectlab.training.config import TrainConfig, load_config
from affectlab.training.module import compute_losses

ROOT = Path(__file__).resolve().parents[1]


def synthetic_store(root: Path, base: int, size: int) -> Path:
    """Generate `base` synthetic faces at `size` px and prepare them into a store under `root`."""
    from affectlab.data import prepare
    from affectlab.data.synth import generate

    workers = min(os.cpu_count() or 1, 16)
    raw = generate(
        root / "raw", train=base, val=max(64, base // 16), size=size, progress=False, workers=workers
    )
    return prepare(raw, root / "store", size, progress=False, workers=workers)


def sync(device: torch.device) -> None:
    """Wait for queued device work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def product_config(args: argparse.Namespace, out: Path) -> TrainConfig:
    """The product's config (--config) for one epoch on this device, data resident on it."""
    accelerator = "gpu" if args.device.startswith("cuda") else "cpu"
    overrides = {
        "out": str(out),
        "model.arch": args.arch,
        "model.compile": args.compile,
        "data.gpu_resident": True,
        "trainer.max_epochs": 1,
        "trainer.accelerator": accelerator,
        "trainer.devices": 1,
        "trainer.progress_bar": "none",
        "trainer.limit_val_batches": args.val_batches,
        "speed.threads": torch.get_num_threads(),  # the bare loop's: both loops on the same CPU threads
    }
    if args.batch_size:
        overrides["data.batch_size"] = args.batch_size
    return load_config(args.config, overrides)


def bare_loop(cfg: TrainConfig, split: Any, device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """The config's training step as a plain loop with every speed setting on; images/s after warm-up."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    started = time.perf_counter()
    data = DeviceResidentSplit(split, device)
    sync(device)
    load_s = time.perf_counter() - started
    torch.manual_seed(0)
    model = build_model(cfg.model.arch, num_classes=len(data.class_names)).to(device)
    model = model.to(memory_format=torch.channels_last).train()
    net = torch.compile(model) if cfg.model.compile else model
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": cfg.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.optim.lr, fused=device.type == "cuda")
    a = cfg.augment
    augment = (
        BatchAugment(
            tuple(a.crop_scale),
            tuple(a.crop_ratio),
            a.hflip,
            a.brightness,
            a.contrast,
            a.saturation,  # type: ignore[arg-type]
            a.erasing,
            tuple(a.erasing_scale),
            seed=cfg.seed,  # type: ignore[arg-type]
        )
        if a.enabled
        else None
    )
    use_amp = device.type == "cuda" and not args.no_bf16
    mean, std, clip = cfg.data.mean, cfg.data.std, cfg.trainer.gradient_clip_val

    def step(x: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = compute_losses(net(x), batch, cfg.loss)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return loss

    bs = cfg.data.batch_size
    loader = DeviceBatchLoader(data, BatchIndexSampler(len(data), bs, shuffle=True, drop_last=True, seed=0))
    batches = iter(loader)
    for _ in range(args.warmup_steps):  # cuDNN autotuning, compilation
        batch = next(batches)
        step(prepare_batch(batch["image"], mean, std, augment), batch)
    sync(device)
    t0, seen = time.perf_counter(), 0
    for _ in range(args.bare_steps):
        batch = next(batches)
        step(prepare_batch(batch["image"], mean, std, augment), batch)
        seen += batch["image"].shape[0]
    sync(device)
    rate = seen / (time.perf_counter() - t0)
    fixed_x = prepare_batch(batch["image"], mean, std, augment)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.bare_steps):
        step(fixed_x, batch)
    sync(device)
    ceiling = args.bare_steps * bs / (time.perf_counter() - t0)
    return {"data_load_s": round(load_s, 1), "images_per_s": rate, "model_only_images_per_s": ceiling}


class EpochTimer(pl.Callback):
    """Times the training epoch: first batch to last, and from batch `warmup` on (one sync at each mark)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.marks: dict[str, float] = {}
        self.images = self.steady_images = 0

    def _mark(self, name: str, module: Any) -> None:
        sync(module.device)
        self.marks[name] = time.perf_counter()

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            self._mark("start", module)
        if batch_idx == self.warmup:
            self._mark("steady", module)

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        n = int(batch["image"].shape[0])
        self.images += n
        self.steady_images += n if batch_idx >= self.warmup else 0

    def on_validation_start(self, trainer: Any, module: Any) -> None:
        if "end" not in self.marks and "start" in self.marks:
            self._mark("end", module)

    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
        if "end" not in self.marks:
            self._mark("end", module)


def product_run(cfg: TrainConfig, train_split: Any, val_split: Any, warmup: int) -> dict[str, Any]:
    """`affectlab.training.train` for one epoch with an EpochTimer among its callbacks."""
    import affectlab.training.run as run_mod
    from affectlab.training import train

    timer = EpochTimer(warmup)
    real = run_mod.build_callbacks

    def with_timer(*a: Any, **k: Any) -> Any:
        callbacks, ckpt, interrupt = real(*a, **k)
        return [*callbacks, timer], ckpt, interrupt

    run_mod.build_callbacks = with_timer  # type: ignore[assignment]
    started = time.perf_counter()
    try:
        out = train(cfg, train_split=train_split, val_split=val_split)
    finally:
        run_mod.build_callbacks = real  # type: ignore[assignment]
    m = timer.marks
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "epoch_s": m["end"] - m["start"],
        "epoch_images": timer.images,
        "images_per_s": timer.images / (m["end"] - m["start"]),
        "steady_images_per_s": timer.steady_images / (m["end"] - m["steady"]) if "steady" in m else None,
        "run_json": json.loads((Path(out) / "run.json").read_text()),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    parser.add_argument("--store", type=Path, help="a prepared store (default: synthetic, generated here)")
    parser.add_argument("--samples", type=int, default=AFFECTNET_TRAIN, help="train samples (tiles the base)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--base", type=int, default=2048, help="synthetic faces to generate and tile")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compile", action="store_true", help="model.compile (torch.compile) in both loops")
    parser.add_argument("--no-bf16", action="store_true", help="float32 in the bare loop")
    parser.add_argument("--bare-steps", type=int, default=300)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--val-batches", type=int, default=4, help="validation batches after the epoch")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the check and print its results."""
    args = parse(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible; use --device cpu for a smoke run")
    with tempfile.TemporaryDirectory(prefix="gpu-epoch-") as tmp:
        started = time.perf_counter()
        store = args.store or synthetic_store(Path(tmp), args.base, args.size)
        base = open_split(store, "train")
        train_split = TiledSplit(base, args.samples) if args.samples != len(base) else base
        val_split = open_split(store, "val")
        took = time.perf_counter() - started
        print(f"data: {len(train_split)} train samples at {base.image_size} px ({took:.0f} s)")
        cfg = product_config(args, Path(tmp) / "run")
        bare = bare_loop(cfg, train_split, device, args)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        rates = f"{bare['images_per_s']:,.0f} img/s (model only {bare['model_only_images_per_s']:,.0f})"
        print(f"bare loop: {rates}", flush=True)
        product = product_run(cfg, train_split, val_split, args.warmup_steps)
    steady = product["steady_images_per_s"] or product["images_per_s"]
    ratio = steady / bare["images_per_s"]
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "config": str(args.config),
        "arch": cfg.model.arch,
        "size": base.image_size,
        "batch_size": cfg.data.batch_size,
        "samples": len(train_split),
        "bare_loop": bare,
        "affectlab_train": product,
        "train_vs_bare_loop": round(ratio, 4),
        "epoch_287k_s_at_steady_rate": round(AFFECTNET_TRAIN / steady, 1),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 1)
        if device.type == "cuda"
        else None,
        "targets": {"train_vs_bare_ge_0.9": ratio >= 0.9, "epoch_le_60s": product["epoch_s"] <= 60.0},
    }
    print(
        f"affectlab train: epoch of {product['epoch_images']} images in {product['epoch_s']:.1f} s "
        f"({product['images_per_s']:,.0f} img/s; steady {steady:,.0f} img/s); bare loop "
        f"{bare['images_per_s']:,.0f} img/s; ratio {ratio:.3f}"
    )
    print(json.dumps(result, default=str))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
