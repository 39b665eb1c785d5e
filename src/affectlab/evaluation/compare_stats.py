"""The statistics of a comparison: seed means and spreads, pairwise differences, "best" and "≈" per row.

One model of a comparison is one architecture (or one given run) with one or more runs (seeds). Its value on
a row is the mean over its runs; the spread is their standard deviation. Two models' difference is judged by
``affectlab.metrics.seeds`` (seed variance and the paired bootstrap together; the paired bootstrap alone for
single runs); a row without any interval falls back to "equal at the shown precision".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError


def best_index(values: Sequence[float | None], higher_is_better: bool) -> list[int]:
    """Return the positions holding the best defined value (ties all count), or [] if none is defined."""
    defined = [(i, v) for i, v in enumerate(values) if v is not None and v == v]
    if not defined:
        return []
    target = (max if higher_is_better else min)(v for _, v in defined)
    return [i for i, v in defined if v == target]


def display_digits(key: str, percent: bool) -> tuple[int, bool]:
    """How a row's values are shown in reports: (digits for reports.document.fmt, as percent)."""
    if percent:
        return 4, True
    return (1 if key in ("latency_ms", "throughput", "epoch_seconds") else 3), False


def shown(value: float | None, key: str, percent: bool) -> str | None:
    """The value as the report prints it (for the "equal at the shown precision" rule)."""
    from affectlab.reports.document import fmt

    return None if value is None else fmt(value, *display_digits(key, percent))


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the defined values (sd None with fewer than two)."""
    defined = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not defined:
        return None, None
    arr = np.array(defined)
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else None)


def _single_pair(pa: Any, pb: Any, n_boot: int) -> dict[str, Any]:
    """Paired bootstrap of two single runs (the same samples, the same resamples)."""
    from affectlab.metrics.bootstrap import paired_affect_diff

    return paired_affect_diff(
        pa.expression,
        pa.probs,
        pb.probs,
        pa.valence,
        pa.pred_valence,
        pb.pred_valence,
        pa.arousal,
        pa.pred_arousal,
        pb.pred_arousal,
        n_boot=n_boot,
    )


def _seed_pair(runs_a: list[Any], runs_b: list[Any], n_boot: int, extra: Sequence[str]) -> dict[str, Any]:
    """Seed-aware differences of two models with several runs (bootstrapped metrics + `extra` keys)."""
    from affectlab.metrics.seeds import combine, seed_paired_diff

    pa, pb = [r.predictions for r in runs_a], [r.predictions for r in runs_b]
    first = pa[0]
    out = seed_paired_diff(
        first.expression,
        [p.probs for p in pa],
        [p.probs for p in pb],
        first.valence,
        [p.pred_valence for p in pa],
        [p.pred_valence for p in pb],
        first.arousal,
        [p.pred_arousal for p in pa],
        [p.pred_arousal for p in pb],
        n_boot=max(n_boot, 2),
    )
    for key in extra:
        if key not in out:
            out[key] = combine([r.metrics.get(key) for r in runs_a], [r.metrics.get(key) for r in runs_b])
    return out


def pairwise(
    groups: dict[str, list[Any]], n_boot: int, extra: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Differences for every pair of models: seed-aware with several runs, paired bootstrap with one."""
    out: dict[str, dict[str, Any]] = {}
    for a, b in combinations(groups, 2):
        ra, rb = groups[a], groups[b]
        if not np.array_equal(ra[0].predictions.index, rb[0].predictions.index):
            raise AffectlabError(f"{a} and {b} were evaluated on different samples; compare needs one split")
        if len(ra) == 1 and len(rb) == 1:
            out[f"{a}|{b}"] = _single_pair(ra[0].predictions, rb[0].predictions, n_boot) if n_boot > 0 else {}
        else:
            out[f"{a}|{b}"] = _seed_pair(ra, rb, n_boot, extra)
    return out


def _evidence(record: dict[str, Any]) -> str:
    """Why a difference counts as not distinguishable, in words."""
    rule = record.get("rule", "paired bootstrap, one run")
    level = int(round(100 * record.get("level", 0.95)))
    if record.get("low") is None:
        return f"{rule}: no interval"
    return f"{rule}: {level}% CI of the difference [{record['low']:.3f}, {record['high']:.3f}] contains 0"


def ties_with_best(
    key: str,
    best: str,
    names: list[str],
    values: dict[str, float | None],
    percent: bool,
    pairwise_records: dict[str, dict[str, Any]],
    ci: dict[str, dict[str, Any]],
) -> dict[str, str]:
    """{model: evidence} for models not distinguishable from the best one on this row.

    Order of evidence: the pairwise test (seed-aware or paired bootstrap); overlapping 95% intervals; and,
    for a row without any interval, a value equal to the best at the precision the report shows.
    """
    from affectlab.metrics.bootstrap import indistinguishable

    ties: dict[str, str] = {}
    for other in names:
        if other == best:
            continue
        pair = pairwise_records.get(f"{best}|{other}") or pairwise_records.get(f"{other}|{best}") or {}
        record = pair.get(key)
        if record and record.get("distinguishable") is False:
            ties[other] = _evidence(record)
            continue
        if record and record.get("distinguishable") is True:
            continue
        a, b = ci.get(best, {}).get(key), ci.get(other, {}).get(key)
        if a and b and indistinguishable((a["low"], a["high"]), (b["low"], b["high"])):
            ties[other] = "95% bootstrap intervals overlap"
        elif shown(values.get(other), key, percent) == shown(values.get(best), key, percent) is not None:
            ties[other] = "equal at the shown precision (no interval for this metric)"
    return ties


def build_rows(
    models: list[dict[str, Any]], pairwise_records: dict[str, dict[str, Any]], rows: Sequence[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """Return one record per comparison row: values per model, the best model(s) and statistical ties."""
    names = [m["name"] for m in models]
    ci = {m["name"]: m["ci"] for m in models}
    out = []
    for group, key, label, higher, percent in rows:
        values = dict(zip(names, [m["values"].get(key) for m in models], strict=True))
        best = [names[i] for i in best_index(list(values.values()), higher)]
        ties = (
            ties_with_best(key, best[0], names, values, percent, pairwise_records, ci)
            if len(best) == 1
            else {}
        )
        out.append(
            {
                "group": group,
                "key": key,
                "label": label,
                "higher_is_better": higher,
                "percent": percent,
                "values": values,
                "sd": {m["name"]: m.get("sd", {}).get(key) for m in models},
                "best": best,
                "indistinguishable_from_best": ties,
            }
        )
    return out
