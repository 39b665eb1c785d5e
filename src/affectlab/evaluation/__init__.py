"""affectlab.evaluation: the one evaluation path — run a model over a split, score it, compare models.

Public API: :func:`evaluate`, :class:`EvalResult`, :func:`evaluate_model`, :func:`compare`,
:class:`Predictions`, :func:`load_for_eval`, :func:`predict_split`, :func:`measure_cost`. ``train()`` scores
its final model through :func:`evaluate_model` too. Rendering is affectlab.reports' job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affectlab._lazy import lazy_exports

if TYPE_CHECKING:
    from affectlab.evaluation.compare import compare
    from affectlab.evaluation.cost import measure_cost
    from affectlab.evaluation.evaluate import EvalResult, evaluate, evaluate_model
    from affectlab.evaluation.predictions import Predictions
    from affectlab.evaluation.runner import load_for_eval, predict_split

_EXPORTS: dict[str, str] = {
    "compare": "affectlab.evaluation.compare",
    "measure_cost": "affectlab.evaluation.cost",
    "EvalResult": "affectlab.evaluation.evaluate",
    "evaluate": "affectlab.evaluation.evaluate",
    "evaluate_model": "affectlab.evaluation.evaluate",
    "Predictions": "affectlab.evaluation.predictions",
    "load_for_eval": "affectlab.evaluation.runner",
    "predict_split": "affectlab.evaluation.runner",
}

__all__ = [
    "EvalResult",
    "Predictions",
    "compare",
    "evaluate",
    "evaluate_model",
    "load_for_eval",
    "measure_cost",
    "predict_split",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
