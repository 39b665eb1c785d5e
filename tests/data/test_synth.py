"""The embedded synthetic dataset: counts, VA, layouts, determinism and learnability hints."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from affectlab.data.synth import (
    AFFECTNET_TRAIN_COUNTS,
    MANIFEST_HEADER,
    OFFICIAL_HEADER,
    generate,
    sample_va,
    train_class_counts,
    val_class_counts,
)
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES

SMALL = dict(train=40, val=16, size=48, progress=False)


def tree_digest(root: Path) -> dict[str, str]:
    """Map every file under root (relative path) to the SHA-256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def load_str_npy(path: Path) -> str:
    arr = np.load(path)
    assert arr.shape == () and arr.dtype.kind == "U", f"{path} is not a numpy string scalar: {arr!r}"
    return str(arr)


def grad_features(path: Path) -> np.ndarray:
    """Tiny HOG-like features: gradient magnitude per 6 orientation bins pooled on a 12x12 grid."""
    im = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (48, 48), interpolation=cv2.INTER_AREA)
    im = im.astype(np.float32)
    gx, gy = cv2.Sobel(im, cv2.CV_32F, 1, 0), cv2.Sobel(im, cv2.CV_32F, 0, 1)
    mag, bins = np.hypot(gx, gy), np.floor((np.arctan2(gy, gx) % np.pi) / np.pi * 6)
    pooled = [cv2.resize(mag * (bins == b), (12, 12), interpolation=cv2.INTER_AREA) for b in range(6)]
    flat = np.stack(pooled).reshape(-1)
    return flat / (np.linalg.norm(flat) + 1e-6)


def read_repackaged(root: Path, split: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, expression, valence, arousal of the first n images of a repackaged split."""
    base = root / f"{split}_set"
    feats = np.stack([grad_features(base / "images" / f"{i}.jpg") for i in range(n)])
    ann = base / "annotations"
    exp = np.array([int(load_str_npy(ann / f"{i}_exp.npy")) for i in range(n)])
    val = np.array([float(load_str_npy(ann / f"{i}_val.npy")) for i in range(n)])
    aro = np.array([float(load_str_npy(ann / f"{i}_aro.npy")) for i in range(n)])
    return feats, exp, val, aro


# ---------------------------------------------------------------- class counts and VA


def test_train_counts_reproduce_affectnet_and_scale_down() -> None:
    assert train_class_counts(287651).tolist() == list(AFFECTNET_TRAIN_COUNTS)
    for n in (8, 9, 100, 1000, 12345):
        counts = train_class_counts(n)
        assert counts.sum() == n and counts.min() >= 1
    counts = train_class_counts(10000)
    expected = np.array(AFFECTNET_TRAIN_COUNTS) / sum(AFFECTNET_TRAIN_COUNTS) * 10000
    assert np.abs(counts - expected).max() < 1.0
    assert counts[1] > counts[0] > counts[2] > counts[6] > counts[3] > counts[4] > counts[5] > counts[7]
    with pytest.raises(AffectlabError, match="too small"):
        train_class_counts(7)


def test_val_counts_are_balanced_like_affectnet() -> None:
    assert val_class_counts(4000).tolist() == [500] * 8
    assert val_class_counts(3999).tolist() == [500] * 7 + [499]
    assert val_class_counts(10).tolist() == [2, 2, 1, 1, 1, 1, 1, 1]


def test_va_distributions_follow_the_circumplex() -> None:
    rng = np.random.default_rng(0)
    va = {c: np.array([sample_va(c, rng) for _ in range(2000)]) for c in range(8)}
    for arr in va.values():
        assert arr.min() >= -1.0 and arr.max() <= 1.0
    mean = {AFFECTNET_CLASSES[c]: arr.mean(0) for c, arr in va.items()}
    assert np.abs(mean["neutral"]).max() < 0.05 and va[0].std(0).max() < 0.2
    assert mean["happy"][0] > 0.4 and mean["happy"][1] > 0.15
    assert mean["sad"][0] < -0.4 and mean["sad"][1] < -0.15
    assert abs(mean["surprise"][0]) < 0.15 and mean["surprise"][1] > 0.5
    for name in ("fear", "anger"):
        assert mean[name][0] < -0.2 and mean[name][1] > 0.4
    assert mean["disgust"][0] < -0.4 and 0.1 < mean["disgust"][1] < 0.5
    assert -0.6 < mean["contempt"][0] < -0.1 and -0.05 < mean["contempt"][1] < 0.35


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes_across_worker_counts(tmp_path: Path) -> None:
    one = tree_digest(generate(tmp_path / "a", seed=7, workers=1, **SMALL))
    two = tree_digest(generate(tmp_path / "b", seed=7, workers=2, **SMALL))
    assert one == two and len(one) == 1 + 56 * 5
    other = tree_digest(generate(tmp_path / "c", seed=8, workers=1, **SMALL))
    assert set(other) == set(one)
    differing = sum(other[k] != one[k] for k in one if k.endswith(".jpg"))
    assert differing == 56


# ---------------------------------------------------------------- layouts


def test_repackaged_layout_uses_string_scalars(tmp_path: Path) -> None:
    root = generate(tmp_path / "r", seed=1, **SMALL)
    meta = json.loads((root / "synth.json").read_text())
    assert not (root / ".synth-incomplete").exists()
    for split, n in (("train", 40), ("val", 16)):
        base = root / f"{split}_set"
        labels = []
        for i in range(n):
            img = cv2.imread(str(base / "images" / f"{i}.jpg"))
            assert img.shape == (48, 48, 3)
            labels.append(int(load_str_npy(base / "annotations" / f"{i}_exp.npy")))
            for kind in ("val", "aro"):
                assert -1.0 <= float(load_str_npy(base / "annotations" / f"{i}_{kind}.npy")) <= 1.0
            lnd_text = load_str_npy(base / "annotations" / f"{i}_lnd.npy")
            lnd = np.array(lnd_text.split(";"), float).reshape(68, 2)
            assert (lnd > -5).all() and (lnd < 53).all()
            # iBUG-68 order: chin below nose tip below eyes below brows; left eye left of right eye.
            assert lnd[8, 1] > lnd[30, 1] > lnd[36:48, 1].mean() > lnd[17:27, 1].mean()
            assert lnd[36:42, 0].mean() < lnd[42:48, 0].mean()
        counts = np.bincount(labels, minlength=8).tolist()
        assert counts == list(meta["splits"][split]["labelled_per_class"].values())
        assert len(list((base / "images").iterdir())) == n


def test_official_layout_has_exact_header_scenes_and_boxes(tmp_path: Path) -> None:
    root = generate(tmp_path / "o", layout="official", seed=2, **SMALL)
    lists = root / "Manually_Annotated_file_lists"
    for name, n in (("training.csv", 40), ("validation.csv", 16)):
        with (lists / name).open(newline="") as f:
            reader = csv.reader(f)
            assert tuple(next(reader)) == OFFICIAL_HEADER
            rows = list(reader)
        assert len(rows) == n
        for row in rows:
            img = cv2.imread(str(root / "Manually_Annotated_Images" / row[0]))
            h, w = img.shape[:2]
            x, y, bw, bh = (int(v) for v in row[1:5])
            assert min(x, y) >= 0 and x + bw <= w and y + bh <= h
            assert bw >= 30 and bh >= 30 and (w > bw * 1.2 or h > bh * 1.2)  # a scene, not a crop
            lnd = np.array(row[5].split(";"), float).reshape(68, 2)
            assert (lnd[:, 0] > x).all() and (lnd[:, 0] < x + bw).all()
            assert (lnd[:, 1] > y).all() and (lnd[:, 1] < y + bh).all()
            assert 0 <= int(row[6]) <= 7 and -1 <= float(row[7]) <= 1 and -1 <= float(row[8]) <= 1


def test_folders_and_manifest_layouts(tmp_path: Path) -> None:
    root = generate(tmp_path / "f", layout="folders", seed=3, **SMALL)
    meta = json.loads((root / "synth.json").read_text())
    for split in ("train", "val"):
        found = [len(list((root / split / name).glob("*.jpg"))) for name in AFFECTNET_CLASSES]
        assert found == list(meta["splits"][split]["labelled_per_class"].values())
    root = generate(tmp_path / "m", layout="manifest", seed=3, **SMALL)
    for name, n in (("train.csv", 40), ("val.csv", 16)):
        with (root / name).open(newline="") as f:
            rows = list(csv.reader(f))
        assert tuple(rows[0]) == MANIFEST_HEADER and len(rows) == n + 1
        assert all((root / r[0]).is_file() and 0 <= int(r[1]) <= 7 for r in rows[1:])


def test_train_split_follows_the_imbalance_and_label_noise_is_counted(tmp_path: Path) -> None:
    root = generate(tmp_path / "i", train=400, val=0, size=32, seed=4, label_noise=0.0, progress=False)
    meta = json.loads((root / "synth.json").read_text())["splits"]["train"]
    assert list(meta["labelled_per_class"].values()) == train_class_counts(400).tolist()
    assert meta["label_flips"] == 0
    root = generate(tmp_path / "n", train=400, val=0, size=32, seed=4, label_noise=0.5, progress=False)
    meta = json.loads((root / "synth.json").read_text())["splits"]["train"]
    assert 150 < meta["label_flips"] < 250
    assert list(meta["rendered_per_class"].values()) == train_class_counts(400).tolist()


def test_refuses_foreign_folders_and_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(AffectlabError, match="not empty"):
        generate(tmp_path / "x", **SMALL)
    with pytest.raises(AffectlabError, match="not empty"):
        generate(tmp_path / "x", overwrite=True, **SMALL)
    assert (tmp_path / "x" / "keep.txt").exists()
    generate(tmp_path / "y", seed=0, **SMALL)
    with pytest.raises(AffectlabError, match="--overwrite"):
        generate(tmp_path / "y", seed=1, **SMALL)
    generate(tmp_path / "y", seed=1, overwrite=True, **SMALL)
    with pytest.raises(AffectlabError, match="layout"):
        generate(tmp_path / "z", layout="zip", **SMALL)
    with pytest.raises(AffectlabError, match="unknown class"):
        generate(tmp_path / "z", class_counts={"joyful": 1}, **SMALL)


def test_cli_synth(tmp_path: Path) -> None:
    from affectlab.cli import app

    result = CliRunner().invoke(
        app,
        [
            "synth",
            str(tmp_path / "c"),
            "--train",
            "24",
            "--val",
            "8",
            "--size",
            "40",
            "--layout",
            "official",
            "--seed",
            "5",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "train: 24 images" in result.output and "val: 8 images" in result.output
    assert (tmp_path / "c" / "Manually_Annotated_file_lists" / "training.csv").is_file()


# ---------------------------------------------------------------- learnability hints


def linear(model: object) -> object:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), model)


def test_simple_features_separate_classes_and_predict_va(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression, Ridge

    root = generate(
        tmp_path / "b", train=800, val=240, size=48, seed=11, class_counts=[1] * 8, progress=False
    )
    xt, yt, vt, at = read_repackaged(root, "train", 800)
    xv, yv, vv, av = read_repackaged(root, "val", 240)
    acc = (linear(LogisticRegression(C=0.01, max_iter=2000)).fit(xt, yt).predict(xv) == yv).mean()
    assert acc > 3 * (1 / 8), f"a linear classifier on gradient features only reaches {acc:.3f}"
    for name, train_y, val_y, floor in (("valence", vt, vv, 0.5), ("arousal", at, av, 0.35)):
        r = np.corrcoef(linear(Ridge(alpha=1000.0)).fit(xt, train_y).predict(xv), val_y)[0, 1]
        assert r > floor, f"ridge regression predicts {name} with r = {r:.3f} only"


def test_valence_is_rendered_beyond_the_class(tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge

    root = generate(
        tmp_path / "h",
        train=500,
        val=0,
        size=48,
        seed=12,
        class_counts={"happy": 1},
        label_noise=0.0,
        progress=False,
    )
    x, y, v, _ = read_repackaged(root, "train", 500)
    assert (y == 1).all() and v.std() > 0.1
    r = np.corrcoef(linear(Ridge(alpha=1000.0)).fit(x[:350], v[:350]).predict(x[350:]), v[350:])[0, 1]
    assert r > 0.2, f"within one class, valence is predicted with r = {r:.3f} only"
