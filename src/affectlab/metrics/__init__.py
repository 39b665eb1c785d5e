"""affectlab.metrics: every metric affectlab reports, implemented once (numpy in, JSON-ready python out).

Formulas, references and the policy for undefined values are in docs/metrics.md: a value that is
mathematically undefined is ``None`` with the reason under ``undefined``, never NaN, never a made-up number.

Modules: :mod:`~affectlab.metrics.checks` (input checks), :mod:`~affectlab.metrics.classification`,
:mod:`~affectlab.metrics.regression`, :mod:`~affectlab.metrics.affect` (flat multi-task keys and the
selection score), :mod:`~affectlab.metrics.bootstrap` (percentile intervals, paired differences).
"""

from __future__ import annotations

from affectlab.metrics.affect import SELECTION_METRICS, affect_metrics, selection_score
from affectlab.metrics.bootstrap import (
    CI_EXPRESSION_METRICS,
    CI_REGRESSION_METRICS,
    affect_metrics_ci,
    bootstrap_ci,
    indistinguishable,
    paired_affect_diff,
    paired_bootstrap_diff,
    resample_indices,
)
from affectlab.metrics.checks import MISSING_EXPRESSION
from affectlab.metrics.classification import (
    average_precision,
    classification_metrics,
    confusion_counts,
    roc_auc,
)
from affectlab.metrics.regression import regression_metrics

__all__ = [
    "CI_EXPRESSION_METRICS",
    "CI_REGRESSION_METRICS",
    "MISSING_EXPRESSION",
    "SELECTION_METRICS",
    "affect_metrics",
    "affect_metrics_ci",
    "average_precision",
    "bootstrap_ci",
    "classification_metrics",
    "confusion_counts",
    "indistinguishable",
    "paired_affect_diff",
    "paired_bootstrap_diff",
    "regression_metrics",
    "resample_indices",
    "roc_auc",
    "selection_score",
]
