"""`affectlab synth`: generate the embedded AffectNet-shaped synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from affectlab.data.synth_names import FORMATS, LAYOUTS
from affectlab.errors import AffectlabError


def synth(
    out: Path = typer.Argument(..., help="Output folder: new, empty, or a previous synth output."),
    train: int = typer.Option(10000, "--train", help="Training images (AffectNet class imbalance)."),
    val: int = typer.Option(1000, "--val", help="Validation images (balanced over the 8 classes)."),
    size: int = typer.Option(112, "--size", help="Face image side in pixels (official: face box side)."),
    layout: str = typer.Option(
        "repackaged",
        "--layout",
        help=f"AffectNet layouts: {', '.join(LAYOUTS)}; other formats: {', '.join(FORMATS)}, affwild2.",
    ),
    frames: int = typer.Option(60, "--frames", help="affwild2: frames per video (--train/--val: videos)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same bytes."),
    workers: int | None = typer.Option(None, "--workers", help="Processes (default: all cores, max 8)."),
    label_noise: float = typer.Option(0.02, "--label-noise", help="Fraction of expression labels flipped."),
    balanced: bool = typer.Option(False, "--balanced", help="Balanced train classes instead of AffectNet's."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous synth output in OUT."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    per_split: int = typer.Option(
        200, "--per-split", help="Other formats: faces per split (ExpW: 3x, hash split)."
    ),
    traps: bool = typer.Option(False, "--traps", help="Other formats: add each format's known problems."),
) -> None:
    """Render a synthetic face dataset shaped exactly like AffectNet, or a fixture in another format."""
    if layout == "affwild2":  # videos whose valence/arousal drift: affectlab.data.synth_video
        from affectlab.data.synth_video import generate_affwild2

        root = generate_affwild2(
            out, train=train, val=val, frames=frames, size=size, seed=seed, invalid_every=25
        )
        typer.echo(f"wrote affwild2 layout to {root}: {train} + {val} videos of {frames} frames ({size} px)")
        return
    if layout in FORMATS:
        from affectlab.data.synth_formats import generate_format

        path = generate_format(out, layout, per_split=per_split, size=size, seed=seed, traps=traps)
        typer.echo(
            f"wrote a {layout} fixture to {path} ({per_split} faces per split, seed {seed}, traps {traps})"
        )
        return
    if layout not in LAYOUTS:
        raise AffectlabError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    from affectlab.data.synth import generate

    path = generate(
        out,
        train=train,
        val=val,
        size=size,
        layout=layout,
        seed=seed,
        workers=workers,
        class_counts=[1.0] * 8 if balanced else None,
        label_noise=label_noise,
        progress=not quiet,
        overwrite=overwrite,
    )
    meta = json.loads((path / "synth.json").read_text(encoding="utf-8"))
    for split, info in meta["splits"].items():
        per_class = ", ".join(f"{k} {v}" for k, v in info["labelled_per_class"].items())
        typer.echo(f"{split}: {info['images']} images ({per_class}); {info['label_flips']} labels flipped")
    typer.echo(f"wrote {layout} layout to {path} (seed {seed}, {size} px); see {path / 'synth.json'}")


def register(app: typer.Typer) -> None:
    """Add the `synth` command to the app."""
    app.command("synth")(synth)
