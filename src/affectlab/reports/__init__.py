"""affectlab.reports: evaluation reports, model comparison and published reference figures.

Public API: :func:`evaluate`, :class:`EvalResult`, :func:`compare`, :func:`headline_table`,
:func:`load_published`, :func:`measure_cost`. Submodules load on first use (matplotlib only when drawing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affectlab._lazy import lazy_exports

if TYPE_CHECKING:
    from affectlab.reports.compare import compare
    from affectlab.reports.compare_report import headline_table
    from affectlab.reports.cost import measure_cost
    from affectlab.reports.evaluate import EvalResult, evaluate
    from affectlab.reports.published import load_published

_EXPORTS: dict[str, str] = {
    "evaluate": "affectlab.reports.evaluate",
    "EvalResult": "affectlab.reports.evaluate",
    "compare": "affectlab.reports.compare",
    "headline_table": "affectlab.reports.compare_report",
    "measure_cost": "affectlab.reports.cost",
    "load_published": "affectlab.reports.published",
}

__all__ = ["EvalResult", "compare", "evaluate", "headline_table", "load_published", "measure_cost"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
