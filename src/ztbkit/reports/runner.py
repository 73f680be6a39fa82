"""Run report notebooks headless with papermill and export them with nbconvert.

Policy:

* A notebook runs in a real Jupyter kernel with a per-cell timeout (``cell_timeout``). Parallel runs
  (:func:`render_reports`) each get their own process, and a whole-run limit (``run_timeout``) kills
  that process group — kernel included — when exceeded.
* Exports hide code cells and prompts (``exclude_input``): HTML (self-contained, no CDN) and
  Markdown, whose figure files go to ``<name>_files/`` beside the ``.md``.
* The executed ``.ipynb`` is always kept beside the outputs, failed runs included. It is written to
  a temporary name and moved into place, so a reader never sees half a notebook.
* Kernels start without racing each other: on POSIX each run's kernel talks over IPC (Unix
  sockets) in a private folder of its own, so parallel starts cannot pick the same TCP port; a
  kernel that still fails to start (before any cell ran) is started once more, and the retry is
  written to stderr as one ``ztb:`` line. A second failure is a kernel failure (exit 3).
* Widgets in a headless run (``interactive=True``) never talk back to the kernel: nbclient's Output
  widget would otherwise send each captured output to the kernel's shell socket while the cell runs,
  and ipykernel 7 can miss a request that lands while it sends a reply (ipykernel issue #1554,
  nbclient #312): the kernel sits idle, the run hangs. The widget state is still recorded in the
  notebook. Measured before the fix: 1 hang in 6 runs of the four reports with ``interactive=True``.
* A caller interrupted while reports render (Ctrl-C, a timeout) takes their processes with it.
* Each report worker writes its stdout/stderr (which its kernel inherits) to temporary files, never
  to a pipe: a kernel writing megabytes straight to its stderr cannot block the run.
* Every notebook gets the run's language as its ``lang`` parameter (``-p lang`` wins): the one this
  process speaks (``--lang``, ``ZTB_LANG``, the locale; :mod:`ztbkit.locale`).
* Exit codes: 0 ok; 1 a cell raised (the message names notebook, cell and exception); 3 the kernel
  died or a time limit was hit; 2 bad usage (unknown notebook, missing kernel).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from ztbkit.core.charset import child_env, decode_output
from ztbkit.core.errors import UsageError
from ztbkit.core.fsio import make_folders
from ztbkit.core.proc import kill_tree
from ztbkit.locale import _, current_language, use_language
from ztbkit.reports.export import export
from ztbkit.reports.kernel import headless_engine, kernel_name, kernel_transport
from ztbkit.reports.notebooks import HEADLESS_ENV, TITLES, find_notebook

DEFAULT_CELL_TIMEOUT = 600
DEFAULT_RUN_TIMEOUT = 1800
EXIT_OK, EXIT_CELL_FAILED, EXIT_USAGE, EXIT_KERNEL = 0, 1, 2, 3
_EXIT = {"ok": EXIT_OK, "cell-failed": EXIT_CELL_FAILED, "usage": EXIT_USAGE, "kernel-died": EXIT_KERNEL,
         "timed-out": EXIT_KERNEL}  # fmt: skip


@dataclass(slots=True)
class ReportResult:
    name: str
    status: str  # ok | cell-failed | kernel-died | timed-out | usage
    ipynb: str | None = None
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def exit_code(self) -> int:
        return _EXIT.get(self.status, EXIT_KERNEL)

    def line(self) -> str:
        where = self.outputs[0] if self.outputs else (self.ipynb or "-")
        tail = f"  ({self.error})" if self.error else ""
        status = _("ok") if self.status == "ok" else _("failed")
        return f"{status:<6} {self.name + '.html':<12} {where}  {self.seconds:.1f} s{tail}"


def _failed_cell(nb_path: Path) -> str:
    """The cell that was running when the run stopped: the last one papermill started.

    (After a timeout papermill marks every cell complete, so the start times are what is left.)
    """
    try:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "an unknown cell"
    started = [
        i
        for i, c in enumerate(nb.get("cells", []))
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return f"cell {started[-1]}" if started else "an unknown cell"


def _cells_started(nb_path: Path) -> int:
    """How many cells papermill started in ``nb_path`` (0: the kernel never got that far)."""
    try:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return sum(1 for c in nb.get("cells", []) if c.get("metadata", {}).get("papermill", {}).get("start_time"))


@contextlib.contextmanager
def _headless() -> Iterator[None]:
    """The kernel started inside knows it runs headless (``ZTB_HEADLESS=1``, inherited from this
    process): the report views then ignore ``interactive=True`` with a note (ztbkit.reports.blocks)."""
    old = os.environ.get(HEADLESS_ENV)
    os.environ[HEADLESS_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(HEADLESS_ENV, None)
        else:
            os.environ[HEADLESS_ENV] = old


def render_notebook(
    name: str,
    *,
    artifacts_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    stem: str | None = None,
    formats: Sequence[str] = ("html", "md"),
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    kernel: str | None = None,
) -> ReportResult:
    """Execute one report notebook in this process and export it. Never raises for a failed cell."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillException, PapermillExecutionError

    t0 = time.monotonic()
    src = find_notebook(name)
    base = stem or src.stem
    out = Path(out_dir)
    make_folders(out)
    partial, final = out / f".{base}.partial.ipynb", out / f"{base}.ipynb"
    result = ReportResult(base, "ok", ipynb=str(final))
    # Absolute: the notebook resolves a relative artifacts_dir against the project root, the CLI
    # against the caller's folder (a URL is passed as given).
    given = os.fspath(artifacts_dir)
    params = {"artifacts_dir": given if "://" in given else os.path.abspath(given), "lang": current_language(),
              **(parameters or {})}  # fmt: skip
    try:
        for attempt in (1, 2):
            try:
                with kernel_transport() as transport, _headless():
                    papermill.execute_notebook(
                        str(src), str(partial), parameters=params, kernel_name=kernel or kernel_name(),
                        progress_bar=False, execution_timeout=cell_timeout, start_timeout=120,
                        engine_name=headless_engine(), **transport,
                    )  # fmt: skip
                break
            except (RuntimeError, TimeoutError) as exc:
                # Only a kernel that never reached the first cell is started again (once); a kernel
                # that died in a cell, or a cell timeout, is the notebook's failure, not start-up's.
                if isinstance(exc, CellTimeoutError) or _cells_started(partial) or attempt == 2:
                    raise
                print(f"ztb: {src.name}: the kernel did not start ({exc}); retrying once", file=sys.stderr,
                      flush=True)  # fmt: skip
    except PapermillExecutionError as exc:
        result.status = "cell-failed"
        result.error = (
            f"{src.name}: cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}"
        )
    except CellTimeoutError:
        result.status = "timed-out"
        result.error = f"{src.name}: {_failed_cell(partial)} ran past the {cell_timeout} s cell timeout"
    except DeadKernelError as exc:
        result.status = "kernel-died"
        result.error = f"{src.name}: the kernel died in {_failed_cell(partial)}: {exc}"
    except (RuntimeError, TimeoutError) as exc:  # start-up failed twice (see kernel_transport)
        result.status = "kernel-died"
        result.error = f"{src.name}: the kernel did not start (tried twice): {exc}"
    except (
        PapermillException,
        ValueError,
    ) as exc:  # a notebook papermill cannot run (no language, no tags...)
        result.status = "usage"
        result.error = f"{src.name}: cannot run: {exc}"
    except NoSuchKernel as exc:
        result.status = "usage"
        result.error = (f"{src.name}: Jupyter kernel {exc.name!r} not found; run `make setup` or "
                        "`python -m ipykernel install --sys-prefix --name ztbkit` (or set ZTB_KERNEL)")  # fmt: skip
    finally:
        if partial.exists():
            os.replace(partial, final)
    if result.status == "ok":
        result.outputs = export(final, out, base, str(TITLES.get(src.stem, base)), formats)
    result.seconds = time.monotonic() - t0
    return result


def render_reports(
    names: Sequence[str],
    *,
    artifacts_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    run_timeout: float = DEFAULT_RUN_TIMEOUT,
    jobs: int | None = None,
    on_done: Callable[[ReportResult], None] | None = None,
) -> list[ReportResult]:
    """Render several notebooks, each in its own process, ``jobs`` at a time (default: all, up to 8).

    A run past ``run_timeout`` seconds has its whole process group killed and counts as timed-out;
    its executed notebook, as far as it got, is still kept.
    """
    for n in names:
        find_notebook(n)  # fail fast, before starting anything, on an unknown name
    # Default: all at once (up to 8). Much of a notebook run is kernel start-up latency, so more
    # runs than cores still finish sooner; measured in benchmarks/bench_nightly.py.
    limit = max(1, jobs or min(len(names), 8))
    pending = list(names)
    # Each worker's stdout/stderr go to temporary files, not pipes: its kernel inherits them, and a
    # kernel writing more than a pipe holds (64 KiB) to its own stderr would block until killed.
    running: dict[str, tuple[subprocess.Popen[bytes], float, IO[bytes], IO[bytes]]] = {}
    results: dict[str, ReportResult] = {}
    out = Path(out_dir)
    try:
        while pending or running:
            while pending and len(running) < limit:
                name = pending.pop(0)
                spec = {"name": name, "artifacts_dir": os.fspath(artifacts_dir), "out_dir": os.fspath(out_dir),
                        "parameters": dict(parameters or {}), "cell_timeout": cell_timeout,
                        "lang": current_language()}  # fmt: skip
                # UTF-8 mode for the worker and its kernel; output decoded UTF-8 first (ztbkit.core.charset).
                out_f: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, with err_f)
                err_f: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
                proc = subprocess.Popen(
                    [sys.executable, "-m", "ztbkit.reports.runner", json.dumps(spec)],
                    stdout=out_f, stderr=err_f, env=child_env(),
                    start_new_session=os.name == "posix",
                    creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
                )  # fmt: skip
                running[name] = (proc, time.monotonic(), out_f, err_f)
            for name, (proc, started, out_f, err_f) in list(running.items()):
                elapsed = time.monotonic() - started
                if proc.poll() is None and elapsed < run_timeout:
                    continue
                if proc.poll() is None:
                    kill_tree(proc.pid)
                    proc.wait()
                    stem = Path(name).stem
                    partial = out / f".{stem}.partial.ipynb"
                    if partial.exists():
                        os.replace(partial, out / f"{stem}.ipynb")
                    res = ReportResult(stem, "timed-out", str(out / f"{stem}.ipynb"), seconds=elapsed,
                                       error=f"{stem}.ipynb: the whole run passed the {run_timeout:g} s limit")  # fmt: skip
                else:
                    proc.wait()
                    stdout, stderr = decode_output(_drain(out_f)), decode_output(_drain(err_f))
                    res = _child_result(name, stdout, stderr, proc.returncode, elapsed)
                    for line in stderr.splitlines():  # the child's own notes (a kernel start retried)
                        if line.startswith("ztb: "):
                            print(line, file=sys.stderr, flush=True)
                del running[name]
                out_f.close()
                err_f.close()
                results[name] = res
                if on_done is not None:
                    on_done(res)
            if running:
                time.sleep(0.05)  # polling children; no clock to fake here: real processes are running
    except BaseException:  # interrupted (Ctrl-C, a caller's timeout): no report process outlives us
        for proc, _, out_f, err_f in running.values():
            kill_tree(proc.pid)
            out_f.close()
            err_f.close()
        raise
    return [results[n] for n in names]


def _drain(f: IO[bytes]) -> bytes:
    f.seek(0)
    return f.read()


def _child_result(name: str, stdout: str, stderr: str, code: int, elapsed: float) -> ReportResult:
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    try:
        return ReportResult(**json.loads(last))
    except (ValueError, TypeError):
        tail = " ".join(stderr.strip().splitlines()[-3:]) or f"exit code {code}"
        status = "usage" if code == EXIT_USAGE else "kernel-died"
        return ReportResult(Path(name).stem, status, seconds=elapsed, error=f"{name}: {tail}")


def main(argv: Sequence[str] | None = None) -> int:
    """Child-process entry: ``python -m ztbkit.reports.runner '<json spec>'``; prints the result as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(args[0])
    try:
        use_language(spec.get("lang") or None)
        result = render_notebook(
            spec["name"], artifacts_dir=spec["artifacts_dir"], out_dir=spec["out_dir"],
            parameters=spec.get("parameters"), cell_timeout=int(spec.get("cell_timeout", DEFAULT_CELL_TIMEOUT)),
        )  # fmt: skip
    except UsageError as exc:
        result = ReportResult(Path(spec["name"]).stem, "usage", error=str(exc))
    print(json.dumps(asdict(result)), flush=True)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
