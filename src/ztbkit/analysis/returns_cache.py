"""The leaderboard's per-session return moments, cached by the identity of the files they come from.

Policy (users depend on it):

* A session's moments (from its ``eval_*.json`` series, else its TensorBoard returns tag; see
  :mod:`ztbkit.analysis.leaderboard`) are reused only when the session folder holds the same
  ``eval_*.json`` names, each with the same identity (size, ``mtime_ns``, inode, ``ctime_ns``), the returns tag is the
  same and — when they did not come from an ``eval_*.json`` — every file under ``tb/`` and
  ``tensorboard/`` has the same identity too. Identities are taken before the files are read, and one
  taken within 2 s of a file's mtime is not kept (:mod:`ztbkit.data.folderid`): a file changed again
  in the same clock tick is read again the next night. A changed session's numbers always change.
* The folder is listed only when its mtime changed, on file systems where that is reliable
  (:func:`ztbkit.data.folderid.mtimes_trusted`: local Linux file systems); elsewhere every folder is
  listed each time, as before, and only the reading and the arithmetic are saved.
* One file per tree in ``$XDG_CACHE_HOME/ztbkit/returns/`` (default ``~/.cache``), written atomically
  and only when something changed; a cache written by other leaderboard code, unreadable or of the
  wrong shape is ignored (rebuilt). Deleting it is always safe. ``ZTB_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

from ztbkit.analysis.stats import Moments
from ztbkit.data.folderid import file_identity, is_racy, mtimes_trusted, now_ns

VERSION = 1
#: The code whose rules decide a session's moments: a change to any of them invalidates the cache.
_CODE = ("analysis/leaderboard.py", "analysis/stats.py", "analysis/returns_cache.py", "core/jsonread.py")
_TB_FOLDERS = ("tb", "tensorboard")


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in _CODE:
        h.update((Path(__file__).parents[1] / name).read_bytes())
    return h.hexdigest()[:16]


def default_path(tree: str) -> Path:
    """The cache file of the tree (the folder holding the session folders), by its real path."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(os.fsencode(os.path.realpath(tree))).hexdigest()[:16]
    return base / "ztbkit" / "returns" / f"{key}.json"


def eval_names(folder: str) -> list[str]:
    """The ``eval_*.json`` names in ``folder``, in name order (raises OSError when it cannot be listed)."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.name.startswith("eval_") and e.name.endswith(".json"))


def tb_identity(folder: str) -> list[list[Any]]:
    """``[relative path, identity]`` of every file under the session's TensorBoard folders, sorted."""
    out: list[list[Any]] = []
    for sub in _TB_FOLDERS:
        top = os.path.join(folder, sub)
        for here, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(here, name)
                out.append([os.path.relpath(path, folder), file_identity(path)])
    return out


def _names_ok(names: Any) -> bool:
    return isinstance(names, list) and all(isinstance(n, str) and os.sep not in n for n in names)


class Pending:
    """The identity of a session's sources, taken before they are read (see :meth:`ReturnsCache.store`)."""

    __slots__ = ("dir", "files", "folder", "names", "taken")

    def __init__(
        self, folder: str, dir_id: list[int], names: list[str], files: list[Any], taken: int
    ) -> None:
        self.folder, self.dir, self.names, self.files, self.taken = folder, dir_id, names, files, taken


class ReturnsCache:
    """The cached moments of the sessions of any number of trees (one file per tree)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._trees: dict[str, tuple[Path, str, dict[str, Any]]] = {}
        self._dirty: set[str] = set()
        self._trusted: dict[str, bool] = {}
        self._code = _fingerprint()
        self.hits = 0
        self.misses = 0

    def _entries(self, tree: str, tag: str) -> dict[str, Any]:
        got = self._trees.get(tree)
        if got is None or got[1] != tag:
            import orjson

            path = self._path or default_path(tree)
            entries: dict[str, Any] = {}
            try:
                doc = orjson.loads(path.read_bytes())
                if (
                    isinstance(doc, dict)
                    and [doc.get("version"), doc.get("code"), doc.get("tag")] == [VERSION, self._code, tag]
                    and isinstance(doc.get("entries"), dict)
                ):
                    entries = doc["entries"]
            except (OSError, ValueError):  # absent, unreadable or not JSON: rebuilt
                pass
            got = self._trees[tree] = (path, tag, entries)
            self._trusted[tree] = mtimes_trusted(tree)
        return got[2]

    def lookup(self, folder: str, tag: str) -> tuple[Moments, str] | Pending | None:
        """The cached (moments, where) or None of ``folder`` when its sources are unchanged; else a
        :class:`Pending` identity to :meth:`store` with what the caller computes. Raises OSError when
        the folder cannot be listed (the caller reports it)."""
        tree, name = os.path.split(folder)
        entries = self._entries(tree, tag)
        taken = now_ns()
        st = os.stat(folder)
        dir_id = [st.st_size, st.st_mtime_ns, st.st_ino]
        e: Any = entries.get(name)
        # [folder identity or None, eval_*.json names, their identities, TensorBoard files or None, result]
        ok = isinstance(e, list) and len(e) == 5 and _names_ok(e[1])
        same_names = ok and self._trusted[tree] and e[0] == dir_id  # no entry created, removed or renamed
        names = e[1] if same_names else eval_names(folder)
        files = [file_identity(os.path.join(folder, n)) for n in names]
        # TensorBoard files are appended in place: walked unless there were none and no entry changed.
        if (
            ok
            and names == e[1]
            and files == e[2]
            and (e[3] is None or (e[3] == [] and same_names) or tb_identity(folder) == e[3])
        ):
            self.hits += 1
            got = e[4]
            if not isinstance(got, list) or len(got) != 5:
                return None
            return Moments(got[0], got[1], got[2], got[3]), got[4]
        self.misses += 1
        return Pending(folder, dir_id, names, files, taken)

    def store(self, pending: Pending, tag: str, found: tuple[Moments, str] | None, from_json: bool) -> None:
        """Keep what was computed from the sources ``pending`` identified (not kept when racy)."""
        tb = None if from_json else tb_identity(pending.folder)
        idents = [*pending.files, *(i for _p, i in tb or ())]
        if any(is_racy(i, pending.taken) for i in idents):
            return  # a file changed within a clock tick of the reading: read it again next time
        tree, name = os.path.split(pending.folder)
        entries = self._entries(tree, tag)
        result = None
        if found is not None:
            m, where = found
            result = [m.sharpe, m.skew, m.kurtosis, m.observations, where]
            if not all(math.isfinite(x) for x in (m.sharpe, m.skew, m.kurtosis, m.observations)):
                return  # JSON has no infinities: such a result is computed each time
        racy_dir = is_racy(pending.dir, pending.taken)
        entries[name] = [None if racy_dir else pending.dir, pending.names, pending.files, tb, result]
        self._dirty.add(tree)

    def save(self) -> None:
        """Write the trees whose entries changed (best effort: an unwritable cache only costs time)."""
        import orjson

        from ztbkit.core.errors import ZtbError
        from ztbkit.core.fsio import atomic_write_bytes

        for tree in sorted(self._dirty):
            path, tag, entries = self._trees[tree]
            doc = {"version": VERSION, "code": self._code, "tag": tag, "entries": entries}
            try:
                atomic_write_bytes(path, orjson.dumps(doc), durable=False)
            except (OSError, TypeError, ValueError, ZtbError):
                continue
        self._dirty.clear()
