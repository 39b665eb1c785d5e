"""`affectlab bench` end to end on a tiny plan: table printed, JSON written, targets listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectlab.bench import run as bench_run
from affectlab.bench.report import render, targets
from affectlab.cli import app
from affectlab.errors import AffectlabError

TINY = bench_run.BenchPlan(
    size=32,
    raw_images=48,
    data_batches=2,
    train_archs=("mobilenet_v2",),
    train_batch=8,
    train_steps=1,
    train_rounds=1,
    infer_archs=("mobilenet_v2",),
    b1_runs=2,
    b64_runs=1,
    video_frames=3,
    memory_size=16,
    memory_small=200,
    memory_large=400,
)


def test_parse_only() -> None:
    assert bench_run.parse_only(None) == bench_run.SECTIONS
    assert bench_run.parse_only("data, memory") == ("data", "memory")
    with pytest.raises(AffectlabError, match="unknown section"):
        bench_run.parse_only("data,gpu")


def test_cli_bench_quick_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_run, "plan", lambda quick, size=None: TINY)
    out = tmp_path / "bench.json"
    md = tmp_path / "tables.md"
    args = ["bench", "--quick", "--only", "data,memory", "--out", str(out), "--workdir", str(tmp_path / "w")]
    args += ["--threads", "1", "--markdown", str(md)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "affectlab bench" in result.output and "store" in result.output
    payload = json.loads(out.read_text())
    assert payload["machine"]["cpu"] and payload["machine"]["versions"]["torch"]
    loaders = payload["data"]["loaders"]
    assert loaders["affectlab_store_float"]["images_per_s"] > 0 and loaders["baseline"]["load"]
    assert payload["threads"] == 1 and payload["machine"]["torch_threads"] == 1  # pinned
    assert payload["memory"]["large"]["samples"] == 400
    reads = payload["memory"]["reads"]  # the read path again, on the large store's small images
    assert reads["samples"] == 400 and reads["image_size"] == payload["memory"]["large"]["image_size"]
    named = f"shuffled batches, {reads['image_size']} px"
    assert any(named in t["target"] for t in payload["targets"])
    cache = reads["page_cache"]  # None where the OS does not say (unprivileged, not Linux)
    assert cache is None or (cache["pages_sampled"] > 0 and 0 <= cache["large_folio_share"] <= 1)
    assert {t["target"].split()[0] for t in payload["targets"]} >= {"store", "epoch", "whole-process"}
    # the Markdown file holds the same two tables: one line per row and per target, six columns each
    from affectlab.bench.report import _rows

    lines = md.read_text().splitlines()
    tables = [line for line in lines if line.startswith("| ") and not line.startswith("| section")]
    tables = [line for line in tables if not line.startswith("| issue |")]
    assert len(tables) == len(_rows(payload)) + len(payload["targets"])
    assert all(line.replace("\\|", "").count("|") == 7 for line in tables)
    assert sum(line.startswith("|---") for line in lines) == 2


@pytest.mark.slow
def test_run_bench_all_sections(tmp_path: Path) -> None:
    results = bench_run.run_bench(bench_plan=TINY, workdir=tmp_path)
    assert {"data", "train", "infer", "video", "memory"} <= set(results)
    # data + read path (shuffled and in order), train, infer, memory + the read path on its small images,
    # tracking vs per-frame on two clips
    assert len(targets(results)) == 5 + 2 + 1 + (3 + 4) + 2
    assert results["speed_settings"]["loss_bit_identical"] is True
    clip = results["video"]["clips"][0]
    assert clip["per_frame"]["recall_vs_truth"] > 0.9 and clip["tracked"]["tracks"] == 2
    render(results)
