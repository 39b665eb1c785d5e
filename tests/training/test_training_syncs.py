"""The training step reads nothing back from the device: host syncs counted per step with a TorchFunctionMode.

On the CPU a "sync" is free, so these tests count the calls that would stall a GPU (``bool(t)``,
``t.item()``, ``.tolist()``, ``.cpu()``, boolean-mask gathers, ``nonzero``, tensors built from Python data)
made by affectlab's or Lightning's code between one training batch and the next.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.overrides import TorchFunctionMode

import affectlab.training.module as module_mod
import affectlab.training.trainer as trainer_mod
from affectlab.errors import AffectlabError
from affectlab.training import train
from helpers.doubles import nan_loss_at

#: Calls that make the host wait for the device (or copy host data to it) when the tensor is on a GPU.
SYNCS = {
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "item",
    "tolist",
    "cpu",
    "numpy",
    "nonzero",
    "masked_select",
    "unique",
    "tensor",
    "as_tensor",
}
WATCHED = (f"{Path(module_mod.__file__).parents[1]}", f"{Path(pl.__file__).parent}")
#: (file, function) of code that only runs for CPU tensors, where these calls are free: the normalisation
#: table lookup (on any other device the torch arithmetic runs; test_normalise_off_the_cpu_is_torch_only).
CPU_ONLY = {("normalise.py", "_looked_up")}


class SyncCounter(TorchFunctionMode):
    """Record sync-making torch calls whose caller is affectlab or Lightning code."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        caller = sys._getframe(1).f_code.co_filename
        bool_mask = name == "__getitem__" and any(
            isinstance(a, torch.Tensor) and a.dtype == torch.bool for a in args[1:]
        )
        frame = sys._getframe(1)
        cpu_only = (Path(caller).name, frame.f_code.co_name) in CPU_ONLY
        if (name in SYNCS or bool_mask) and caller.startswith(WATCHED) and not cpu_only:
            self.calls.append(f"{name} ({Path(caller).name}:{sys._getframe(1).f_lineno})")
        return func(*args, **(kwargs or {}))


class CountPerStep(pl.Callback):
    """Count syncs from one training batch's start to the next one's (the whole loop iteration)."""

    def __init__(self) -> None:
        self.mode: SyncCounter | None = None
        self.steps: list[list[str]] = []

    def _close(self) -> None:
        if self.mode is not None:
            self.mode.__exit__(None, None, None)
            self.steps.append(self.mode.calls)
            self.mode = None

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._close()
        self.mode = SyncCounter()
        self.mode.__enter__()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._close()  # validation and the epoch's end read results back once per epoch, by design

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._close()


def _train_counting(monkeypatch, tmp_path, make_config, split_factory, tiny_model, overrides) -> CountPerStep:
    counter = CountPerStep()
    real = trainer_mod.build_callbacks

    def with_counter(*args: Any, **kwargs: Any) -> Any:
        callbacks, ckpt, interrupt = real(*args, **kwargs)
        return [*callbacks, counter], ckpt, interrupt

    monkeypatch.setattr("affectlab.training.run.build_callbacks", with_counter)
    config = make_config(tmp_path / "run")
    torch.manual_seed(0)
    train(
        config,
        ["trainer.log_every_n_steps=1000", *overrides],
        train_split=split_factory(96, 32, 0),
        val_split=split_factory(16, 32, 1),
        model=tiny_model(),
    )
    return counter


def test_training_steps_make_no_host_sync(
    monkeypatch, tmp_path, make_config, split_factory, tiny_model
) -> None:
    # What a GPU run does by default: the loss flags are read every few steps, not every step.
    extra = [
        "speed.finite_check_every=1000",
        "augment.enabled=true",
        "augment.brightness=0.2",
        "augment.contrast=0.2",
        "augment.saturation=0.2",
        "augment.erasing=0.5",
        "loss.ccc_weight=0.5",
        "loss.class_weights=balanced",
        "data.gpu_resident=true",
    ]
    counter = _train_counting(monkeypatch, tmp_path, make_config, split_factory, tiny_model, extra)
    assert len(counter.steps) == 12  # 6 steps in each of 2 epochs
    firsts, others = counter.steps[::6], [c for i, c in enumerate(counter.steps) if i % 6]
    assert all(calls == [] for calls in others), others
    # An epoch's first step: only Lightning creating its running-mean states (torch.tensor(0.0), on the host).
    assert all(c.startswith("tensor (result.py") for calls in firsts for c in calls), firsts


def test_normalise_off_the_cpu_is_torch_only() -> None:
    # the CPU table lookup is the only place that turns a batch into numpy; on another device (here the
    # shape-only "meta" device) normalisation and the augmentation's first step stay in torch
    from affectlab.preprocessing import normalise_tensor, to_unit

    images = torch.empty((2, 8, 8, 3), dtype=torch.uint8, device="meta")
    normalise_tensor(images, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))  # the constants, made once per device
    counter = SyncCounter()
    with counter:
        out = normalise_tensor(images, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), channels_last=True)
        unit = to_unit(images)
    assert out.device.type == unit.device.type == "meta" and out.shape == (2, 3, 8, 8)
    assert counter.calls == []
    cpu = SyncCounter()
    with cpu:
        normalise_tensor(torch.zeros((2, 8, 8, 3), dtype=torch.uint8), (0.5,) * 3, (0.25,) * 3)
    assert cpu.calls == []  # the lookup's numpy view is exempt by name (CPU_ONLY), and nothing else syncs


def test_cpu_default_reads_the_loss_each_step(
    monkeypatch, tmp_path, make_config, split_factory, tiny_model
) -> None:
    # The counter can see a sync: on the CPU the loss is checked (free there) at every step.
    counter = _train_counting(monkeypatch, tmp_path, make_config, split_factory, tiny_model, [])
    assert all(any("tolist" in c for c in calls) for calls in counter.steps), counter.steps
    speed = json.loads((tmp_path / "run" / "run.json").read_text())["speed"]
    assert speed["threads"] == torch.get_num_threads() and speed["device"] == "cpu"
    assert speed["fill_uninitialized_memory"] is False


def test_deferred_check_names_the_first_bad_step_and_saves_no_checkpoint_after_it(
    tmp_path, monkeypatch, make_config, split_factory, tiny_model
) -> None:
    nan_loss_at(monkeypatch, 5)  # 4 steps an epoch: epoch 1, batch 1; flags read at steps 2, 3 (epoch end), 6
    out = tmp_path / "nan"
    config = make_config(out)
    torch.manual_seed(0)
    with pytest.raises(AffectlabError, match=r"global step 5 \(epoch 1, batch 1\).*last good checkpoint"):
        train(
            config,
            ["speed.finite_check_every=3"],
            train_split=split_factory(64, 32, 0),
            val_split=split_factory(32, 32, 1),
            model=tiny_model(),
        )
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 4  # the end of epoch 0: nothing saved after the bad step
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
