"""The load-once snapshot: an artifact tree as one Parquet file the report notebooks read.

The nightly loads the tree once and hands the report notebooks this snapshot instead of letting each
kernel re-read thousands of JSON files. The file is :mod:`ztbkit.data.columns`' schema; its metadata
key ``ztbkit.snapshot`` holds JSON ``{"version", "root", "issues"}`` (tree-level problems). A file
that cannot be read, or whose version or root differs, is ignored with a warning and the caller
loads the tree itself: a snapshot can make a report faster, never wrong.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ztbkit.core.fsio import atomic_write_bytes
from ztbkit.core.jsonread import Problem
from ztbkit.data.artifacts import ArtifactTree, load_artifacts
from ztbkit.data.columns import (
    SCHEMA_VERSION,
    SnapshotWarning,
    columns_to_sessions,
    read_parquet,
    sessions_to_columns,
    to_parquet_bytes,
)


def write_snapshot(
    tree: ArtifactTree,
    path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    columns: dict[str, list[Any]] | None = None,
) -> Path:
    """Write ``tree`` (loaded from ``root``) as a snapshot file, atomically. ``columns``: its sessions'
    columns when already at hand (``LoadCache.columns_for``)."""
    meta = {
        "version": SCHEMA_VERSION,
        "root": root_key(root),
        "issues": [p.to_json() for p in tree.issues],
    }
    return atomic_write_bytes(
        path, to_parquet_bytes(columns or sessions_to_columns(tree.sessions), meta), durable=False
    )


def root_key(root: str | os.PathLike[str]) -> str:
    """How a snapshot names its tree: a URL as given, a local folder by its real absolute path (the
    nightly may name it relative to its folder, a notebook kernel by its absolute path)."""
    text = os.fspath(root)
    return text if "://" in text else os.path.abspath(text)


def read_snapshot(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> ArtifactTree | None:
    """The tree in a snapshot of ``root``; None (with a :class:`SnapshotWarning`) when it cannot be used."""
    got = read_parquet(path, "snapshot")
    if got is None:
        return None
    cols, meta = got
    if meta.get("root") != root_key(root):
        warnings.warn(f"snapshot {os.fspath(path)} ignored: it is of {meta.get('root')!r}, not {os.fspath(root)!r}",
                      SnapshotWarning, stacklevel=2)  # fmt: skip
        return None
    issues = [Problem(p, r) for p, r in meta.get("issues", [])]
    sessions = columns_to_sessions(cols)
    from ztbkit.data.notes import annotate

    annotate(sessions, root)  # read now, not from the snapshot: a note added since is shown
    return ArtifactTree(root=Path(os.fspath(root)), sessions=sessions, issues=issues)


def load_tree(
    artifacts_dir: str | os.PathLike[str], snapshot: str | os.PathLike[str] | None = None
) -> ArtifactTree:
    """The notebooks' loader: the ``snapshot`` when one is given and usable, else the tree itself."""
    if snapshot:
        tree = read_snapshot(snapshot, artifacts_dir)
        if tree is not None:
            return tree
    return load_artifacts(artifacts_dir)


@contextlib.contextmanager
def snapshot_file(
    tree: ArtifactTree, root: str | os.PathLike[str], columns: dict[str, list[Any]] | None = None
) -> Iterator[str]:
    """A temporary snapshot of ``tree`` for the notebooks of one run ("" if it cannot be written:
    the notebooks then read the tree themselves); removed afterwards."""
    folder = tempfile.mkdtemp(prefix="ztb-snapshot-")
    try:
        try:
            path = str(write_snapshot(tree, Path(folder) / "sessions.parquet", root, columns))
        except (OSError, ValueError) as exc:
            warnings.warn(
                f"no snapshot for the notebooks ({exc}); each reads the tree", SnapshotWarning, stacklevel=3
            )
            path = ""
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
