"""Fault suite fixtures; the helpers live in fault_helpers.py (importable from the test modules)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fault_helpers import full_disk, readonly_dir, unwritable_dir, weights_file  # noqa: E402

__all__ = ["full_disk", "readonly_dir", "unwritable_dir", "weights_file"]
