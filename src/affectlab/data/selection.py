"""The selection split: a seeded part of the training split, held out of training, that chooses checkpoints.

Checkpoints chosen on the split a run is reported on make the reported figures optimistic, so by default a
run holds out ``selection.fraction`` of its *training* split (``selection.split: holdout``), selects on it and
reports on the validation split. The draw is

- **seeded** (``selection.seed``, apart from the run's own seed, so runs that differ only in their seed train
  and select on the same images) and **stratified** by expression class (each class keeps its share);
- **disjoint by content**: samples whose images are byte-identical (pixels of a store, file bytes of a raw
  layout), faces of one photo (ids ``photo#k``) and, for video layouts, the frames of one video (ids
  ``video/frame``) form one group, and a group lies wholly on one side; ``selection.group_by`` may name
  the subject or video with a regular expression over the ids instead;
- **recorded**: the run folder's ``selection.json`` holds the settings and the ids (and positions) of the
  held-out samples, and ``open_selection`` opens them again as the split named ``selection``
  (``affectlab evaluate RUN --data STORE --split selection``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: The split name under which a run's held-out selection samples are addressed.
SELECTION = "selection"
#: The run-folder file that records the selection split.
SELECTION_FILE = "selection.json"
SELECTION_FORMAT, SELECTION_VERSION = "affectlab-selection", 1
#: Layouts whose sample ids are ``<video>/<frame>``: frames of one video stay together under ``auto``.
VIDEO_LAYOUTS = frozenset({"affwild2"})
#: Below this many held-out samples, per-epoch scores are noisy: say so.
SMALL_SELECTION = 100


class SubsetSplit:
    """A view of some samples of a split, in the given order (picklable, so it runs in loader workers)."""

    def __init__(self, base: Any, indices: np.ndarray, name: str) -> None:
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)
        self.name = name
        self.class_names = base.class_names
        self.image_size = base.image_size
        self.crop_margin = getattr(base, "crop_margin", None)
        self.align = getattr(base, "align", None)
        labels = base.labels()
        self._labels = {key: np.asarray(labels[key])[self.indices] for key in labels}

    def __len__(self) -> int:
        return int(self.indices.size)

    def labels(self) -> dict[str, np.ndarray]:
        """Labels of the samples in the view."""
        return self._labels

    def ids(self) -> list[str]:
        """Source ids of the samples in the view (the base split must have ids)."""
        base_ids = self.base.ids()
        return [base_ids[int(i)] for i in self.indices]

    def get_batch(self, indices: Any) -> dict[str, np.ndarray]:
        """A batch by positions in the view; ``index`` holds those positions."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise AffectlabError(f"index out of range for a {self.name} split of {len(self)} samples")
        batch = dict(self.base.get_batch(self.indices[idx]))
        batch["index"] = idx
        return batch


def split_ids(split: Any) -> list[str] | None:
    """The source ids of a split, or None for a split that has none (in-memory doubles)."""
    ids = getattr(split, "ids", None)
    return list(ids()) if callable(ids) else None


def content_digests(split: Any, batch: int = 512) -> list[bytes]:
    """One digest per sample: the image file's bytes for a raw layout, the stored pixels otherwise."""
    records = getattr(split, "records", None)
    if records is not None:
        from affectlab.io import file_sha256

        return [bytes.fromhex(file_sha256(r.path)) for r in records]
    out: list[bytes] = []
    for start in range(0, len(split), batch):
        images = split.get_batch(np.arange(start, min(start + batch, len(split))))["image"]
        out += [
            hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=16).digest() for img in images
        ]
    return out


def _group_key(sample_id: str, group_by: str, layout: str | None) -> str:
    """The subject/video/photo a sample id belongs to (the id itself when it names none)."""
    if group_by not in ("auto", "content"):
        match = re.search(group_by, sample_id)
        return match.group(1) if match else sample_id
    key = sample_id.split("#", 1)[0]  # faces of one photo: "<photo>#<face>"
    if group_by == "auto" and layout in VIDEO_LAYOUTS and "/" in key:
        key = key.rsplit("/", 1)[0]
    return key


def group_samples(split: Any, group_by: str = "auto", layout: str | None = None) -> np.ndarray:
    """Group number per sample: same content, same photo or same subject/video -> same group."""
    n = len(split)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(keys: list[Any]) -> None:
        first: dict[Any, int] = {}
        for i, key in enumerate(keys):
            j = first.setdefault(key, i)
            if j != i:
                a, b = find(i), find(j)
                parent[max(a, b)] = min(a, b)

    join(content_digests(split))
    ids = split_ids(split)
    if ids is not None:
        join([_group_key(i, group_by, layout) for i in ids])
    elif group_by not in ("auto", "content"):
        raise AffectlabError("selection.group_by names a pattern over sample ids, but this split has no ids")
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    _, groups = np.unique(roots, return_inverse=True)
    return groups.astype(np.int64)


def _target_size(n: int, fraction: float, size: int | None) -> int:
    """How many samples to hold out; refuse a split that would leave either side empty."""
    target = int(size) if size is not None else int(round(fraction * n))
    if target < 1 or target >= n:
        raise AffectlabError(
            f"selection split of {target} out of {n} training samples leaves a side empty; set "
            "selection.fraction / selection.size, or selection.split=reported|none for tiny data"
        )
    return target


def draw_selection(
    split: Any,
    fraction: float = 0.1,
    size: int | None = None,
    seed: int = 0,
    group_by: str = "auto",
    layout: str | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Split a training split into (train positions, selection positions, record) by whole groups.

    Stratified by expression class: each class (unlabelled samples are a class of their own) gives about
    its share of the held-out samples, drawn as whole groups in a seeded order.
    """
    n = len(split)
    target = _target_size(n, fraction, size)
    groups = group_samples(split, group_by, layout)
    expression = np.asarray(split.labels()["expression"])
    n_groups = int(groups.max()) + 1 if n else 0
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for i, g in enumerate(groups):
        members[int(g)].append(i)
    # A group's stratum: the label of its first sample (groups rarely mix labels: duplicates, one photo).
    stratum = np.array([expression[m[0]] for m in members], dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in np.unique(stratum):
        pool = np.flatnonzero(stratum == label)
        want = target * sum(len(members[g]) for g in pool) / n
        taken = 0
        for g in rng.permutation(pool):
            if taken + len(members[int(g)]) > want + 0.5 and (taken > 0 or len(pool) < 2):
                continue
            chosen += members[int(g)]
            taken += len(members[int(g)])
            if taken >= want - 0.5:
                break
    selection = np.array(sorted(chosen), dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    keep[selection] = False
    train = np.flatnonzero(keep).astype(np.int64)
    if selection.size == 0 or train.size == 0:
        raise AffectlabError(
            f"selection split: could not hold out whole groups of {n} samples ({n_groups} groups)"
        )
    record = {
        "format": SELECTION_FORMAT,
        "format_version": SELECTION_VERSION,
        "split": SELECTION,
        "source_split": None,
        "seed": int(seed),
        "fraction": None if size is not None else float(fraction),
        "size_requested": None if size is None else int(size),
        "group_by": group_by,
        "groups": n_groups,
        "num_samples": int(selection.size),
        "num_train": int(train.size),
    }
    if selection.size < SMALL_SELECTION:
        log.warning("selection split holds only %d samples: per-epoch scores will be noisy", selection.size)
    return train, selection, record


def save_selection(path: Path, record: dict[str, Any], split: Any, selection: np.ndarray) -> None:
    """Write selection.json: the record plus the held-out samples' positions and ids."""
    ids = split_ids(split)
    data = {
        **record,
        "positions": [int(i) for i in selection],
        "ids": None if ids is None else [ids[int(i)] for i in selection],
    }
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")


def read_selection(run_dir: str | Path) -> dict[str, Any]:
    """Read a run's selection.json, or raise saying that the run selected on another split."""
    path = Path(run_dir) / SELECTION_FILE
    if not path.is_file():
        raise AffectlabError(
            f"{run_dir} has no {SELECTION_FILE}: that run did not hold out a selection split "
            "(selection.split was 'reported' or 'none', or it predates selection splits)"
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != SELECTION_FORMAT:
        raise AffectlabError(f"{path}: not an affectlab selection record")
    return data


def selection_positions(record: dict[str, Any], split: Any) -> np.ndarray:
    """Positions in `split` of the recorded selection samples: by id when both have ids, else by position."""
    ids, wanted = split_ids(split), record.get("ids")
    if ids is not None and wanted is not None:
        where = {sample_id: i for i, sample_id in enumerate(ids)}
        missing = [w for w in wanted if w not in where]
        if missing:
            raise AffectlabError(
                f"{len(missing)} of the run's {len(wanted)} selection samples are not in this data "
                f"(e.g. {missing[0]!r}): open the data the run was trained on"
            )
        return np.array([where[w] for w in wanted], dtype=np.int64)
    positions = np.asarray(record["positions"], dtype=np.int64)
    if positions.size and positions.max() >= len(split):
        raise AffectlabError("the recorded selection positions do not fit this split: wrong data?")
    return positions


def open_selection(run_dir: str | Path, split: Any) -> SubsetSplit:
    """The run's selection split as a FaceSplit-like view of `split` (the run's training split)."""
    record = read_selection(run_dir)
    return SubsetSplit(split, selection_positions(record, split), SELECTION)
