"""Expression class names and order: the single source of truth for every checkpoint and report."""

from __future__ import annotations

from collections.abc import Sequence

from affectlab.errors import AffectlabError

#: AffectNet's expression codes 0-7, in AffectNet's own order (never alphabetical).
AFFECTNET_CLASSES: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)
#: The 7-class variant used by many papers: AffectNet without Contempt.
AFFECTNET_CLASSES_7: tuple[str, ...] = AFFECTNET_CLASSES[:7]

#: AffectNet codes that are annotations but not expression labels.
NON_LABEL_CODES: dict[int, str] = {8: "none", 9: "uncertain", 10: "no_face"}
#: AffectNet's marker for a missing valence/arousal value.
MISSING_VA = -2.0

_ALIASES: dict[str, str] = {
    "neutrality": "neutral",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "afraid": "fear",
    "disgusted": "disgust",
    "angry": "anger",
    "contemptuous": "contempt",
}


def class_names(num_classes: int = 8) -> tuple[str, ...]:
    """Return the class names for the 8-class (default) or 7-class label set."""
    if num_classes == 8:
        return AFFECTNET_CLASSES
    if num_classes == 7:
        return AFFECTNET_CLASSES_7
    raise AffectlabError(f"num_classes must be 7 or 8 (AffectNet label sets), got {num_classes}")


def canonical_name(name: str) -> str:
    """Map a class-folder or user label name (any case, common synonyms) to affectlab's name."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in AFFECTNET_CLASSES:
        raise AffectlabError(
            f"unknown expression name {name!r}; expected one of {', '.join(AFFECTNET_CLASSES)} "
            "(or their common synonyms such as 'happiness', 'angry')"
        )
    return key


def index_of(name: str, names: Sequence[str] = AFFECTNET_CLASSES) -> int:
    """Return the index of an expression name within a class list."""
    canon = canonical_name(name)
    if canon not in names:
        raise AffectlabError(f"expression {name!r} is not in the label set {list(names)}")
    return list(names).index(canon)


def check_same_classes(expected: Sequence[str], found: Sequence[str], what: str) -> None:
    """Raise if two class lists differ in content or order (the silent-permutation bug)."""
    if list(expected) != list(found):
        raise AffectlabError(
            f"{what}: class names/order differ: expected {list(expected)}, found {list(found)}"
        )
