"""Config loading: YAML, dotted overrides, per-arch blocks and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.errors import AffectlabError
from affectlab.training.config import TrainConfig, load_config, parse_override, save_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_valid() -> None:
    cfg = load_config()
    assert isinstance(cfg, TrainConfig) and cfg.monitor == "val/score"


def test_overrides_are_typed() -> None:
    cfg = load_config(
        {},
        [
            "optim.lr=3e-4",
            "trainer.max_epochs=3",
            "augment.enabled=true",
            "augment.crop_scale=[0.5, 1.0]",
            "model.pretrained=null",
            "data.path=/x",
        ],
    )
    assert cfg.optim.lr == 3e-4 and cfg.trainer.max_epochs == 3 and cfg.augment.enabled is True
    assert cfg.augment.crop_scale == [0.5, 1.0] and cfg.model.pretrained is None and cfg.data.path == "/x"
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])


def test_unknown_key_names_key_and_valid_ones() -> None:
    with pytest.raises(AffectlabError, match=r"optim\.lrr.*valid keys.*\blr\b"):
        load_config({}, ["optim.lrr=1"])
    with pytest.raises(AffectlabError, match="unknown config key 'bogus'"):
        load_config({"bogus": 1})


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("optim.name=rmsprop", "optim.name must be one of"),
        ("trainer.max_epochs=abc", "trainer.max_epochs"),
        ("data.batch_size=0", "data.batch_size"),
        ("augment.hflip=2", "augment.hflip"),
        ("nan_policy=ignore", "nan_policy"),
        ("trainer.max_epochs=1.5", "integer"),
        ("optim", "key=value"),
    ],
)
def test_bad_values_are_rejected(override: str, match: str) -> None:
    with pytest.raises(AffectlabError, match=match):
        load_config({}, [override])


def test_seed_recipe_per_arch_epochs() -> None:
    seed = CONFIGS / "seed_recipe.yaml"
    r18 = load_config(seed)
    assert (
        r18.optim.name,
        r18.optim.lr,
        r18.scheduler.name,
        r18.scheduler.step_size,
        r18.scheduler.gamma,
    ) == ("adam", 1e-3, "step", 4, 0.1)
    assert r18.data.batch_size == 64 and r18.trainer.max_epochs == 10 and r18.model.pretrained is None
    eff = load_config(seed, ["model.arch=efficientnet_b1"])
    assert eff.trainer.max_epochs == 8 and eff.model.pretrained == "imagenet"
    assert load_config(seed, ["model.arch=mobilenet_v2"]).trainer.max_epochs == 10
    # explicit CLI values beat the per-arch block
    assert load_config(seed, ["model.arch=efficientnet_b1", "trainer.max_epochs=2"]).trainer.max_epochs == 2


def test_default_and_demo_configs_load() -> None:
    d = load_config(CONFIGS / "default.yaml")
    assert d.optim.name == "adamw" and d.scheduler.name == "cosine" and d.augment.enabled
    assert d.loss.label_smoothing == 0.1 and d.data.sampling == "balanced"
    assert load_config(CONFIGS / "demo.yaml").trainer.max_epochs >= 1


def test_resolved_config_roundtrip(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "default.yaml", ["optim.lr=5e-4", "model.arch=efficientnet_b1"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(AffectlabError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(AffectlabError, match="mapping"):
        load_config(bad)
