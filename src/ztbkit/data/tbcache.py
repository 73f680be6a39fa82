"""Where ``ztb tb-scrape`` keeps its incremental cache.

Policy (users depend on it):

* The cache lives with ztbkit's own state, never in the bot's folder: by default
  ``$XDG_CACHE_HOME/ztbkit/tb/<hash of the run folder's real path>.json`` (default ``~/.cache``), one
  file per run folder; ``--cache PATH`` puts it elsewhere. Anything that syncs or uploads the
  TensorBoard folder therefore never picks it up. Deleting it is always safe (the next scrape reads
  every file whole).
* ``ZTB_NO_CACHE=1`` (``ztb compat`` sets it for every command it starts) turns the default cache off:
  nothing is written to the user's cache folder.
* A cache that earlier versions wrote into the run folder (``<run-dir>/.ztb-tb-cache.json``) is read
  once: moved to the new place when there is none there yet, then removed. It is removed only when
  ztbkit wrote it (a regular file holding exactly ztbkit's cache object); any other file of that name
  is the user's and is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

from ztbkit.core.fsio import atomic_write_bytes
from ztbkit.core.jsonread import read_json

#: The file name earlier versions used inside the run folder.
LEGACY_NAME = ".ztb-tb-cache.json"
_CACHE_KEYS = frozenset({"version", "tags", "files"})


def caching_disabled() -> bool:
    """``ZTB_NO_CACHE`` is set to anything but empty or ``0``."""
    return os.environ.get("ZTB_NO_CACHE", "") not in ("", "0")


def default_cache_path(run_dir: str | os.PathLike[str]) -> Path:
    """The cache file for ``run_dir`` in the user's cache folder, keyed by the folder's real path."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    text = os.fspath(run_dir)
    where = text if "://" in text else os.path.realpath(text)  # a URL is its own key
    key = hashlib.sha256(os.fsencode(where)).hexdigest()[:16]
    return base / "ztbkit" / "tb" / f"{key}.json"


def written_by_ztbkit(path: Path) -> bool:
    """``path`` is a regular file (not a link) holding exactly the object ztbkit writes as its cache."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    read = read_json(path)
    value = read.value if read.ok else None
    return isinstance(value, dict) and set(value) == _CACHE_KEYS and isinstance(value.get("files"), dict)


def adopt_legacy_cache(run_dir: str | os.PathLike[str], cache: Path) -> bool:
    """Move a cache ztbkit left in ``run_dir`` to ``cache`` (unless one is there) and remove it.

    Returns True when the old file was removed. A file of that name ztbkit did not write is left.
    """
    legacy = Path(run_dir) / LEGACY_NAME
    if not written_by_ztbkit(legacy):
        return False
    if not cache.exists():
        with contextlib.suppress(OSError):
            atomic_write_bytes(cache, legacy.read_bytes())
    try:
        os.unlink(legacy)
    except OSError:
        return False
    return True
