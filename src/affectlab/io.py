"""File helpers: the one file hash, and the output checks made before long work starts (writable, room)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from affectlab.errors import AffectlabError


def file_sha256(path: str | Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _existing_ancestor(path: Path) -> Path:
    """The path itself if it exists, else its nearest existing parent."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def ensure_writable(folder: str | Path, what: str = "output") -> Path:
    """Raise AffectlabError unless files can be created in `folder` (or where it would be created).

    Nothing is left behind: a missing folder is not created; a one-byte probe file is written to the folder,
    or to its nearest existing parent, and removed. Works for root too (the probe is a real write, so a
    read-only mount, a full disk or a path under a regular file all fail here rather than hours later).
    """
    target = Path(folder).absolute()
    base = _existing_ancestor(target)
    if not base.is_dir():
        raise AffectlabError(f"cannot write the {what} to {target}: {base} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".affectlab-write-check-", dir=base)
        try:
            os.write(fd, b"\0")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise AffectlabError(
            f"cannot write the {what} to {target}: {exc.strerror or exc} ({base}); choose a writable folder"
        ) from exc
    return target


def ensure_free_space(folder: str | Path, need_bytes: int, what: str = "output") -> None:
    """Raise AffectlabError when the disk holding `folder` has less than `need_bytes` free."""
    target = Path(folder).absolute()
    base = _existing_ancestor(target)
    try:
        free = shutil.disk_usage(base).free
    except OSError:  # unknown free space: let the writes themselves decide
        return
    if free < need_bytes:
        raise AffectlabError(
            f"not enough disk space for the {what} in {target}: it needs about {_size(need_bytes)}, "
            f"{_size(free)} is free; free some space or choose another folder"
        )
