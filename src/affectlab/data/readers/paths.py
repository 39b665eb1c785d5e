"""Image paths read from annotation files: each must stay inside the dataset's image folder."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from affectlab.data.readers.base import Problems


def inside_root(rel: str) -> bool:
    """True for a relative path that stays inside the image folder (lexically: no '..' above it)."""
    path = PurePosixPath(rel.replace("\\", "/"))
    if path.is_absolute() or PureWindowsPath(rel).drive:
        return False
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return False
    return depth > 0


def refuse_outside_root(problems: Problems, where: str, rel: str, folder: str, example: str) -> bool:
    """Count ``rel`` as ``path_outside_root`` and return True when it leads outside ``folder``."""
    if inside_root(rel):
        return False
    problems.reject(
        "path_outside_root",
        where,
        f"image path {rel!r} leads outside {folder}/; expected a path relative to it (such as {example}), "
        "never absolute or with '..'",
    )
    return True
