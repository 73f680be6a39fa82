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
* Exit codes: 0 ok; 1 a cell raised (the message names notebook, cell and exception); 3 the kernel
  died or a time limit was hit; 2 bad usage (unknown notebook, missing kernel).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from ztbkit.charset import child_env, decode_output
from ztbkit.errors import UsageError
from ztbkit.fsio import atomic_write_bytes, atomic_write_text
from ztbkit.proc import kill_tree

NOTEBOOKS = ("dashboard", "trends", "budget", "cost")
TITLES = {
    "dashboard": "Zaif Trade Bot Dashboard",
    "trends": "Trend Report",
    "budget": "Daily Budget",
    "cost": "Cost Report",
}
DEFAULT_CELL_TIMEOUT = 600
DEFAULT_RUN_TIMEOUT = 1800
EXIT_OK, EXIT_CELL_FAILED, EXIT_USAGE, EXIT_KERNEL = 0, 1, 2, 3
_EXIT = {"ok": EXIT_OK, "cell-failed": EXIT_CELL_FAILED, "usage": EXIT_USAGE, "kernel-died": EXIT_KERNEL,
         "timed-out": EXIT_KERNEL}  # fmt: skip
TEMPLATES = Path(__file__).parent / "templates"


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
        status = "ok" if self.status == "ok" else "failed"
        return f"{status:<6} {self.name + '.html':<12} {where}  {self.seconds:.1f} s{tail}"


def notebook_dirs() -> list[Path]:
    """Where report notebooks are looked for, in order: $ZTB_NOTEBOOKS_DIR, the source checkout, the install."""
    dirs = []
    if os.environ.get("ZTB_NOTEBOOKS_DIR"):
        dirs.append(Path(os.environ["ZTB_NOTEBOOKS_DIR"]))
    dirs.append(Path(__file__).resolve().parents[1] / "notebooks")
    dirs.append(Path(sys.prefix) / "share" / "ztbkit" / "notebooks")
    return dirs


def find_notebook(name: str) -> Path:
    """The path of report notebook ``name`` (or of an .ipynb path given directly)."""
    if name.endswith(".ipynb"):
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"notebook {path} not found")
        return path
    if name not in NOTEBOOKS:
        raise UsageError(f"unknown report {name!r} (choose from {', '.join(NOTEBOOKS)})")
    for d in notebook_dirs():
        if (d / f"{name}.ipynb").is_file():
            return d / f"{name}.ipynb"
    raise UsageError(f"notebook {name}.ipynb not found in {', '.join(map(str, notebook_dirs()))}")


def notebook_parameters(name: str) -> list[str] | None:
    """The names assigned in notebook ``name``'s cell tagged ``parameters`` (what ``-p`` may set); None
    when it has no such cell (papermill then injects the values at the top, unchecked)."""
    import ast

    nb = json.loads(find_notebook(name).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            tree = ast.parse(source if isinstance(source, str) else "".join(source))
            names: list[str] = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return None


def check_parameters(names: Sequence[str], keys: Sequence[str]) -> None:
    """UsageError naming ``-p KEY`` when no notebook in ``names`` has that parameter: papermill would
    only inject it as an unused variable, so a typo would render the defaults and exit 0."""
    known = {n: notebook_parameters(n) for n in names}
    if any(params is None for params in known.values()):
        return
    for key in keys:
        if not any(key in (params or ()) for params in known.values()):
            choices = sorted({p for params in known.values() for p in params or ()})
            raise UsageError(
                f"-p {key}: not a parameter of {', '.join(names)} (choose from {', '.join(choices)})"
            )


def kernel_name() -> str:
    """$ZTB_KERNEL, else the ``ztbkit`` kernel `make setup` installs, else ipykernel's own python3."""
    if os.environ.get("ZTB_KERNEL"):
        return os.environ["ZTB_KERNEL"]
    from jupyter_client.kernelspec import KernelSpecManager

    return "ztbkit" if "ztbkit" in KernelSpecManager().find_kernel_specs() else "python3"


def parse_parameter(value: str) -> Any:
    """``-p KEY VALUE``: JSON when it parses (numbers, true/false, null, lists), else the text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


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


# A Unix socket path must fit in sun_path (104 bytes on macOS, 108 on Linux); the kernel appends "-N".
_MAX_IPC_PREFIX = 90


@contextlib.contextmanager
def kernel_transport() -> Iterator[dict[str, Any]]:
    """papermill/nbclient keyword arguments that start one kernel without racing other starts.

    With TCP, jupyter_client picks free ports by binding port 0 and closing the socket before the
    kernel binds it, so kernels starting at the same moment in separate processes can pick the same
    port ("Kernel didn't respond"). On POSIX the kernel instead gets IPC sockets under a fresh
    private folder (mode 0700, removed afterwards): names no other run can choose. Elsewhere (Windows)
    or when the temp path is too long for a socket, TCP stays and the start retry covers the race.
    """
    if os.name != "posix":
        yield {}
        return
    from traitlets.config import Config

    runtime = tempfile.mkdtemp(prefix="ztb-kernel-")
    try:
        prefix = os.path.join(runtime, "k")
        if len(prefix.encode()) > _MAX_IPC_PREFIX:
            yield {}
            return
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = prefix
        config.KernelManager.connection_file = os.path.join(runtime, "kernel.json")
        yield {"config": config}
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


_ENGINE = "ztbkit"


@functools.cache
def headless_engine() -> str:
    """Register (once per process) and name the papermill engine reports run with: papermill's own
    nbclient engine, except that Output widgets keep their state in the notebook instead of sending it
    to the kernel (the hang in the module docstring)."""
    from nbclient.output_widget import OutputWidget
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class QuietOutputWidget(OutputWidget):
        def _publish_msg(self, *args: Any, **kwargs: Any) -> None:
            """Nothing goes back to the kernel: nobody reads its copy of the state in a headless run."""

    class Client(PapermillNotebookClient):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.widget_registry = {"@jupyter-widgets/output": {"OutputModel": QuietOutputWidget}}

    class Engine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:  # fmt: skip
            # papermill's NBClientEngine.execute_managed_notebook, with the client above.
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout or kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)  # fmt: skip
            return Client(nb_man, **final).execute()

    papermill_engines.register(_ENGINE, Engine)
    return _ENGINE


def _html_exporter(base: type) -> type:
    """nbconvert's HTMLExporter without its final BeautifulSoup pass over the whole page.

    That pass only adds default alt text (our template writes real alt text) and tabindex to code
    cells (reports show none); on a 1,000-session dashboard it costs about 0.4 s. If nbconvert's
    internals differ from what this relies on, the stock exporter runs instead.
    """

    class FastHTMLExporter(base):  # type: ignore[misc]
        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
            try:
                from nbconvert.exporters.templateexporter import TemplateExporter
                from nbconvert.filters.highlight import Highlight2HTML
                from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

                langinfo = nb.metadata.get("language_info", {})
                lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
                resources = self._init_resources(resources)
                self.register_filter(
                    "highlight_code",
                    self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)),
                )
                self.register_filter(
                    "filter_data_type",
                    WidgetsDataTypeFilter(
                        notebook_metadata=self._nb_metadata, parent=self, resources=resources
                    ),
                )
            except (ImportError, AttributeError, TypeError):
                return super().from_notebook_node(nb, resources, **kw)
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    return FastHTMLExporter


def export(nb_path: Path, out_dir: Path, stem: str, title: str, formats: Sequence[str]) -> list[str]:
    """Export an executed notebook to HTML and/or Markdown without code cells or prompts."""
    import nbformat
    from nbconvert import HTMLExporter, MarkdownExporter

    nb = nbformat.read(nb_path, as_version=4)
    # Reports show outputs only: no code, no prompts, and no Markdown cells (those are notes for
    # JupyterLab users; the outputs carry their own headings).
    common = {"exclude_input": True, "exclude_input_prompt": True, "exclude_output_prompt": True,
              "exclude_markdown": True}  # fmt: skip
    written = []
    if "html" in formats:
        exporter = _html_exporter(HTMLExporter)(
            template_name="ztb", extra_template_basedirs=[str(TEMPLATES)], **common
        )
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        written.append(str(atomic_write_text(out_dir / f"{stem}.html", body)))
    if "md" in formats:
        from traitlets.config import Config

        # Our outputs carry a Markdown form; prefer it to raw HTML in a .md file. The priority is read
        # by nbconvert's data-type filter from config, so it must be set there, not on the exporter.
        config = Config()
        config.NbConvertBase.display_data_priority = [
            "text/markdown",
            "image/png",
            "image/svg+xml",
            "text/plain",
        ]
        md_exporter = MarkdownExporter(config=config, **common)
        body, resources = md_exporter.from_notebook_node(nb, resources={"output_files_dir": f"{stem}_files"})
        for rel, data in resources.get("outputs", {}).items():
            atomic_write_bytes(out_dir / rel, data)
        written.append(str(atomic_write_text(out_dir / f"{stem}.md", body)))
    return written


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
    out.mkdir(parents=True, exist_ok=True)
    partial, final = out / f".{base}.partial.ipynb", out / f"{base}.ipynb"
    result = ReportResult(base, "ok", ipynb=str(final))
    # Absolute: the notebook resolves a relative artifacts_dir against the project root, the CLI
    # against the caller's folder (a URL is passed as given).
    given = os.fspath(artifacts_dir)
    params = {"artifacts_dir": given if "://" in given else os.path.abspath(given), **(parameters or {})}
    try:
        for attempt in (1, 2):
            try:
                with kernel_transport() as transport:
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
        result.outputs = export(final, out, base, TITLES.get(src.stem, base), formats)
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
                        "parameters": dict(parameters or {}), "cell_timeout": cell_timeout}  # fmt: skip
                # UTF-8 mode for the worker and its kernel; output decoded UTF-8 first (ztbkit.charset).
                out_f: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, with err_f)
                err_f: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
                proc = subprocess.Popen(
                    [sys.executable, "-m", "ztbkit.reports", json.dumps(spec)],
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
    """Child-process entry: ``python -m ztbkit.reports '<json spec>'``; prints the result as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(args[0])
    try:
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
