"""affectlab.reports: rendering only — evaluation and comparison reports, figures, published figures.

Public API: :func:`headline_table`, :func:`load_published`, :func:`write_evaluation_report`,
:func:`write_comparison_report`. What is measured and decided (metrics, "best", "not distinguishable") comes
from affectlab.evaluation; submodules load on first use (matplotlib only when drawing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affectlab._lazy import lazy_exports

if TYPE_CHECKING:
    from affectlab.reports.compare_report import headline_table, write_comparison_report
    from affectlab.reports.evaluation_report import write_evaluation_report
    from affectlab.reports.published import load_published

_EXPORTS: dict[str, str] = {
    "headline_table": "affectlab.reports.compare_report",
    "write_comparison_report": "affectlab.reports.compare_report",
    "write_evaluation_report": "affectlab.reports.evaluation_report",
    "load_published": "affectlab.reports.published",
}

__all__ = ["headline_table", "load_published", "write_comparison_report", "write_evaluation_report"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
