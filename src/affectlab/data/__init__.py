"""affectlab.data: read AffectNet layouts, validate them, and pack them into a fast store.

Public API: :func:`open_split`, :func:`open_store`, :func:`prepare`, :func:`validate_dataset`,
:func:`detect_layout`, :class:`ValidationReport`, :class:`FaceSplit`, :class:`Store`. Submodules are
imported on first use so that ``import affectlab.data`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affectlab._lazy import lazy_exports

if TYPE_CHECKING:
    from affectlab.data.access import open_split
    from affectlab.data.readers import detect_layout
    from affectlab.data.splits import FaceSplit
    from affectlab.data.store import Store, is_store, open_store
    from affectlab.data.store_writer import prepare
    from affectlab.data.validation import ValidationReport, validate_dataset

_EXPORTS: dict[str, str] = {
    "detect_layout": "affectlab.data.readers",
    "open_split": "affectlab.data.access",
    "FaceSplit": "affectlab.data.splits",
    "is_store": "affectlab.data.store",
    "open_store": "affectlab.data.store",
    "prepare": "affectlab.data.store_writer",
    "Store": "affectlab.data.store",
    "validate_dataset": "affectlab.data.validation",
    "ValidationReport": "affectlab.data.validation",
}

__all__ = [
    "FaceSplit",
    "Store",
    "ValidationReport",
    "detect_layout",
    "is_store",
    "open_split",
    "open_store",
    "prepare",
    "validate_dataset",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
