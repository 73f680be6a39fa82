"""Artifacts and outputs on any fsspec filesystem (``s3://``, ``gs://``, ``az://``, ``file://``, plain paths).

Policy (users depend on it):

* A location with a scheme other than ``file://`` is opened with fsspec and its backend (s3fs, gcsfs,
  adlfs: the ``ztbkit[s3]``/``[gcs]``/``[azure]`` extras). Credentials and endpoints come only from the
  backend's standard sources (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, instance roles, fsspec config);
  every URL ztbkit prints has its user-info and secret-looking query values replaced by ``***``.
* Credentials and endpoint are looked up afresh for every command (no client is kept across calls in
  a process), so changing ``AWS_ENDPOINT_URL`` or ``AWS_PROFILE`` in a notebook takes effect.
* Reading a remote artifact tree lists it once per run (one recursive listing), then fetches the small
  JSON files concurrently through the backend's own async ``_cat_file`` in batches of
  :data:`FETCH_CONCURRENCY`. Throttling (503 SlowDown) is retried by the backend's retry policy.
  A listed object that is missing, unreadable, too large or truncated becomes a warning naming its URL;
  the other sessions still load, exactly as for a local folder.
* Writing to object storage is a whole-object PUT: a reader sees the old object or the new one, never a
  half-written one (the store itself guarantees this), but several objects are not replaced as one unit
  and there is no rename. Reports are rendered in a local staging folder first and uploaded when
  complete, so a failed render never uploads a partial file. Local writes stay atomic (``ztbkit.core.fsio``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ztbkit.core.errors import N_, ArtifactsNotFoundError, Reason, UsageError, ZtbError
from ztbkit.core.fsio import atomic_write_bytes, make_folders
from ztbkit.core.jsonread import DEFAULT_MAX_JSON_BYTES, JsonRead, Problem, parse_json_bytes

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: Objects fetched at once from a remote tree (the backend's batch size): enough to hide per-request
#: latency, few enough not to trip a store's request-rate limits.
FETCH_CONCURRENCY = 64

#: The files of a session folder the loaders read (relative to the folder, "/"-separated).
SESSION_FILES = (
    "summary.json", "metrics.json", "run_metadata.json", "reports/gates.json", "reports/cost_estimate.json",
)  # fmt: skip

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_SECRET_KEYS = re.compile(r"key|secret|token|sig|password|credential|auth", re.IGNORECASE)
_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
}


def scheme(location: str | os.PathLike[str]) -> str | None:
    """The URL scheme of ``location`` (lower case), or None for a plain path."""
    m = _SCHEME.match(os.fspath(location))
    return m.group(1).lower() if m else None


def is_remote(location: str | os.PathLike[str]) -> bool:
    """True for a URL handled by an fsspec backend; False for plain paths and ``file://`` URLs."""
    return scheme(location) not in (None, "file", "local")


def local_path(location: str | os.PathLike[str]) -> str:
    """A plain path for a local location (``file:///x`` → ``/x``); other locations unchanged."""
    text = os.fspath(location)
    if scheme(text) in ("file", "local"):
        from fsspec.implementations.local import LocalFileSystem

        return str(LocalFileSystem._strip_protocol(text))
    return text


def redact(url: str) -> str:
    """``url`` safe to print: user-info and secret-looking query values become ``***``."""
    if not is_remote(url):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def join(base: str | os.PathLike[str], *parts: str) -> Any:
    """``base / part / ...``: a :class:`~pathlib.Path` for local bases, a ``/``-joined URL otherwise."""
    if is_remote(base):
        return "/".join([os.fspath(base).rstrip("/"), *(p.strip("/") for p in parts)])
    return Path(local_path(base)).joinpath(*parts)


def described(exc: BaseException) -> str:
    """``Type: message`` of a storage backend's exception (botocore's class names say what went wrong)."""
    return f"{type(exc).__name__}: {exc}"


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem and backend path of ``url``; a missing backend is a usage error (exit 2)."""
    import fsspec

    try:
        # A fresh client each time: fsspec's instance cache would keep the endpoint and credentials
        # of the first call for the process's lifetime (a notebook kernel, a test run), even after
        # AWS_ENDPOINT_URL or AWS_PROFILE changed. Each run lists once, so this costs one client per run.
        return fsspec.core.url_to_fs(url, skip_instance_cache=True)  # type: ignore[no-any-return]
    except ImportError as exc:
        extra = _EXTRAS.get(scheme(url) or "", "")
        hint = f" (pip install 'ztbkit[{extra}]')" if extra else ""
        raise UsageError(
            "{url}: no filesystem backend for this URL{hint}: {error}",
            url=redact(url),
            hint=hint,
            error=str(exc),
        ) from exc
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError("{url}: cannot open: {error}", url=redact(url), error=str(exc)) from exc


def fetch_many(
    fs: AbstractFileSystem, paths: Sequence[str], *, batch_size: int = FETCH_CONCURRENCY
) -> list[Any]:
    """The bytes of each path, or the exception reading it raised, in order; ``batch_size`` at a time.

    Async backends (s3fs, gcsfs, adlfs) run their ``_cat_file`` coroutines in bounded batches, which is
    what their ``cat([...])`` does, minus its glob expansion: a session id holding ``[`` or ``*`` must
    be read literally. Other backends use a bounded thread pool.
    """
    if not paths:
        return []
    if getattr(fs, "async_impl", False):
        from fsspec.asyn import _run_coros_in_chunks, sync

        coros = [fs._cat_file(p) for p in paths]
        return sync(fs.loop, _run_coros_in_chunks, coros, batch_size=batch_size, return_exceptions=True)  # type: ignore[no-any-return]

    def one(p: str) -> Any:
        try:
            return fs.cat_file(p)
        except Exception as exc:  # returned to the caller, who words it as a Problem
            return exc

    with ThreadPoolExecutor(max_workers=min(batch_size, len(paths))) as pool:
        return list(pool.map(one, paths))


def _problem_from(exc: BaseException, url: str) -> Problem:
    if isinstance(exc, FileNotFoundError):
        return Problem(url, Reason("listed, but gone when read (deleted meanwhile?)"))
    if isinstance(exc, PermissionError):
        return Problem(url, Reason("cannot read: {reason}", reason=N_("Permission denied")))
    return Problem(url, Reason("cannot read: {reason}", reason=described(exc)))  # the backend's own words


class RemoteTree:
    """An artifact tree on object storage: listed once, its session files fetched concurrently.

    The loaders in :mod:`ztbkit.data.artifacts` ask it for files by URL (``read_json``/``exists``) exactly
    as they would open local files; every answer comes from the one listing and the one batch fetch.
    """

    def __init__(self, url: str, *, max_bytes: int = DEFAULT_MAX_JSON_BYTES,
                 batch_size: int = FETCH_CONCURRENCY) -> None:  # fmt: skip
        self.url = redact(url.rstrip("/"))
        self.fs, root = filesystem(url.rstrip("/"))
        self._root = root.rstrip("/")
        self.max_bytes = max_bytes
        self.listing = self._list()
        self.folders = sorted({rel.split("/", 1)[0] for rel in self.listing if "/" in rel} - {""})
        self.folders = [f for f in self.folders if not f.startswith(".")]
        self._dirs = {rel.rsplit("/", 1)[0] for rel in self.listing if "/" in rel}
        self._reads: dict[str, JsonRead] = {}
        self._fetched = False
        #: Folders whose files need not be fetched (the load cache knows them unchanged).
        self.skip: set[str] = set()

    def _fetch_all(self) -> None:
        """On the first read: every session file (but those of :attr:`skip`), in one concurrent batch."""
        self._fetched = True
        folders = [d for d in self.folders if d not in self.skip]
        wanted = ["index.json", *(f"{d}/{f}" for d in folders for f in SESSION_FILES)]
        self.fetch([rel for rel in wanted if rel in self.listing and rel not in self._reads])

    def _list(self) -> dict[str, dict[str, Any]]:
        """One recursive listing: {path relative to the root: the backend's info (size, ETag...)}."""
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(self._root)  # "list once per run", not once per process
        try:
            found = self.fs.find(self._root, withdirs=False, detail=True)
        except FileNotFoundError:
            found = {}
        except (OSError, ValueError) as exc:
            raise ArtifactsNotFoundError(
                "cannot list artifacts location {url}: {error}", url=repr(self.url), error=str(exc)
            ) from exc
        except Exception as exc:  # botocore/azure errors that are not OSError: word them, keep the chain
            raise ArtifactsNotFoundError(
                "cannot list artifacts location {url}: {error}", url=repr(self.url), error=described(exc)
            ) from exc
        prefix = self._root + "/"
        out = {name[len(prefix) :]: info for name, info in found.items() if name.startswith(prefix)}
        if not out:
            raise ArtifactsNotFoundError(
                "artifacts location {url} is empty or does not exist (set it with --artifacts-dir)",
                url=repr(self.url),
            )
        return out

    def fetch(self, rels: Sequence[str]) -> None:
        """Fetch and parse ``rels`` (paths relative to the root) concurrently; results are kept."""
        todo = []
        for rel in rels:
            url = f"{self.url}/{rel}"
            size = self.listing[rel].get("size")
            if isinstance(size, int) and size > self.max_bytes:
                shown, limit = format(size, ","), format(self.max_bytes, ",")
                why = Reason("object is {size} bytes, over the {limit}-byte limit", size=shown, limit=limit)
                self._reads[rel] = JsonRead(None, Problem(url, why))
            else:
                todo.append(rel)
        results = fetch_many(self.fs, [f"{self._root}/{rel}" for rel in todo])
        for rel, data in zip(todo, results, strict=True):
            url = f"{self.url}/{rel}"
            if isinstance(data, BaseException):
                self._reads[rel] = JsonRead(None, _problem_from(data, url))
            else:
                self._reads[rel] = parse_json_bytes(bytes(data), url)

    def _rel(self, path: str) -> str | None:
        path = path.replace(os.sep, "/") if os.sep != "/" else path
        return path[len(self.url) + 1 :] if path.startswith(self.url + "/") else None

    def read_json(self, path: str) -> JsonRead | None:
        """Like :func:`ztbkit.core.jsonread.read_json_if_exists`, answered from the listing and the fetch."""
        rel = self._rel(path)
        if rel is None:
            return None
        if not self._fetched:
            self._fetch_all()
        if rel in self._reads:
            return self._reads[rel]
        if rel in self._dirs:
            return JsonRead(None, Problem(path, Reason("is {kind}, expected a file", kind=N_("a folder"))))
        if rel in self.listing:  # listed but not prefetched: fetch it now
            self.fetch([rel])
            return self._reads[rel]
        return None

    def exists(self, path: str) -> bool:
        rel = self._rel(path)
        return rel is not None and (rel in self.listing or rel in self._dirs)

    def identity(self, folder: str) -> list[Any]:
        """What identifies a session folder's content: [name, version or ETag, size] of each file it reads."""
        rel = self._rel(folder) or ""
        out: list[Any] = []
        for name in (*SESSION_FILES, "ztb.stop"):
            info = self.listing.get(f"{rel}/{name}")
            if info is None:
                out.append([name, "dir"] if f"{rel}/{name}" in self._dirs else None)
                continue
            version = info.get("VersionId") or info.get("ETag") or info.get("etag") or info.get("generation")
            out.append(
                [name, str(version or info.get("LastModified") or info.get("mtime")), info.get("size")]
            )
        return out


# --------------------------------------------------------------------------- writing


def put_file(local: str | os.PathLike[str], target: str) -> str:
    """Upload one local file to ``target`` as a whole-object PUT; returns the printable URL."""
    fs, path = filesystem(target)
    try:
        fs.put_file(os.fspath(local), path)
    except Exception as exc:
        raise StorageWriteError(
            "cannot upload to {url}: {error}", url=redact(target), error=described(exc)
        ) from exc
    return redact(target)


def upload_tree(local_dir: str | os.PathLike[str], target: str) -> list[str]:
    """Upload every file under ``local_dir`` to ``target/<relative path>``; returns the URLs written."""
    base = Path(local_dir)
    files = sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        return []
    fs, root = filesystem(target)
    rpaths = [f"{root.rstrip('/')}/{p.relative_to(base).as_posix()}" for p in files]
    try:
        fs.put([str(p) for p in files], rpaths)
    except Exception as exc:
        raise StorageWriteError(
            "cannot upload to {url}: {error}", url=redact(target), error=described(exc)
        ) from exc
    return [join(redact(target), p.relative_to(base).as_posix()) for p in files]


def write_bytes(target: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to a local path (atomically) or a URL (one whole-object PUT)."""
    if not is_remote(target):
        return str(atomic_write_bytes(local_path(target), data))
    fs, path = filesystem(os.fspath(target))
    try:
        fs.pipe_file(path, data)
    except Exception as exc:
        raise StorageWriteError(
            "cannot write {url}: {error}", url=redact(os.fspath(target)), error=described(exc)
        ) from exc
    return redact(os.fspath(target))


class StorageWriteError(ZtbError, OSError):
    """An upload to object storage failed (exit 1; the local staging copy is kept and named)."""

    exit_code = 1


def shown(text: str, local: Path, target: str | os.PathLike[str], up: int = 0) -> str:
    """``text`` with the staging folder ``local`` replaced by the (redacted) URL it is uploaded to.

    ``up=1``: ``target`` names a file in that folder rather than the folder itself.
    """
    if not is_remote(target):
        return text
    url = redact(os.fspath(target)).rstrip("/")
    for _ in range(up):
        url = url.rsplit("/", 1)[0]
    return text.replace(str(local), url)


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A local folder to render into: ``target`` itself when local; else a temporary folder that is
    uploaded to ``target`` when the block ends without an exception, then removed."""
    if not is_remote(target):
        path = Path(local_path(target))
        make_folders(path)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="ztb-stage-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        upload_tree(tmp, os.fspath(target))
    except StorageWriteError as exc:  # nothing lost: the rendered files stay where the message says
        raise StorageWriteError(
            "{error}; the rendered files are kept in {folder}", error=exc, folder=tmp
        ) from exc
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A local path to write one file to; uploaded to ``target`` afterwards when it is a URL."""
    if not is_remote(target):
        yield Path(local_path(target))
        return
    name = os.fspath(target).rstrip("/").rsplit("/", 1)[-1]
    with staged_dir(os.fspath(target).rstrip("/").rsplit("/", 1)[0]) as tmp:
        yield tmp / name
