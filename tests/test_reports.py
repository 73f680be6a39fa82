"""Report notebooks through the real runner: papermill, a real Jupyter kernel, nbconvert."""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from conftest import MakeTree

from ztbkit.cli import cli
from ztbkit.core.proc import pid_alive
from ztbkit.reports.notebooks import NOTEBOOKS, PACKAGED, find_notebook
from ztbkit.reports.runner import ReportResult, render_notebook, render_reports

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "artifacts"
    index = {"sessions": [
        {"correlation_id": "20251001T000000Z", "status": "stopped", "created_at": "2025-10-01T09:00:00+09:00"},
        {"correlation_id": "20251002T000000Z", "status": "running", "eta": "3h",
         "created_at": "2025-10-02T09:00:00+09:00"},
        {"correlation_id": EVIL, "status": "stopped", "created_at": "2025-10-02T10:00:00+09:00"},
    ]}  # fmt: skip
    files = {
        "20251001T000000Z": {"summary.json": {"global_step": 1_234_567, "rl_sharpe": 1.4321, "dsr": 0.71,
                                              "p_value": 0.031},
                             "reports/gates.json": {"gates": [{"name": "memory_rss", "status": "fail",
                                                               "error": "RSS 2.6GB"}]},
                             "reports/cost_estimate.json": {"total_cost_jpy": 1555.87, "gpu_hours": 1.0, "power_kwh": 0.3}},
        "20251002T000000Z": {"summary.json": {"global_step": 50_000, "rl_sharpe": 0.25, "dsr": 0.4, "p_value": 0.2}},
        EVIL: {"summary.json": {"global_step": 7, "rl_sharpe": -0.5}},
    }  # fmt: skip
    for sid, docs in files.items():
        for name, doc in docs.items():
            (root / sid / name).parent.mkdir(parents=True, exist_ok=True)
            (root / sid / name).write_text(json.dumps(doc), encoding="utf-8")
    (root / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def rendered(tiny_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    results = render_reports(NOTEBOOKS, artifacts_dir=tiny_tree, out_dir=out)
    assert [(r.name, r.status, r.error) for r in results] == [(n, "ok", "") for n in NOTEBOOKS]
    return out


def no_code_shown(text: str) -> None:
    assert "from ztbkit" not in text and "show_" not in text and "artifacts_dir:" not in text
    assert not re.search(r"In\s*\[\d*\]", text)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_report_writes_html_md_and_executed_notebook(rendered: Path, name: str) -> None:
    html, md = (
        (rendered / f"{name}.html").read_text(encoding="utf-8"),
        (rendered / f"{name}.md").read_text(encoding="utf-8"),
    )
    nb = nbformat.read(rendered / f"{name}.ipynb", as_version=4)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    no_code_shown(html)
    no_code_shown(md)
    assert "cdnjs" not in html and "<script src=" not in html  # self-contained, works offline
    assert not list(rendered.glob(f".{name}*"))  # no temp files left


def test_dashboard_facts(rendered: Path) -> None:
    html = (rendered / "dashboard.html").read_text(encoding="utf-8")
    assert "<title>Zaif Trade Bot Dashboard</title>" in html and "Zaif Trade Bot Dashboard</h1>" in html
    assert "20251001T000000Z" in html and "1,234,567" in html and "1.432" in html and "¥1,556" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and EVIL not in html
    assert 'class="st st-running"' in html and 'class="g-fail"' in html
    # Sharpe/DSR and step-progress plots, inline SVG in the table's box (the filter drives them too)
    assert html.count('<figure role="img"') == 2 and html.count("<svg") >= 2
    md = (rendered / "dashboard.md").read_text(encoding="utf-8")
    assert "| 20251001T000000Z | 2025-10-01 09:00 | stopped | 1,234,567 |" in md and "&lt;script&gt;" in md
    figures = sorted((rendered / "dashboard_files").glob("*.png"))
    assert len(figures) == 2 and all(f"](dashboard_files/{f.name})" in md for f in figures)


def test_trends_budget_cost_facts(rendered: Path) -> None:
    trends = (rendered / "trends.md").read_text(encoding="utf-8")
    assert trends.startswith("# Trend Report") and "## rl_sharpe" in trends and "latest 0.2500" in trends
    budget = (rendered / "budget.md").read_text(encoding="utf-8")
    assert "| 2025-10-01 | 1 | 1.00 | ¥1,556 | 0 |" in budget and "not estimated" in budget
    cost = (rendered / "cost.md").read_text(encoding="utf-8")
    assert (
        "## Training electricity, 2025-10" in cost
        and "| 20251001T000000Z | 2025-10-01 09:00 | 0.30 | recorded (power_kwh in the cost file) | ¥1,556 | ¥1,260 |"
        in cost
    )
    assert len(list((rendered / "cost_files").glob("*.png"))) == 2  # tier stack + cost per 1M steps


def test_notebook_without_a_language_is_a_usage_error(tiny_tree: Path, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nbformat.write(nb, tmp_path / "bare.ipynb")
    result = render_notebook(str(tmp_path / "bare.ipynb"), artifacts_dir=tiny_tree, out_dir=tmp_path / "o")
    assert result.status == "usage" and result.exit_code == 2
    assert result.error == "bare.ipynb: cannot run: No language found in notebook and no override provided."


def test_failing_cell_keeps_its_notebook_and_names_the_cell(tiny_tree: Path, tmp_path: Path) -> None:
    result = render_notebook(
        "trends", artifacts_dir=tiny_tree, out_dir=tmp_path, parameters={"metrics": ["nope"]}
    )
    assert result.status == "cell-failed" and result.exit_code == 1
    assert result.error.startswith("trends.ipynb: cell 3 (In [3]) raised ValueError: metrics: unknown nope")
    nb = nbformat.read(tmp_path / "trends.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    assert not (tmp_path / "trends.html").exists()


def slow_notebook(tmp_path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(code)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, path)
    return path


def test_cell_timeout_is_a_kernel_failure_with_the_notebook_kept(tiny_tree: Path, tmp_path: Path) -> None:
    nb = slow_notebook(tmp_path, "import time\ntime.sleep(60)")
    result = render_notebook(str(nb), artifacts_dir=tiny_tree, out_dir=tmp_path / "o", cell_timeout=2)
    assert result.status == "timed-out" and result.exit_code == 3
    assert (
        result.error == "slow.ipynb: cell 2 ran past the 2 s cell timeout"
    )  # cell 1 is the injected parameters
    assert (tmp_path / "o" / "slow.ipynb").is_file()


def test_dead_kernel_is_told_apart_from_a_failed_cell(tiny_tree: Path, tmp_path: Path) -> None:
    nb = slow_notebook(tmp_path, "import os\nos._exit(9)")
    result = render_notebook(str(nb), artifacts_dir=tiny_tree, out_dir=tmp_path / "o")
    assert result.status == "kernel-died" and result.exit_code == 3
    assert result.error.startswith("slow.ipynb: the kernel died in cell 2")


def test_whole_run_limit_kills_the_process_tree_kernel_included(tiny_tree: Path, tmp_path: Path) -> None:
    import psutil

    # 30 s: room for a kernel to start and reach the sleeping cell on a loaded 2-core machine (the
    # pid file below is the proof it did); the cell would sleep far longer than any bound here.
    pid_file = tmp_path / "kernel.pid"
    nb = slow_notebook(
        tmp_path, f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(900)"
    )
    t0 = time.monotonic()
    [result] = render_reports([str(nb)], artifacts_dir=tiny_tree, out_dir=tmp_path / "o", run_timeout=30)
    assert result.status == "timed-out" and result.exit_code == 3
    assert result.error == "slow.ipynb: the whole run passed the 30 s limit"
    assert time.monotonic() - t0 < 300  # killed, not waited out
    kernel_pid = int(pid_file.read_text(encoding="utf-8"))  # the kernel got as far as the sleeping cell
    assert not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == psutil.STATUS_ZOMBIE
    assert (tmp_path / "o" / "slow.ipynb").is_file()  # as far as it got


def test_an_interrupted_render_leaves_no_report_process_or_kernel_running(
    tiny_tree: Path, tmp_path: Path
) -> None:
    """Ctrl-C (or a caller's own timeout) while reports render: the workers and their kernels die too."""
    import psutil

    pid_file = tmp_path / "kernel.pid"
    (tmp_path / "quick").mkdir()
    (tmp_path / "slow").mkdir()
    quick = slow_notebook(tmp_path / "quick", "y = 2")
    slow = slow_notebook(
        tmp_path / "slow",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(900)",
    )
    seen: list[psutil.Process] = []

    def interrupt(result: object) -> None:  # the quick report is done; the slow one sleeps in its cell
        deadline = time.monotonic() + 240
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid_file.exists(), "the slow report's kernel never reached its cell"
        for worker in psutil.Process().children():  # the slow report's worker, and its kernel below it
            if "ztbkit.reports.runner" in worker.cmdline():
                seen.extend([worker, *worker.children(recursive=True)])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_reports(
            [str(quick), str(slow)], artifacts_dir=tiny_tree, out_dir=tmp_path / "o", on_done=interrupt
        )
    kernel_pid = int(pid_file.read_text(encoding="utf-8"))
    assert kernel_pid in {p.pid for p in seen}  # the sleeping kernel was among the worker's descendants
    psutil.wait_procs(seen, timeout=10)  # render_reports killed them before re-raising
    assert [p.pid for p in seen if pid_alive(p.pid) and p.is_running()] == []


def test_report_cli_parallel_with_progress_lines(tiny_tree: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["report", "trends", "budget", "--artifacts-dir", str(tiny_tree), "--out-dir",
                                 str(tmp_path), "--date", "2025-10-31", "-p", "day", "2025-10-02"])  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and {ln.split()[1] for ln in lines} == {"ok"}
    assert lines[0].startswith("[1/2] ") and lines[1].startswith("[2/2] ")
    day = tmp_path / "2025-10-31"
    assert {p.name for p in day.iterdir()} >= {
        "trends.html",
        "trends.md",
        "trends.ipynb",
        "budget.html",
        "budget.md",
    }
    assert "# Daily Budget for 2025-10-02" in (day / "budget.md").read_text(encoding="utf-8")


def test_report_cli_errors(tiny_tree: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["report", "nope", "--artifacts-dir", str(tiny_tree)])
    assert (
        r.exit_code == 2
        and "unknown report 'nope' (choose from dashboard, trends, budget, cost, compare)" in r.stderr
    )
    r = CliRunner().invoke(cli, ["report", "trends", "--artifacts-dir", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "does not exist" in r.stderr
    r = CliRunner().invoke(cli, ["report", "trends", "--artifacts-dir", str(tiny_tree), "--out-dir", str(tmp_path),
                                 "-p", "metrics", '["bogus"]'])  # fmt: skip
    assert r.exit_code == 1 and "cell 3 (In [3]) raised ValueError" in r.stdout


def test_dashboard_cli(tiny_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "site" / "index.html"
    r = CliRunner().invoke(cli, ["dashboard", "--artifacts-dir", str(tiny_tree), "--out", str(out)])
    assert r.exit_code == 0 and r.stdout.startswith(f"ok     index.html   {out}")
    assert out.is_file() and (out.parent / "index.ipynb").is_file() and not (out.parent / "index.md").exists()


def test_nightly_renders_every_report(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"s": {"run_metadata.json": {"duration_seconds": 3600, "gpu_count": 1,
                                                  "start_time": "2025-10-30T12:00:00"}}})  # fmt: skip
    r = CliRunner().invoke(cli, ["nightly", "--artifacts-dir", str(root), "--out-dir", str(tmp_path), "--date",
                                 "2025-10-31"])  # fmt: skip
    assert r.exit_code == 0, r.output
    names = [ln.split()[1] for ln in r.stdout.splitlines()]
    assert names == [
        "trends.csv",
        "trends-md",
        "budget.md",
        "dashboard.html",
        "trends.html",
        "budget.html",
        "cost.html",
        "compare.html",
        "index",
    ]
    assert all(ln.startswith("ok ") for ln in r.stdout.splitlines())


def test_notebooks_are_thin_and_stripped() -> None:
    """House rule 5: a typed, commented parameters cell, then only calls into ztbkit; no outputs in git."""
    for name in NOTEBOOKS:
        path = find_notebook(name)
        assert path.parent == PACKAGED  # inside the package: the reports never run a user's copy
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name}: outputs committed"
        params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and nb.cells[0] is params[0], (
            f"{name}: the first cell must be the parameters cell (README says so)"
        )
        assert nb.metadata.kernelspec == {
            "name": "ztbkit",
            "display_name": "Python (ztbkit)",
            "language": "python",
        }
        tree = ast.parse(params[0].source)
        assert tree.body and all(isinstance(n, ast.AnnAssign) for n in tree.body), (
            f"{name}: parameters must be typed"
        )
        lines = [ln for ln in params[0].source.splitlines() if ln and not ln.startswith("#")]
        assert all("  # " in ln for ln in lines), f"{name}: every parameter needs a comment"
        assert "interactive" in params[0].source and "artifacts_dir" in params[0].source
        for cell in code[1:]:
            body = ast.parse(cell.source).body
            assert len(body) <= 3, f"{name}: too much code in a cell"
            for node in body:
                assert not isinstance(
                    node, ast.FunctionDef | ast.ClassDef | ast.For | ast.While | ast.With
                ), name
                if isinstance(node, ast.ImportFrom):
                    assert (node.module or "").startswith("ztbkit"), f"{name}: imports only from ztbkit"
                else:
                    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call), (
                        f"{name}: only calls"
                    )


@pytest.mark.timeout(900)  # four kernels one after another: on a loaded 2-core machine, minutes
def test_interactive_mode_builds_widgets_in_a_real_kernel(tiny_tree: Path, tmp_path: Path) -> None:
    """interactive=True where a person runs the notebook (a kernel the report runner did not start, as
    JupyterLab's) takes the ipywidgets path: it must run and produce widget views. Headless runs
    ignore it (tests/test_workspace.py)."""
    import papermill

    from ztbkit.reports.kernel import kernel_name

    for name in NOTEBOOKS:
        out = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(str(find_notebook(name)), str(out), kernel_name=kernel_name(),
                                   parameters={"artifacts_dir": str(tiny_tree), "interactive": True},
                                   progress_bar=False, start_timeout=300)  # fmt: skip
        nb = nbformat.read(out, as_version=4)
        kinds = {k for c in nb.cells for o in c.get("outputs", []) for k in o.get("data", {})}
        assert "application/vnd.jupyter.widget-view+json" in kinds, name


def test_a_kernel_writing_megabytes_to_its_own_stderr_does_not_block_the_run(tmp_path: Path) -> None:
    """A C library in a cell writing straight to fd 2 (bypassing Jupyter's capture) reaches the report
    worker's stderr, which the kernel inherits. Through a pipe nobody reads until the worker exits,
    2 MB would block the kernel for good: the report would end only at the whole-run limit."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "ztbkit", "display_name": "Python (ztbkit)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\nfor _ in range(32):\n    os.write(2, b'x' * 65536)\nprint('done')"
        )
    ]
    nbformat.write(nb, tmp_path / "chatty.ipynb")
    t0 = time.monotonic()
    [res] = render_reports([str(tmp_path / "chatty.ipynb")], artifacts_dir=tmp_path, out_dir=tmp_path / "out",
                           run_timeout=150)  # fmt: skip
    assert (res.status, res.error) == ("ok", ""), f"after {time.monotonic() - t0:.0f} s"
    done = nbformat.read(tmp_path / "out" / "chatty.ipynb", as_version=4)
    assert "done" in "".join(o.get("text", "") for c in done.cells for o in c.get("outputs", []))


def test_headless_output_widgets_send_nothing_back_to_the_kernel(tmp_path: Path) -> None:
    """The ipykernel 7 hang (reports.py docstring): a request reaching the kernel's shell socket while it
    sends a reply can be left unread, and the run hangs with the kernel idle. nbclient's Output widget
    sent one such request per captured output; ours sends none. Observable from the kernel: its
    Output widget's ``outputs`` only change when a front end sends them, so they stay empty, while
    the notebook still records what the widget showed."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "ztbkit", "display_name": "Python (ztbkit)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import ipywidgets as w\nfrom IPython.display import display\nout = w.Output()\ndisplay(out)\n"
            "with out:\n    for i in range(50):\n        print('line', i)"
        ),
        nbformat.v4.new_code_cell(
            "import time\ntime.sleep(0.5)\nprint('kernel-side outputs:', len(out.outputs))"
        ),
    ]
    src = tmp_path / "widgets.ipynb"
    nbformat.write(nb, src)
    res = render_notebook(str(src), artifacts_dir=tmp_path, out_dir=tmp_path / "out", formats=())
    assert (res.status, res.error) == ("ok", "")
    done = nbformat.read(tmp_path / "out" / "widgets.ipynb", as_version=4)
    last = next(c for c in done.cells if "kernel-side outputs" in c.source)
    printed = "".join(o.get("text", "") for o in last.outputs)
    assert "kernel-side outputs: 0" in printed, printed
    state = json.dumps(done.metadata.get("widgets", {}))
    assert "line 49" in state, "the Output widget's captured text is kept in the notebook's widget state"


# --- Kernel start-up: parallel starts must not collide (IPC transport), one logged retry ---------------

PROBE = (
    "import json, os, ipykernel.connect\n"
    "info = ipykernel.connect.get_connection_info(unpack=True)\n"
    "print(json.dumps({'transport': info['transport'], 'ip': info['ip'], 'pid': os.getpid()}))"
)

WORKER = """
import json, sys, time
from pathlib import Path
from ztbkit.reports.runner import render_notebook
probe, sync, me, rounds, width = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
for r in range(rounds):
    (sync / f"{r}-{me}").touch()  # barrier: every worker starts round r's kernel at the same moment
    deadline = time.monotonic() + 240
    while len(list(sync.glob(f"{r}-*"))) < width:
        if time.monotonic() > deadline:
            sys.exit(f"round {r}: barrier timed out")
        time.sleep(0.01)
    out = sync / f"out-{r}-{me}"
    res = render_notebook(str(probe), artifacts_dir=sync, out_dir=out, formats=())
    stream = ""
    if res.status == "ok":
        nb = json.loads((out / "probe.ipynb").read_text(encoding="utf-8"))
        stream = "".join("".join(o.get("text", "")) for o in nb["cells"][-1]["outputs"])
    print(json.dumps({"round": r, "status": res.status, "error": res.error, "probe": stream}), flush=True)
"""


def probe_notebook(tmp_path: Path, code: str = PROBE, kernel: str = "python3") -> Path:
    nb = slow_notebook(tmp_path, code)
    nb_doc = nbformat.read(nb, as_version=4)
    nb_doc.metadata["kernelspec"]["name"] = kernel
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb_doc, path)
    return path


@pytest.mark.timeout(1200)  # 120 kernel starts: about 2 min on a quiet 2-core box, 5+ when it is shared
def test_parallel_kernel_starts_never_collide(tmp_path: Path) -> None:
    """4 kernels started at the same instant, 30 rounds: every run ok, each kernel on its own IPC sockets.

    This is the start-up path of ``render_reports`` (one process per report, each calling
    render_notebook), minus the nbconvert export, so 120 starts fit in about a minute.
    """
    import subprocess
    import sys

    rounds, width = 30, 4
    probe = probe_notebook(tmp_path)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(probe), str(tmp_path), str(w), str(rounds), str(width)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for w in range(width)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0] * width, [err[-2000:] for _, err in outs]
    runs = [json.loads(line) for out, _ in outs for line in out.splitlines()]
    assert len(runs) == rounds * width
    failed = [r for r in runs if r["status"] != "ok"]
    assert not failed, failed
    for r in range(rounds):
        probes = [json.loads(run["probe"]) for run in runs if run["round"] == r]
        assert {p["transport"] for p in probes} == {"ipc"}
        assert len({p["ip"] for p in probes}) == width  # four private socket folders, no shared names
    assert all("without encryption" not in err and "retrying" not in err for _, err in outs)
    assert not list(tmp_path.glob("out-*/.probe*"))


def flaky_kernel(tmp_path: Path, fail_times: int) -> str:
    """A kernelspec (found through JUPYTER_PATH) whose first ``fail_times`` starts exit at once."""
    import sys

    count = tmp_path / "starts"
    spec = tmp_path / "jupyter" / "kernels" / "flaky"
    spec.mkdir(parents=True)
    shell = (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}; "
        f'if [ "$n" -lt {fail_times} ]; then exit 1; fi; exec {sys.executable} -m ipykernel_launcher -f "$0"'
    )
    argv = ["/bin/sh", "-c", shell, "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "flaky", "language": "python"}), encoding="utf-8"
    )
    return str(count)


def render_with_flaky_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_times: int
) -> tuple[str, ReportResult]:
    """Render the probe notebook on a kernel whose first ``fail_times`` starts fail; (start counter file, result)."""
    count = flaky_kernel(tmp_path, fail_times)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    probe = probe_notebook(tmp_path, kernel="flaky")
    return count, render_notebook(
        str(probe), artifacts_dir=tmp_path, out_dir=tmp_path / "o", kernel="flaky", formats=()
    )


def test_a_kernel_that_fails_to_start_is_retried_once_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    count, result = render_with_flaky_kernel(tmp_path, monkeypatch, fail_times=1)
    assert (result.status, result.error) == ("ok", "")
    assert Path(count).read_text(encoding="utf-8").strip() == "2"  # started exactly twice
    err = capsys.readouterr().err
    assert err.count("ztb: probe.ipynb: the kernel did not start (") == 1 and "); retrying once" in err


def test_a_kernel_that_never_starts_fails_after_one_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count, result = render_with_flaky_kernel(tmp_path, monkeypatch, fail_times=99)
    assert result.status == "kernel-died" and result.exit_code == 3
    assert result.error.startswith("probe.ipynb: the kernel did not start (tried twice): Kernel died before")
    assert Path(count).read_text(encoding="utf-8").strip() == "2"  # bounded: one retry, not a loop
    assert (tmp_path / "o" / "probe.ipynb").is_file()  # the evidence is kept


def test_missing_kernel_is_a_usage_error_with_the_fix(tmp_path: Path) -> None:
    probe = probe_notebook(tmp_path)
    result = render_notebook(
        str(probe), artifacts_dir=tmp_path, out_dir=tmp_path / "o", kernel="no-such-kernel"
    )
    assert result.status == "usage" and result.exit_code == 2
    assert result.error == (
        "probe.ipynb: Jupyter kernel 'no-such-kernel' not found; run `make setup` or "
        "`python -m ipykernel install --sys-prefix --name ztbkit` (or set ZTB_KERNEL)"
    )


def test_a_mistyped_parameter_name_is_exit_2_before_any_kernel(tiny_tree: Path, tmp_path: Path) -> None:
    # `-p leaderbord ...` used to render the page with the default leaderboard, exit 0: the typo was lost.
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["report", "dashboard", "--artifacts-dir", str(tiny_tree), "--out-dir", str(out),
                                 "-p", "leaderbord", '{"observations": 500}'])  # fmt: skip
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "-p leaderbord" in lines[0] and "leaderboard" in lines[0], r.stderr
    assert not out.exists() or not any(out.rglob("*.html"))
    # a name that is a parameter of one of the named notebooks is fine (papermill passes it to that one)
    r = CliRunner().invoke(cli, ["report", "budget", "--artifacts-dir", str(tiny_tree), "--out-dir", str(out),
                                 "-p", "day", "2025-10-01"])  # fmt: skip
    assert r.exit_code == 0, r.output
