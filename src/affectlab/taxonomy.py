"""Dataset taxonomies as data: each dataset's expression codes and names, mapped to affectlab's by NAME.

A taxonomy is declared once, in a YAML file (``affectlab/data/taxonomies/<name>.yaml`` for the datasets
affectlab reads, or a user's own file passed as ``--label-map``)::

    name: rafdb
    title: RAF-DB (basic)
    source: where the codes come from
    classes:                      # the dataset's codes and its own names, in its own order
      - {code: 1, name: Surprise}
      - {code: 9, name: other, affectlab: null}    # no affectlab class: the label is marked missing
      - {code: 4, name: joy, affectlab: happy}     # a name affectlab does not know: say which class it is
    non_labels:                   # codes that are annotations but not expressions (optional)
      - {code: 10, name: No-Face, effect: skip, reason: no_face}     # the item is skipped, counted
      - {code: 8, name: None, effect: missing}                       # the expression is marked missing

Each class maps to affectlab's class of the same name (``affectlab.labels.canonical_name``: any case and the
common synonyms, e.g. ``Happiness`` -> ``happy``, ``Angry`` -> ``anger``) unless it says ``affectlab:``.
Nothing here depends on the position of a class: the silent-permutation bug cannot happen by construction.
AffectNet's own taxonomy is affectlab's (``affectlab.labels``), so it has no file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES, NON_LABEL_CODES, canonical_name

#: Taxonomies shipped with affectlab (one YAML file each under affectlab/data/taxonomies/).
BUILTIN: tuple[str, ...] = ("rafdb", "fer2013", "ferplus", "expw")
EFFECTS = ("missing", "skip")


@dataclass(frozen=True)
class TaxonomyClass:
    """One expression class of a dataset: its code, its own name and the affectlab class (None: none)."""

    code: int
    name: str
    affectlab: str | None


@dataclass(frozen=True)
class NonLabel:
    """A code that is an annotation but not an expression: mark the label missing, or skip the item."""

    code: int
    name: str
    effect: str
    reason: str


@dataclass(frozen=True)
class Taxonomy:
    """A dataset's expression codes, names and order, and their affectlab classes."""

    name: str
    title: str
    source: str
    classes: tuple[TaxonomyClass, ...]
    non_labels: tuple[NonLabel, ...] = ()
    _by_code: dict[int, TaxonomyClass | NonLabel] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        table: dict[int, TaxonomyClass | NonLabel] = {}
        for entry in self.entries():
            if entry.code in table:
                raise AffectlabError(f"taxonomy {self.name!r}: code {entry.code} is declared twice")
            table[entry.code] = entry
        targets = [c.affectlab for c in self.classes if c.affectlab is not None]
        if len(set(targets)) != len(targets):
            raise AffectlabError(f"taxonomy {self.name!r}: two codes map to the same affectlab class")
        object.__setattr__(self, "_by_code", table)

    def entries(self) -> tuple[TaxonomyClass | NonLabel, ...]:
        """Every declared entry: the classes, then the non-labels."""
        return (*self.classes, *self.non_labels)

    @property
    def affectlab_classes(self) -> tuple[str, ...]:
        """The affectlab classes this dataset can label, in affectlab's order."""
        mapped = {c.affectlab for c in self.classes}
        return tuple(name for name in AFFECTNET_CLASSES if name in mapped)

    @property
    def codes(self) -> tuple[int, ...]:
        """Every declared code (classes, then non-labels)."""
        return tuple(self._by_code)

    def lookup(self, code: int) -> TaxonomyClass | NonLabel | None:
        """The class or non-label declared for ``code``, or None when the code is not declared."""
        return self._by_code.get(code)

    def by_name(self, name: str) -> TaxonomyClass | NonLabel | None:
        """The entry whose own name is ``name`` (case-insensitive), or None."""
        key = name.strip().lower()
        for entry in self.entries():
            if entry.name.lower() == key:
                return entry
        return None

    def code_of(self, affectlab_name: str) -> int:
        """The dataset's code for an affectlab class (used to write fixtures in the dataset's own codes)."""
        for entry in self.classes:
            if entry.affectlab == affectlab_name:
                return entry.code
        raise AffectlabError(f"taxonomy {self.name!r} has no class for affectlab's {affectlab_name!r}")

    def rows(self) -> list[tuple[int, str, str]]:
        """(code, the dataset's name, what it becomes in affectlab) for every code: the printed label map."""
        out = [(c.code, c.name, c.affectlab or "(no affectlab class: label missing)") for c in self.classes]
        for n in self.non_labels:
            what = "expression missing, item kept" if n.effect == "missing" else f"item skipped ({n.reason})"
            out.append((n.code, n.name, what))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready form (what a store's manifest records)."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "classes": [{"code": c.code, "name": c.name, "affectlab": c.affectlab} for c in self.classes],
            "non_labels": [
                {"code": n.code, "name": n.name, "effect": n.effect, "reason": n.reason}
                for n in self.non_labels
            ],
        }


def _code(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise AffectlabError(f"{where}: code must be an integer, got {raw!r}")
    return raw


def _class(entry: Any, where: str) -> TaxonomyClass:
    if not isinstance(entry, Mapping) or "code" not in entry or "name" not in entry:
        raise AffectlabError(f"{where}: each class needs a code and a name, e.g. {{code: 1, name: Surprise}}")
    name = str(entry["name"])
    if "affectlab" in entry:
        target = entry["affectlab"]
        affectlab = None if target is None else canonical_name(str(target))
    else:
        try:
            affectlab = canonical_name(name)
        except AffectlabError as exc:
            raise AffectlabError(
                f"{where}: {exc}; add `affectlab: <class>` (or `affectlab: null`) to the class {name!r}"
            ) from None
    return TaxonomyClass(_code(entry["code"], where), name, affectlab)


def _non_label(entry: Any, where: str) -> NonLabel:
    if not isinstance(entry, Mapping) or "code" not in entry or "name" not in entry:
        raise AffectlabError(f"{where}: each non-label needs a code, a name and an effect")
    effect = str(entry.get("effect", "missing"))
    if effect not in EFFECTS:
        raise AffectlabError(f"{where}: effect must be one of {', '.join(EFFECTS)}, got {effect!r}")
    name = str(entry["name"])
    reason = str(entry.get("reason") or f"expression_{name.lower().replace(' ', '_').replace('-', '_')}")
    return NonLabel(_code(entry["code"], where), name, effect, reason)


def taxonomy_from_dict(data: Any, where: str = "taxonomy") -> Taxonomy:
    """Build and validate a Taxonomy from its declared form (see the module docstring)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("classes"), list) or not data["classes"]:
        raise AffectlabError(f"{where}: expected a mapping with a non-empty `classes` list")
    name = str(data.get("name") or Path(where).stem)
    classes = tuple(_class(e, f"{where}: classes[{i}]") for i, e in enumerate(data["classes"]))
    non_labels = tuple(
        _non_label(e, f"{where}: non_labels[{i}]") for i, e in enumerate(data.get("non_labels") or [])
    )
    return Taxonomy(
        name, str(data.get("title") or name), str(data.get("source") or where), classes, non_labels
    )


def affectnet_taxonomy(num_classes: int = 8) -> Taxonomy:
    """AffectNet's taxonomy, which is affectlab's own (from affectlab.labels: no second copy)."""
    classes = tuple(TaxonomyClass(i, n, n) for i, n in enumerate(AFFECTNET_CLASSES[:num_classes]))
    non_labels = tuple(
        NonLabel(
            code,
            name,
            "skip" if name == "no_face" else "missing",
            name if name == "no_face" else f"expression_{name}",
        )
        for code, name in NON_LABEL_CODES.items()
    )
    return Taxonomy(
        "affectnet", "AffectNet", "affectlab.labels (AffectNet's codes 0-10)", classes, non_labels
    )


def load_taxonomy(name_or_path: str | Path) -> Taxonomy:
    """Load a built-in taxonomy by name (rafdb, fer2013, ferplus, expw, affectnet) or a user's YAML file."""
    import yaml

    key = str(name_or_path)
    if key == "affectnet":
        return affectnet_taxonomy()
    if key in BUILTIN:
        text = (
            resources.files("affectlab.data").joinpath(f"taxonomies/{key}.yaml").read_text(encoding="utf-8")
        )
        where = f"affectlab/data/taxonomies/{key}.yaml"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise AffectlabError(
                f"{path}: no such label-map file; give a YAML taxonomy file or one of {', '.join(BUILTIN)}"
            )
        text, where = path.read_text(encoding="utf-8"), str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AffectlabError(f"{where}: not valid YAML ({exc})") from exc
    return taxonomy_from_dict(data, where)
