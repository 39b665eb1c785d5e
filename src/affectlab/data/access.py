"""``open_split``: one split of a prepared store or of a raw layout, with the crop settings checked."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from affectlab.data.splits import FaceSplit, RawSplit
from affectlab.data.store import Store, is_store, open_store
from affectlab.errors import AffectlabError
from affectlab.preprocessing.spec import DEFAULT_MARGIN
from affectlab.taxonomy import taxonomy_from_dict

logger = logging.getLogger(__name__)

#: Face side used for a raw layout when none is given.
DEFAULT_RAW_SIZE = 112


def _check_store_settings(
    root: Path, store: Store, num_classes: int, size: int | None, margin: float | None, align: bool | None
) -> None:
    """Raise naming the setting when the class count, size, margin or alignment differs from the store."""
    if store.num_classes != num_classes:
        raise AffectlabError(
            f"{root}: store was prepared with {store.num_classes} classes, but {num_classes} were requested; "
            f"re-run `affectlab prepare --num-classes {num_classes}` or use num_classes={store.num_classes}"
        )
    if size is not None and size != store.image_size:
        raise AffectlabError(
            f"{root}: store images are {store.image_size} px, but {size} px were requested; prepare a store "
            f"at {size} px (`affectlab prepare SRC OUT --size {size}`) or use the raw dataset"
        )
    if margin is not None and not math.isclose(margin, store.crop_margin):
        raise AffectlabError(
            f"{root}: store faces were cropped with margin {store.crop_margin}, but margin {margin} was "
            f"requested; prepare a store with `--margin {margin}` or use the raw dataset"
        )
    if align is not None and align != store.align:
        state = "eye-aligned" if store.align else "not aligned"
        raise AffectlabError(f"{root}: store faces are {state}, but align={align} was requested")


def open_split(
    path: str | Path,
    split: str = "train",
    size: int | None = None,
    num_classes: int = 8,
    *,
    margin: float | None = None,
    align: bool | None = None,
    check_images: bool = True,
    workers: int | None = None,
    label_map: Any = None,
    label_mode: str = "majority",
) -> FaceSplit:
    """Open one split of a prepared store or a raw layout (raw: bad items are skipped and counted).

    For a store, ``size``, ``margin`` and ``align`` (when given) must equal what it was prepared with; for a
    raw layout they say how to cut the faces (defaults: 112 px, margin 0.1, not aligned). ``split`` is
    affectlab's name (train, val, test) or the dataset's (``private_test``); ``label_map`` and ``label_mode``
    say how a raw layout's codes become labels (see affectlab.data.validate_dataset).
    """
    from affectlab.labels import class_names

    root = Path(path)
    if is_store(root):
        store = open_store(root)
        _check_store_settings(root, store, num_classes, size, margin, align)
        return store.split(split)
    from affectlab.data.validation import accepted_records

    layout, records, report = accepted_records(
        root,
        split,
        num_classes=num_classes,
        check_images=check_images,
        workers=workers,
        label_map=label_map,
        label_mode=label_mode,
    )
    if not records:
        raise AffectlabError(
            f"{root}: no usable samples in the {split!r} split ({report.total_rejected} skipped)"
        )
    image_size = DEFAULT_RAW_SIZE if size is None else size
    logger.info(
        "%s: %d %s samples (%s layout, decoded per item at %d px)",
        root,
        len(records),
        split,
        layout,
        image_size,
    )
    margin = DEFAULT_MARGIN if margin is None else margin
    raw = RawSplit(records, class_names(num_classes), image_size, margin, bool(align))
    raw.taxonomy = taxonomy_from_dict(report.label_map) if report.label_map else None
    return raw
