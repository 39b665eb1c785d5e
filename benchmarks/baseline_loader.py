"""The baseline: an original-study-style AffectNet loader (PIL, ToTensor, Normalize, 3 np.load per item).

It reads the re-packaged layout (``train_set/images/N.jpg``, ``train_set/annotations/N_{exp,val,aro}.npy``)
one item at a time in the process that iterates it, the way the original study's loader did, and delivers
normalised float batches of 64 ready for the device; `affectlab bench` compares affectlab's loaders with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

SPLIT_DIRS = {"train": "train_set", "val": "val_set"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BaselineDataset(Dataset):
    """One face per item: PIL decode, Resize, ToTensor, Normalize, and one np.load per label file."""

    def __init__(self, root: str | Path, split: str = "train", size: int = 224) -> None:
        base = Path(root) / SPLIT_DIRS[split]
        self.images = base / "images"
        self.annotations = base / "annotations"
        self.ids = sorted(p.stem for p in self.images.iterdir() if p.suffix.lower() == ".jpg")
        self.transform = transforms.Compose(
            [
                transforms.Resize((size, size)),
                transforms.ToTensor(),
                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, float, float]:
        sid = self.ids[index]
        image = Image.open(self.images / f"{sid}.jpg").convert("RGB")
        expression = int(float(np.load(self.annotations / f"{sid}_exp.npy").item()))
        valence = float(np.load(self.annotations / f"{sid}_val.npy").item())
        arousal = float(np.load(self.annotations / f"{sid}_aro.npy").item())
        return self.transform(image), expression, valence, arousal


def baseline_loader(
    root: str | Path,
    split: str = "train",
    size: int = 224,
    batch_size: int = 64,
    num_workers: int = 0,
    shuffle: bool = True,
    seed: int = 0,
) -> DataLoader:
    """Return the baseline DataLoader: batches of (image float NCHW, expression, valence, arousal)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        BaselineDataset(root, split, size),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
    )


if __name__ == "__main__":
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Time one epoch of the baseline loader.")
    parser.add_argument("root", help="re-packaged layout folder (train_set/, val_set/)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    loader = baseline_loader(args.root, size=args.size, num_workers=args.workers)
    started, seen = time.perf_counter(), 0
    for images, *_ in loader:
        seen += len(images)
    seconds = time.perf_counter() - started
    print(f"{seen} images in {seconds:.2f} s: {seen / seconds:.0f} images/s")
