"""A local mirror of a remote folder, for readers that need real files (TensorBoard event files).

Policy: one listing per call; only objects whose ETag (or mtime) and size changed since the last mirror
are downloaded, concurrently by the backend's batch ``get``; local files no longer listed are removed.
The mirror lives in ``$XDG_CACHE_HOME/ztbkit/mirror/<hash of the URL>`` (default ``~/.cache``);
deleting it is always safe.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ztbkit.core.errors import ArtifactsNotFoundError
from ztbkit.core.fsio import atomic_write_bytes, make_folders
from ztbkit.data.storage import described, filesystem, redact


def mirror_dir(url: str) -> Path:
    """Where :func:`mirror` keeps the local copy of ``url``: under ``$XDG_CACHE_HOME/ztbkit/mirror``."""
    import hashlib

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ztbkit" / "mirror" / hashlib.sha256(redact(url).encode()).hexdigest()[:16]


def mirror(url: str, local: Path | None = None) -> Path:
    """A local copy of the folder ``url``, for readers that need files (TensorBoard event files).

    One listing; only objects whose ETag/size changed since the last mirror are downloaded (concurrently,
    by the backend's batch ``get``); local files no longer listed are removed. Returns the local folder.
    """
    import json

    local = local or mirror_dir(url)
    fs, root = filesystem(url.rstrip("/"))
    root = root.rstrip("/")
    with contextlib.suppress(Exception):
        fs.invalidate_cache(root)
    try:
        found = fs.find(root, withdirs=False, detail=True)
    except FileNotFoundError:
        found = {}
    except Exception as exc:
        raise ArtifactsNotFoundError(
            "cannot list {url}: {error}", url=redact(url), error=described(exc)
        ) from exc
    if not found:
        raise ArtifactsNotFoundError("{url} is empty or does not exist", url=redact(url))
    manifest_path = local / ".ztb-mirror.json"
    try:
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    new: dict[str, str] = {}
    todo: list[tuple[str, str]] = []
    for name, info in found.items():
        rel = name[len(root) + 1 :]
        if not rel or rel.startswith(".") or "/." in rel or ".." in rel.split("/"):
            continue
        new[rel] = f"{info.get('ETag') or info.get('etag') or info.get('mtime')}:{info.get('size')}"
        if old.get(rel) != new[rel] or not (local / rel).is_file():
            todo.append((name, rel))
    for rel in set(old) - set(new):
        with contextlib.suppress(OSError):
            (local / rel).unlink()
    for _, rel in todo:
        make_folders((local / rel).parent)
    if todo:
        fs.get([n for n, _ in todo], [str(local / rel) for _, rel in todo])
    atomic_write_bytes(manifest_path, json.dumps(new, sort_keys=True).encode(), durable=False)
    return local
