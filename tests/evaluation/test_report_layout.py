"""Report tables that fit the page and training-curve figures that read at a glance."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from affectlab.labels import AFFECTNET_CLASSES
from affectlab.reports.compare_report import per_class_table


def _model(name: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    per_class = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": 100}
        for c, (p, r, f) in zip(AFFECTNET_CLASSES, rng.uniform(0, 1, (8, 3)), strict=True)
    }
    return {"name": name, "per_class": per_class}


def test_per_class_table_of_three_models_has_one_column_per_model() -> None:
    record = {"models": [_model("resnet18", 0), _model("mobilenet_v2", 1), _model("efficientnet_b1", 2)]}
    table = per_class_table(record)
    assert table.headers == ["Class", "resnet18", "mobilenet_v2", "efficientnet_b1", "Support"]
    widest = max(len(" | ".join(row)) for row in table.rows)
    assert widest <= 90, widest  # ~650 px at the report's 13.5 px font: fits beside its menu
    for i, cls in enumerate(AFFECTNET_CLASSES):
        f1s = []
        for k, model in enumerate(record["models"]):
            p, r, f = (float(v) for v in table.rows[i][1 + k].split(" / "))
            truth = model["per_class"][cls]
            assert abs(p - truth["precision"]) < 6e-4 and abs(r - truth["recall"]) < 6e-4
            f1s.append(truth["f1"])
        assert (i, 1 + int(np.argmax(f1s))) in table.best  # the star goes to the best F1 of the row
        assert sum((i, 1 + k) in table.best for k in range(3)) == 1


def _curves_png(epochs: int) -> Image.Image:
    from affectlab.reports import figures

    series = {
        name: list(np.linspace(1, 0.5, epochs) + k * 0.1)
        for k, name in enumerate(
            [f"{s}/loss{p}" for s in ("train", "val") for p in ("", "_expression", "_valence", "_arousal")]
        )
    }
    for k, name in enumerate(
        ("score", "expression_accuracy", "expression_f1_macro", "valence_ccc", "arousal_ccc")
    ):
        series[f"val/{name}"] = list(np.linspace(0.1, 0.6, epochs) + 0.02 * k)
    series["val/score"][epochs // 2] = 0.99  # the best epoch, in the middle
    return Image.open(io.BytesIO(figures.training_curves(list(range(epochs)), series)))


def test_training_curves_keep_legends_off_the_lines_and_ticks_whole() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from affectlab.reports import figures

    calls: list = []
    original = figures._epoch_axis

    def spy(ax, epochs, best, label=False):  # record what the axes got
        original(ax, epochs, best, label)
        calls.append((ax, list(epochs), best))

    figures._epoch_axis = spy
    try:
        image = _curves_png(7)
    finally:
        figures._epoch_axis = original
    assert image.width > 1000
    for ax, epochs, best in calls:
        ticks = [t for t in ax.get_xticks() if epochs[0] <= t <= epochs[-1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # no 0.25-epoch ticks
        assert epochs == list(range(1, 8)) and best == 4  # 1-based, the best epoch is the middle one
        legend = ax.get_legend()
        box, plot = legend.get_window_extent(), ax.get_window_extent()
        assert box.x0 >= plot.x1 - 1, (box, plot)  # the legend is beside the plot, not over its lines
        colours = [
            (line.get_color(), line.get_linestyle())
            for line in ax.lines
            if not line.get_label().startswith("best")
        ]
        assert len(colours) == len(set(colours)), colours  # every series tells itself apart
