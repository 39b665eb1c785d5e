"""What training prints: each Lightning message once, no advert or harmless warnings, one line per epoch,
the end-of-run table from metrics.json, and `--resume` of a finished run."""

from __future__ import annotations

import csv
import io
import json
import logging
import warnings

import pytest
import torch

from affectlab.errors import AffectlabError
from affectlab.training import train
from affectlab.training.summary import check_not_finished, summarize_run


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory):
    """A 2-epoch run trained with an application log handler on the root logger (as the CLI sets up) and a
    stand-in for the console handler Lightning adds to its own logger at import."""
    from helpers.doubles import ArraySplit, TinyNet
    from training.conftest import base_config

    out = tmp_path_factory.mktemp("console") / "run"
    config = base_config(out)
    config["trainer"].update(progress_bar="auto", log_every_n_steps=50)  # more steps than an epoch has
    app_log, lightning_own = io.StringIO(), io.StringIO()
    root, lightning = logging.getLogger(), logging.getLogger("lightning")
    app_handler, own_handler = logging.StreamHandler(app_log), logging.StreamHandler(lightning_own)
    app_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(app_handler)
    lightning.addHandler(own_handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    torch.manual_seed(0)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = train(
                config, train_split=ArraySplit(64, 32, 0), val_split=ArraySplit(32, 32, 1), model=TinyNet()
            )
    finally:
        root.removeHandler(app_handler)
        lightning.removeHandler(own_handler)
        root.setLevel(old_level)
    return run, app_log.getvalue(), lightning_own.getvalue(), [str(w.message) for w in caught]


def test_lightning_messages_once_without_noise(logged_run) -> None:
    _, app_log, lightning_own, caught = logged_run
    assert lightning_own == ""  # Lightning's own handler printed nothing: its records went through the app's
    lines = app_log.splitlines()
    assert len(lines) == len(set(lines)), app_log  # nothing twice
    assert not any("Tip:" in line or "litlogger" in line or "GPU available" in line for line in lines), (
        app_log
    )
    assert not any("LeafSpec" in w or "log_every_n_steps" in w for w in caught), caught
    epochs = [line for line in lines if line.startswith("affectlab.training.console: epoch ")]
    assert [e.split(":")[1].split()[1] for e in epochs] == ["1/2", "2/2"], app_log


def test_summary_table_equals_metrics_json_and_logs(logged_run) -> None:
    run = logged_run[0]
    record = json.loads((run / "metrics.json").read_text())
    summary = summarize_run(run)
    assert summary.metrics["expression_accuracy"] == record["metrics"]["expression_accuracy"]
    assert summary.metrics["arousal_rmse"] == record["metrics"]["arousal_rmse"]
    rows = dict(summary.rows())
    assert rows["expression accuracy"].startswith(f"{100 * record['metrics']['expression_accuracy']:.1f}%")
    assert rows["valence CCC"].startswith(f"{record['metrics']['valence_ccc']:.3f}")
    assert rows["run folder"] == str(run.resolve())
    # the best epoch, independently: the epoch of the highest val/score in the CSV log
    with (run / "logs" / "metrics.csv").open(newline="") as handle:
        scores = [(float(r["val/score"]), int(r["epoch"])) for r in csv.DictReader(handle) if r["val/score"]]
    assert summary.best_epoch == max(scores)[1] + 1 and summary.epochs_trained == 2
    assert rows["best epoch (val/score)"].startswith(f"{summary.best_epoch} of 2")
    assert summary.seconds is not None and summary.seconds > 0


def test_resume_of_a_finished_run_says_how_to_extend_it(logged_run) -> None:
    run = logged_run[0]
    with pytest.raises(AffectlabError, match=r"already finished: it trained 2 epochs.*--epochs 4"):
        check_not_finished(run, 2)
    check_not_finished(run, 3)  # more epochs asked for: resuming goes on
    from helpers.doubles import ArraySplit, TinyNet

    splits = {"train_split": ArraySplit(64, 32, 0), "val_split": ArraySplit(32, 32, 1)}
    with pytest.raises(AffectlabError, match="already finished"):
        train(run / "config.yaml", ["resume=true"], model=TinyNet(), **splits)


def test_cli_train_prints_the_table(logged_run, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import affectlab.training as training
    from affectlab.cli import app

    run = logged_run[0]
    monkeypatch.setattr(training, "train", lambda config, overrides: run)
    result = CliRunner().invoke(app, ["train", "--out", str(run)], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    for label in ("expression accuracy", "expression macro-F1", "valence RMSE", "arousal CCC", "best epoch"):
        assert label in result.stdout
    assert str(run.resolve()) in result.stdout


def test_epoch_line_names_the_split_it_scored(caplog: pytest.LogCaptureFixture) -> None:
    """Per-epoch scores come from the selection split when one is held out: the line must not say val."""
    from types import SimpleNamespace

    import torch

    from affectlab.training.console import EpochLog

    trainer = SimpleNamespace(
        is_global_zero=True,
        current_epoch=0,
        max_epochs=2,
        callback_metrics={"val/score": torch.tensor(0.5), "val/expression_accuracy": torch.tensor(0.25)},
    )
    for split in ("selection", "val"):
        log = EpochLog(split=split)
        log.on_train_epoch_start(trainer, None)  # type: ignore[arg-type]
        log.on_train_batch_end(trainer, None, {"loss": torch.tensor(2.0)}, None, 0)  # type: ignore[arg-type]
        with caplog.at_level("INFO", logger="affectlab.training.console"):
            log.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]
        assert f"{split} accuracy 0.2500" in caplog.text and "train loss 2.0000" in caplog.text
        caplog.clear()
