"""Aff-Wild2-shaped generated data: short face sequences whose valence and arousal drift over time.

Each video is one generated person (the embedded renderer of :mod:`affectlab.data.synth_render`, same
identity, lighting and background in every frame) going through a few expressions; valence and arousal move
smoothly from one expression's circumplex point to the next with a slow drift on top, and the face geometry
follows them frame by frame. Written in the ABAW layout that :mod:`affectlab.data.readers.affwild2` reads,
with the EXPR header in Aff-Wild2's own class order, so the by-name mapping is exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from affectlab.data.readers.affwild2 import AFFWILD2_CLASSES, CHALLENGES, FRAMES_DIR, SPLIT_DIRS
from affectlab.data.synth_classes import expression_for, sample_va
from affectlab.data.synth_render import encode_jpeg, render
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES, canonical_name

#: affectlab class index -> Aff-Wild2 class index, by name (contempt has none).
TO_AFFWILD2: dict[int, int] = {
    AFFECTNET_CLASSES.index(canonical_name(n)): i for i, n in enumerate(AFFWILD2_CLASSES) if n != "Other"
}


def va_path(frames: int, classes: list[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame valence and arousal: segment targets joined by smooth ramps, plus a slow drift."""
    targets = np.array([sample_va(c, rng) for c in classes])
    seg = frames / len(classes)
    t = np.arange(frames)
    pos = np.clip((t - seg / 2) / seg, 0, len(classes) - 1)  # 0..n-1, reaching each target mid-segment
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(classes) - 1)
    w = pos - lo
    w = w * w * (3 - 2 * w)  # smooth start and end of each change
    va = targets[lo] * (1 - w[:, None]) + targets[hi] * w[:, None]
    drift = 0.08 * np.sin(
        2 * np.pi * (t / max(frames, 1) * rng.uniform(1.0, 2.0) + rng.uniform(0, 1, (2, 1)))
    )
    va = np.clip(va + drift.T, -1.0, 1.0)
    return va[:, 0], va[:, 1]


def _video(folder: Path, frames: int, size: int, seed: list[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Render one video's frames; return its valence, arousal and affectlab class per frame."""
    rng = np.random.default_rng(seed)
    classes = [int(c) for c in rng.choice(sorted(TO_AFFWILD2), size=3, replace=True)]
    valence, arousal = va_path(frames, classes, rng)
    seg = frames / len(classes)
    per_frame = [classes[min(int(i / seg), len(classes) - 1)] for i in range(frames)]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        expr = expression_for(
            per_frame[i], float(valence[i]), float(arousal[i]), np.random.default_rng([*seed, 1])
        )
        # the same generator state every frame: the same person, light and background; only affect moves
        img = render(
            expr,
            np.random.default_rng([*seed, 2]),
            canvas=(size, size),
            face_px=0.8 * size,
            center=(size / 2,) * 2,
        ).image
        noise = np.random.default_rng([*seed, 3, i]).normal(0, 3, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
        (folder / f"{i + 1:05d}.jpg").write_bytes(encode_jpeg(img, 90))
    return valence, arousal, per_frame


def generate_affwild2(
    out: str | Path,
    *,
    train: int = 6,
    val: int = 3,
    frames: int = 60,
    size: int = 112,
    seed: int = 0,
    invalid_every: int = 0,
    other_every: int = 0,
) -> Path:
    """Write `train` + `val` generated videos of `frames` frames in the ABAW layout; return the root.

    ``invalid_every`` N marks every N-th frame unannotated (-5 for valence/arousal, -1 for the expression);
    ``other_every`` N labels every N-th frame Aff-Wild2's ``Other``.
    """
    root = Path(out)
    if frames < 3 or size < 32 or train < 0 or val < 0 or train + val == 0:
        raise AffectlabError("generate_affwild2: need frames >= 3, size >= 32 and at least one video")
    if train + val > 1000:
        raise AffectlabError(
            f"{train} + {val} videos asked for: the affwild2 layout counts videos, not frames"
        )
    if root.exists() and (not root.is_dir() or any(root.iterdir())):  # never write over what the user has
        raise AffectlabError(f"{root}: not an empty folder; choose a new folder for the affwild2 fixture")
    header = ",".join(AFFWILD2_CLASSES)
    meta: dict[str, dict[str, int]] = {}
    for s, (split, count) in enumerate((("train", train), ("val", val))):
        va_dir = root / "annotations" / CHALLENGES["va"] / SPLIT_DIRS[split]
        ex_dir = root / "annotations" / CHALLENGES["expr"] / SPLIT_DIRS[split]
        va_dir.mkdir(parents=True, exist_ok=True)
        ex_dir.mkdir(parents=True, exist_ok=True)
        for k in range(count):
            name = f"{split}-{k + 1:03d}"
            valence, arousal, classes = _video(root / FRAMES_DIR / name, frames, size, [seed, s, k])
            va_lines, ex_lines = ["valence,arousal"], [header]
            for i in range(frames):
                invalid = invalid_every > 0 and (i + 1) % invalid_every == 0
                other = other_every > 0 and (i + 1) % other_every == 0
                va_lines.append("-5,-5" if invalid else f"{valence[i]:.6f},{arousal[i]:.6f}")
                ex_lines.append("-1" if invalid else "7" if other else str(TO_AFFWILD2[classes[i]]))
            (va_dir / f"{name}.txt").write_text("\n".join(va_lines) + "\n", encoding="utf-8")
            (ex_dir / f"{name}.txt").write_text("\n".join(ex_lines) + "\n", encoding="utf-8")
        meta[split] = {"videos": count, "frames": count * frames}
    info = {"generator": "affectlab.data.synth_video", "seed": seed, "size": size, "splits": meta}
    (root / "synth.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return root
