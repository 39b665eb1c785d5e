"""The top-level API names stay the functions the README calls, whatever was imported before."""

from __future__ import annotations

import importlib

import affectlab


def test_evaluate_and_compare_are_functions_after_their_modules_are_imported() -> None:
    # train() imports affectlab.evaluation.evaluate; the package attribute `evaluate` is then that module
    importlib.import_module("affectlab.evaluation.evaluate")
    importlib.import_module("affectlab.evaluation.compare")
    from affectlab.evaluation.compare import compare
    from affectlab.evaluation.evaluate import evaluate

    assert affectlab.evaluate is evaluate and affectlab.compare is compare
