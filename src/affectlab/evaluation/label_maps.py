"""Scoring a model on a dataset of another taxonomy: shared classes, by name, with the mapping stated.

A model's outputs are named classes (``ModelInfo.class_names``, in the model's own order); a split's labels
are indices into its ``class_names`` and its dataset can only label ``dataset_classes`` (RAF-DB, FER2013 and
ExpW have no contempt). Everything is matched by NAME. What happens to a class only one side has is the
``unshared`` policy, stated in the report:

- ``drop`` (default): score on the shared classes only. The model's probabilities of its extra classes
  (an 8-class model's contempt on RAF-DB) are removed and the rest renormalised, so they can never be
  predicted; labels of classes the model lacks are marked missing (not scored, still used for valence and
  arousal), and counted.
- ``column``: keep every class of either side as its own column. A model-only class stays predictable (each
  such prediction is an error; it has no support); a data-only class gets probability 0 (never predicted).

Nothing is ever matched by position: a model whose classes are a permutation of the data's is scored
correctly, and one with no class in common is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES, canonical_name

POLICIES: tuple[str, ...] = ("drop", "column")


def _canonical(names: Sequence[str], what: str) -> tuple[str, ...]:
    try:
        out = tuple(canonical_name(n) for n in names)
    except AffectlabError as exc:
        raise AffectlabError(f"{what}: {exc}") from None
    if len(set(out)) != len(out):
        raise AffectlabError(f"{what}: class names repeat after mapping to affectlab's: {list(names)}")
    return out


def _ordered(names: set[str]) -> tuple[str, ...]:
    return tuple(c for c in AFFECTNET_CLASSES if c in names)


def shared_classes(model_classes: Sequence[str], data_classes: Sequence[str]) -> tuple[str, ...]:
    """The classes both sides have, by name, in affectlab's order."""
    return _ordered(set(_canonical(model_classes, "model")) & set(_canonical(data_classes, "data")))


def map_labels(labels: np.ndarray, from_names: Sequence[str], to_names: Sequence[str]) -> np.ndarray:
    """Re-index class labels from one class list to another by name; -1 stays -1 and absent classes -> -1."""
    source = _canonical(from_names, "labels")
    target = {name: i for i, name in enumerate(_canonical(to_names, "target"))}
    table = np.array([target.get(name, -1) for name in source] + [-1], dtype=np.int64)
    y = np.asarray(labels, dtype=np.int64)
    if y.size and (y.max() >= len(source) or y.min() < -1):
        raise AffectlabError(f"labels out of range for {len(source)} classes: {y.min()}..{y.max()}")
    return table[np.where(y < 0, len(source), y)]


@dataclass(frozen=True)
class ClassMapping:
    """How a model's classes meet a dataset's: the scored classes and what became of the others."""

    model_classes: tuple[str, ...]
    data_classes: tuple[str, ...]
    classes: tuple[str, ...]
    policy: str
    dataset: str = ""
    taxonomy_rows: tuple[tuple[int, str, str], ...] = ()
    dropped_labels: dict[str, int] = field(default_factory=dict)

    @property
    def model_only(self) -> tuple[str, ...]:
        """Classes the model predicts but the dataset never labels."""
        return _ordered(set(self.model_classes) - set(self.data_classes))

    @property
    def data_only(self) -> tuple[str, ...]:
        """Classes the dataset labels but the model cannot predict."""
        return _ordered(set(self.data_classes) - set(self.model_classes))

    @property
    def identity(self) -> bool:
        """True when nothing was mapped: same classes in the same order on both sides."""
        return self.model_classes == self.data_classes == self.classes

    def lines(self) -> list[str]:
        """The mapping in words (the report's and the CLI's)."""
        out = [f"scored on {len(self.classes)} classes: {', '.join(self.classes)} (matched by name)"]
        if list(self.model_classes) != [c for c in AFFECTNET_CLASSES if c in self.model_classes]:
            out.append(f"model outputs, in the model's own order: {', '.join(self.model_classes)}")
        for name in self.model_only:
            out.append(
                f"{name}: the model predicts it, the dataset has no such label; "
                + (
                    "dropped (its probability removed, the others renormalised)"
                    if self.policy == "drop"
                    else "kept as its own column (every prediction of it is an error)"
                )
            )
        for name in self.data_only:
            count = self.dropped_labels.get(name, 0)
            out.append(
                f"{name}: labelled in the dataset, the model cannot predict it; "
                + (
                    f"dropped ({count} label(s) marked missing, not scored)"
                    if self.policy == "drop"
                    else "kept as its own column (probability 0: never predicted)"
                )
            )
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassMapping:
        """Rebuild a mapping from :meth:`to_dict`."""
        return mapping_from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (metrics.json ``data.label_map``)."""
        return {
            "policy": self.policy,
            "classes": list(self.classes),
            "model_classes": list(self.model_classes),
            "data_classes": list(self.data_classes),
            "model_only": list(self.model_only),
            "data_only": list(self.data_only),
            "dropped_labels": dict(self.dropped_labels),
            "dataset": self.dataset,
            "taxonomy": [list(r) for r in self.taxonomy_rows],
            "lines": self.lines(),
        }


def mapping_from_dict(data: dict[str, Any]) -> ClassMapping:
    """Rebuild a ClassMapping from :meth:`ClassMapping.to_dict`."""
    return ClassMapping(
        tuple(data["model_classes"]),
        tuple(data["data_classes"]),
        tuple(data["classes"]),
        str(data["policy"]),
        str(data.get("dataset", "")),
        tuple((int(c), str(n), str(t)) for c, n, t in data.get("taxonomy", [])),
        dict(data.get("dropped_labels", {})),
    )


def plan_mapping(
    model_classes: Sequence[str],
    data_classes: Sequence[str],
    policy: str = "drop",
    *,
    dataset: str = "",
    taxonomy_rows: Sequence[tuple[int, str, str]] = (),
) -> ClassMapping:
    """Decide the scored classes for a model on a dataset (see the module docstring for the policies)."""
    if policy not in POLICIES:
        raise AffectlabError(f"unshared-class policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    model = _canonical(model_classes, "model classes")
    data = _canonical(data_classes, "data classes")
    shared = shared_classes(model, data)
    if not shared:
        raise AffectlabError(
            f"the model's classes {list(model)} and the data's {list(data)} share no class by name; "
            "nothing can be scored"
        )
    union = _ordered(set(model) | set(data))
    # identical sides keep the model's own order (nothing is mapped); otherwise affectlab's order
    classes = model if model == data else (shared if policy == "drop" else union)
    rows = tuple((int(code), str(name), str(target)) for code, name, target in taxonomy_rows)
    return ClassMapping(model, data, classes, policy, dataset, rows)


def restrict(
    probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str], mapping: ClassMapping
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(probabilities over ``mapping.classes``, labels re-indexed to them, labels dropped per class).

    ``probs`` columns follow ``mapping.model_classes``; ``labels`` index ``label_names``.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(mapping.model_classes):
        raise AffectlabError(f"expected probabilities (N, {len(mapping.model_classes)}), got {p.shape}")
    column = {name: i for i, name in enumerate(mapping.model_classes)}
    out = np.zeros((p.shape[0], len(mapping.classes)), dtype=np.float64)
    for j, name in enumerate(mapping.classes):
        if name in column:
            out[:, j] = p[:, column[name]]
    if mapping.policy == "drop" and len(mapping.classes) < len(mapping.model_classes):
        mass = out.sum(axis=1, keepdims=True)
        out = np.divide(out, mass, out=np.full_like(out, 1.0 / len(mapping.classes)), where=mass > 0)
    names = _canonical(label_names, "label names")
    y = np.asarray(labels, dtype=np.int64)
    mapped = map_labels(y, names, mapping.classes)
    lost = (y >= 0) & (mapped < 0)
    dropped = {names[k]: int(n) for k, n in zip(*np.unique(y[lost], return_counts=True), strict=True)}
    return out.astype(np.float32), mapped, dropped


def restrict_predictions(
    pred: Any, label_names: Sequence[str], mapping: ClassMapping
) -> tuple[Any, ClassMapping]:
    """A copy of an evaluation's predictions (``probs`` in the model's order, ``expression`` indexing
    ``label_names``, the split's classes) on the scored classes, and the mapping with its drop counts."""
    probs, labels, dropped = restrict(pred.probs, pred.expression, label_names, mapping)
    done = dataclasses.replace(mapping, dropped_labels=dropped)
    extra: dict[str, Any] = {}
    if getattr(pred, "raw_probs", None) is not None:  # uncalibrated probabilities: the same restriction
        extra["raw_probs"] = restrict(pred.raw_probs, pred.expression, label_names, mapping)[0]
    if getattr(pred, "logits", None) is not None and list(mapping.classes) != list(mapping.model_classes):
        extra["logits"] = None  # logits over the model's classes have no meaning on another class list
    changed = dataclasses.replace(
        pred, probs=probs, expression=labels, class_names=list(mapping.classes), **extra
    )
    return changed, done


def mapping_for_split(model_classes: Sequence[str], split: Any, policy: str = "drop") -> ClassMapping:
    """The mapping of a model onto a FaceSplit: its dataset's classes and taxonomy (if it declares one)."""
    taxonomy = getattr(split, "taxonomy", None)
    if taxonomy is not None and taxonomy.name == "affectnet":
        taxonomy = None  # affectlab's own codes: nothing to print
    data = getattr(split, "dataset_classes", None) or tuple(split.class_names)
    return plan_mapping(
        model_classes,
        data,
        policy,
        dataset=taxonomy.title if taxonomy is not None else "",
        taxonomy_rows=taxonomy.rows() if taxonomy is not None else (),
    )


def eval_num_classes(data: Any, model_classes: Sequence[str], policy: str = "drop") -> int:
    """The class count to open raw data with for a model: a store's own; otherwise 8 when contempt must be
    read (the model has it, or ``column`` keeps every label), else 7 (contempt items dropped when read)."""
    from pathlib import Path

    from affectlab.data.store import read_manifest

    if isinstance(data, (str, Path)) and Path(data).is_dir():
        manifest = read_manifest(data)
        if manifest is not None:
            return int(manifest["num_classes"])
    wants_contempt = policy == "column" or "contempt" in _canonical(model_classes, "model classes")
    return 8 if wants_contempt else 7
