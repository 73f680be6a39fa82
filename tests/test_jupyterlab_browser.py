"""The four notebooks in a real JupyterLab, driven in headless Chromium (Debian's /usr/bin/chromium).

One JupyterLab server from the project venv on 127.0.0.1 with a token serves copies of the four
notebooks. For each: open it, append ``interactive = True`` to its parameters cell (the first cell),
Run All, then assert the widgets render as widgets (jupyter-widgets DOM elements, not the text
``HBox(children=…``), change one widget and see the output change, and no console errors.
Screenshots go to test-artifacts/jupyterlab-<name>.png.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from ztbkit.core.proc import kill_tree, new_group_kwargs
from ztbkit.data.demo import build_demo
from ztbkit.reports.workspace import refresh_workspace

ARTIFACTS = REPO / "test-artifacts"
JUPYTER = Path(sys.executable).with_name("jupyter")
DEADLINE = 300.0  # seconds; generous for a loaded 2-core machine, never a fixed sleep


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    assert JUPYTER.exists(), (
        f"{JUPYTER} not found: JupyterLab belongs in the project venv (make setup / make lab)"
    )
    root = tmp_path_factory.mktemp("lab")
    build_demo(root / "demo", sessions=36)  # several weeks: two months for the cost report
    nbdir = root / "notebooks"
    refresh_workspace(nbdir)  # the user's workspace, as `ztb lab` makes it: JupyterLab saves these copies
    port, token = _free_port(), secrets.token_hex(16)
    home = root / "home"
    settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no "Jupyter news?" toast over the outputs (and no fetch of it)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}', encoding="utf-8")
    env = {
        "PATH": f"{JUPYTER.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "ZTB_ARTIFACTS_DIR": str(root / "demo" / "artifacts"),  # the notebooks' default, from the env
    }
    log = (root / "lab.log").open("wb")
    # fmt: off
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nbdir}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly", *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, cwd=nbdir, stdout=log, stderr=subprocess.STDOUT, **new_group_kwargs(),
    )
    # fmt: on
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while True:  # ready when the REST API answers with our token
        assert proc.poll() is None, (root / "lab.log").read_text(errors="replace", encoding="utf-8")[-3000:]
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() - t0 < DEADLINE, "JupyterLab did not answer on 127.0.0.1"
        time.sleep(0.5)
    try:
        yield {"base": base, "token": token, "arts": root / "demo" / "artifacts", "log": root / "lab.log"}
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=60)
        log.close()


def _output_text(page: Any) -> str:
    return str(
        page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.innerText).join('\\n')")
    )


def _open_and_run(browser: Any, lab: dict[str, Any], name: str) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        return _run(page, lab, name)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{name}-failed.png"))
        raise


def _run(page: Any, lab: dict[str, Any], name: str) -> tuple[Any, list[str], list[str]]:
    page.set_default_timeout(DEADLINE * 1000)
    errors: list[str] = []
    external: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(
        (lab["base"], "data:", "blob:", lab["base"].replace("http", "ws"))) else None)  # fmt: skip
    # A workspace of its own per notebook: JupyterLab would otherwise reopen the previous tabs too.
    page.goto(f"{lab['base']}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={lab['token']}")
    # The notebook asks for the ztbkit kernel; wait until that kernel is idle.
    page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content")
    page.wait_for_selector(".jp-NotebookPanel-toolbar .jp-KernelName:has-text('Python (ztbkit)')")
    page.wait_for_selector(".jp-NotebookPanel-toolbar [data-status='idle']", state="attached")
    first = page.locator(".jp-Notebook .jp-Cell").first
    assert "# parameters" in first.inner_text()  # the first cell is the parameters cell
    first.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("interactive = True")
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item:visible", has=page.get_by_text("Run All Cells", exact=True)).click()
    page.wait_for_selector(".jp-OutputArea-output .jupyter-widgets", state="visible")
    # Every cell done: no prompt still shows [*].
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-InputArea-prompt')].every(p => !p.textContent.includes('*'))"
        " && [...document.querySelectorAll('.jp-Cell')].filter(c => c.classList.contains('jp-CodeCell'))"
        ".every(c => /\\[\\d+\\]/.test(c.querySelector('.jp-InputArea-prompt').textContent))"
    )
    return page, errors, external


def _assert_widgets(page: Any) -> None:
    text = _output_text(page)
    assert "HBox(children=" not in text and "Error" not in text, text[:2000]
    assert page.locator(".jp-OutputArea-output .widget-hbox.jupyter-widgets").count() >= 1


def _wait_for_text(page: Any, *needles: str) -> str:
    """Wait until the outputs hold every needle (a widget redraw clears, then refills the output)."""
    page.wait_for_function(
        "ns => { const t = [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText)"
        ".join('\\n'); return ns.every(n => t.includes(n)); }",
        arg=list(needles),
    )
    return _output_text(page)


def _finish(page: Any, name: str, errors: list[str], external: list[str]) -> None:
    page.wait_for_selector(".jp-NotebookPanel-toolbar [data-status='idle']", state="attached")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{name}.png"), full_page=False)
    assert errors == [], errors
    assert external == [], external
    page.close()


def _select(page: Any, css: str, label: str) -> None:
    page.locator(f".jp-OutputArea-output {css} select").first.select_option(label=label)


def test_dashboard_in_jupyterlab(browser: Any, lab: dict[str, Any]) -> None:
    page, errors, external = _open_and_run(browser, lab, "dashboard")
    _assert_widgets(page)
    # the session picker, then the learning curves' own "Curves of" picker
    assert page.locator(".jp-OutputArea-output .widget-select-multiple select").count() == 2
    assert page.locator(".jp-OutputArea-output .widget-datepicker input[type=date]").count() == 2
    before = _output_text(page)
    arts = lab["arts"]
    index = json.loads((arts / "index.json").read_text(encoding="utf-8"))
    known = {e.get("correlation_id") or e.get("id") for e in index["sessions"]}
    known |= {p.name for p in arts.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert f"{len(known)} session(s)" in before
    options = (
        page.locator(".jp-OutputArea-output .widget-select-multiple select")
        .first.locator("option")
        .all_inner_texts()
    )
    assert options[0].replace("\xa0", " ") == "(all sessions)"  # ipywidgets shows spaces as nbsp
    ids = options[1:]
    _select(page, ".widget-select-multiple", ids[0])
    after = _wait_for_text(page, "1 session(s)")
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-OutputArea-output table.ztb-sessions tbody tr').length === 1"
    )
    rows = page.locator(".jp-OutputArea-output table.ztb-sessions tbody tr").all_inner_texts()
    assert rows[0].startswith(ids[0]) and after != before
    # The money columns are in view in a 1280 px JupyterLab, file browser open.
    box = page.locator(".jp-OutputArea-output th[title='Cost (¥)']").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280, box
    _finish(page, "dashboard", errors, external)


def test_trends_in_jupyterlab(browser: Any, lab: dict[str, Any]) -> None:
    page, errors, external = _open_and_run(browser, lab, "trends")
    _assert_widgets(page)
    headings = page.locator(".jp-OutputArea-output h2").all_inner_texts()
    # the interactive report shows the chosen metric only, then the learning curves
    assert headings == ["global_step", "Learning curves"]
    before = _output_text(page)
    _select(page, ".widget-dropdown", "dsr")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-OutputArea-output h2')].map(h => h.innerText).join()"
        " === 'dsr,Learning curves'"
    )
    assert _output_text(page) != before
    # The redrawn chart arrives after the heading: wait for it, and for no error text in its place.
    page.wait_for_selector(".jp-OutputArea-output img[src^='data:image/png']", state="visible")
    assert "Error" not in _output_text(page)
    _finish(page, "trends", errors, external)


def test_budget_in_jupyterlab(browser: Any, lab: dict[str, Any]) -> None:
    page, errors, external = _open_and_run(browser, lab, "budget")
    _assert_widgets(page)
    heads = page.locator(".jp-OutputArea-output h1").all_inner_texts()
    assert heads and heads[0] == "Daily Budget"
    days = [d for d in page.locator(".jp-OutputArea-output h2").all_inner_texts() if d[:2] == "20"]
    assert len(days) >= 2
    latest = max(days)
    date_input = page.locator(".jp-OutputArea-output .widget-datepicker input[type=date]").first
    date_input.fill(latest)
    date_input.dispatch_event("change")
    page.wait_for_function(
        "d => [...document.querySelectorAll('.jp-OutputArea-output h2')].map(h => h.innerText)"
        ".filter(t => t.startsWith('20')).join() === d",
        arg=latest,
    )
    page.wait_for_selector(".jp-OutputArea-output img[src^='data:image/png']", state="visible")
    assert "Error" not in _output_text(page)
    _finish(page, "budget", errors, external)


def test_cost_in_jupyterlab(browser: Any, lab: dict[str, Any]) -> None:
    page, errors, external = _open_and_run(browser, lab, "cost")
    _assert_widgets(page)
    options = page.locator(".jp-OutputArea-output .widget-dropdown option").all_inner_texts()
    assert len(options) >= 2, options
    assert f"Training electricity, {options[-1]}" in _output_text(page)  # the newest month by default
    before = _output_text(page)
    _select(page, ".widget-dropdown", options[0])
    after = _wait_for_text(page, f"Training electricity, {options[0]}", f"Cost per 1M steps, {options[0]}")
    assert after != before and f"Training electricity, {options[-1]}" not in after
    page.wait_for_function("() => document.querySelectorAll('.jp-OutputArea-output img').length >= 2")
    assert "Error" not in _output_text(page)
    _finish(page, "cost", errors, external)


def test_kernelspec_is_registered_in_the_venv() -> None:
    """The notebooks ask for `ztbkit`; make setup registers it inside the venv (--sys-prefix)."""
    out = subprocess.run([str(JUPYTER), "kernelspec", "list", "--json"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "JUPYTER_PATH": ""}, encoding="utf-8")  # fmt: skip
    specs = json.loads(out.stdout)["kernelspecs"]
    assert "ztbkit" in specs and specs["ztbkit"]["spec"]["display_name"] == "Python (ztbkit)"
    assert Path(specs["ztbkit"]["resource_dir"]).is_relative_to(Path(sys.prefix))
