"""Artifacts and outputs on object storage, against a real S3 server on 127.0.0.1 (moto server mode).

Every command is the documented one, pasted into ``/bin/sh -c`` with a clean environment holding only
PATH, HOME and the backend's standard AWS variables.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import sh as conftest_sh
from s3server import ACCESS_KEY, SECRET_KEY, S3Server, Shim, s3fs_for, upload

from ztbkit.data.storage import is_remote, join, local_path, redact

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ztbkit.data.demo import build_demo

    return Path(build_demo(tmp_path_factory.mktemp("demo") / "demo", sessions=30, seed=3).artifacts_dir)


def sh(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return conftest_sh(command, {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), **env}, cwd)


def assert_no_secret(*texts: str | bytes) -> None:
    for t in texts:
        data = t.encode() if isinstance(t, str) else t
        assert SECRET_KEY.encode() not in data
        assert ACCESS_KEY.encode() not in data


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_urls_are_recognised_joined_and_redacted() -> None:
    assert is_remote("s3://b/p") and is_remote("gs://b") and is_remote("az://c/p")
    assert not is_remote("artifacts") and not is_remote("C:\\data\\x") and not is_remote("file:///tmp/x")
    assert local_path("file:///tmp/x") == "/tmp/x"
    assert join("s3://b/p/", "2025-10-31", "trends.csv") == "s3://b/p/2025-10-31/trends.csv"
    assert join("out", "a.csv") == Path("out/a.csv")
    shown = redact("s3://AKIAXX:s3cr3t@bucket/p?X-Amz-Signature=abc123&versionId=7")
    assert "AKIAXX" not in shown and "s3cr3t" not in shown and "abc123" not in shown
    assert shown.startswith("s3://***@bucket/p?") and "versionId=7" in shown


def test_trends_csv_and_dashboard_rows_from_s3_equal_the_local_run(
    s3: S3Server, demo_tree: Path, bot_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.reports.dashboard import session_table_markdown

    fs = s3fs_for(s3.endpoint)
    for name, local in (("fixture", bot_fixtures / "artifacts"), ("demo", demo_tree)):
        assert upload(fs, local, f"s3://ztb-eq/{name}") > 0
        ran = sh(f"ztb trends --artifacts-dir '{local}' --out local-{name}.csv", {}, tmp_path)
        assert ran.returncode == 0, ran.stderr
        remote = sh(
            f"ztb trends --artifacts-dir s3://ztb-eq/{name} --out s3://ztb-eq/out/{name}.csv",
            s3.env(),
            tmp_path,
        )
        assert remote.returncode == 0, remote.stderr
        assert f"wrote s3://ztb-eq/out/{name}.csv" in remote.stdout
        # Byte-identical CSV, and the same number of warnings as the local run.
        assert fs.cat_file(f"ztb-eq/out/{name}.csv") == (tmp_path / f"local-{name}.csv").read_bytes()
        assert ran.stdout.split("(")[1] == remote.stdout.split("(")[1]
        assert_no_secret(remote.stdout, remote.stderr)

        for k, v in s3.env().items():
            monkeypatch.setenv(k, v)
        tree, ref = load_artifacts(f"s3://ztb-eq/{name}"), load_artifacts(local)
        assert session_table_markdown(tree.sessions) == session_table_markdown(ref.sessions)
        assert tree.to_dataframe().equals(ref.to_dataframe())
        # The same problems, named by URL instead of by local path.
        assert [str(p).replace(f"s3://ztb-eq/{name}", str(local)) for p in tree.all_issues()] == [
            str(p) for p in ref.all_issues()
        ]


def test_throttling_a_vanished_and_a_truncated_object_are_survived(
    s3: S3Server, demo_tree: Path, tmp_path: Path
) -> None:
    fs = s3fs_for(s3.endpoint)
    upload(fs, demo_tree, "s3://ztb-thr/tree")
    sids = sorted(p.name for p in demo_tree.iterdir() if p.is_dir())
    gone, cut = sids[3], sids[5]
    good = (demo_tree / cut / "summary.json").read_bytes()
    fs.pipe_file(f"ztb-thr/tree/{cut}/summary.json", good[: len(good) // 2])
    shim = Shim(s3.endpoint)
    try:
        shim.throttle = 3  # the first three object GETs get 503 SlowDown
        shim.gone = {f"/ztb-thr/tree/{gone}/summary.json"}  # listed, but 404 when fetched
        ran = sh(
            "ztb trends --artifacts-dir s3://ztb-thr/tree --out t.csv -v", s3.env(shim.endpoint), tmp_path
        )
    finally:
        shim.stop()
    assert ran.returncode == 0, ran.stderr
    assert shim.throttled == 3 and shim.hidden >= 1
    assert f"warning: s3://ztb-thr/tree/{gone}/summary.json: listed, but gone when read" in ran.stderr
    assert f"warning: s3://ztb-thr/tree/{cut}/summary.json: truncated JSON" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert_no_secret(ran.stdout, ran.stderr)
    local = sh(f"ztb trends --artifacts-dir '{demo_tree}' --out l.csv", {}, tmp_path)
    assert local.returncode == 0
    got, want = (
        csv_rows((tmp_path / "t.csv").read_text(encoding="utf-8")),
        csv_rows((tmp_path / "l.csv").read_text(encoding="utf-8")),
    )
    assert [r[0] for r in got] == [r[0] for r in want]  # every session still has its row
    assert [r for r in got if r[0] not in (gone, cut)] == [r for r in want if r[0] not in (gone, cut)]


def test_nightly_puts_every_output_object(s3: S3Server, demo_tree: Path, tmp_path: Path) -> None:
    fs = s3fs_for(s3.endpoint)
    upload(fs, demo_tree, "s3://ztb-night/artifacts")
    ran = sh(
        "ztb nightly --artifacts-dir s3://ztb-night/artifacts --out-dir s3://ztb-night/outputs --date 2025-10-31",
        s3.env(),
        tmp_path,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    day = "ztb-night/outputs/2025-10-31"
    names = {p.removeprefix(day + "/") for p in fs.find(day)}
    for report in ("dashboard", "trends", "budget", "cost", "compare"):
        assert {f"{report}.html", f"{report}.md", f"{report}.ipynb"} <= names
        assert f"s3://{day}/{report}.html" in ran.stdout
    assert {"trends.csv", "trends.md", "budget_daily.md"} <= names
    assert f"s3://{day}/trends.csv" in ran.stdout
    assert not any(n.startswith(".") or "/." in n for n in names)  # no staging leftovers uploaded
    local = sh(f"ztb trends --artifacts-dir '{demo_tree}' --out l.csv", {}, tmp_path)
    assert fs.cat_file(f"{day}/trends.csv") == (tmp_path / "l.csv").read_bytes()
    html = fs.cat_file(f"{day}/dashboard.html").decode()
    assert sorted(p.name for p in demo_tree.iterdir() if p.is_dir())[0] in html
    # Credentials are in no printed line and in no uploaded object (the notebooks saw the same env).
    assert_no_secret(ran.stdout, ran.stderr, local.stdout, *(fs.cat_file(p) for p in fs.find(day)))
    assert not list(tmp_path.glob("ztb-stage-*"))


def test_report_and_dashboard_out_urls(s3: S3Server, demo_tree: Path, tmp_path: Path) -> None:
    fs = s3fs_for(s3.endpoint)
    upload(fs, demo_tree, "s3://ztb-rep/artifacts")
    ran = sh(
        "ztb dashboard --artifacts-dir s3://ztb-rep/artifacts --out s3://ztb-rep/www/index.html",
        s3.env(),
        tmp_path,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "s3://ztb-rep/www/index.html" in ran.stdout
    assert fs.cat_file("ztb-rep/www/index.html").startswith(b"<!DOCTYPE html>")
    assert fs.exists("ztb-rep/www/index.ipynb")
    assert_no_secret(ran.stdout, ran.stderr)


def test_tb_scrape_over_s3_equals_local_and_refetches_only_changes(
    s3: S3Server, bot_fixtures: Path, tmp_path: Path
) -> None:
    fs = s3fs_for(s3.endpoint)
    runs = bot_fixtures / "tensorboard"
    count = upload(fs, runs, "s3://ztb-tb/runs")
    local = sh(f"ztb tb-scrape --run-dir '{runs}' --no-cache --output local.json", {}, tmp_path)
    assert local.returncode == 0, local.stderr
    shim = Shim(s3.endpoint)
    try:
        cmd = "ztb tb-scrape --run-dir s3://ztb-tb/runs --output remote.json"
        first = sh(cmd, s3.env(shim.endpoint), tmp_path)
        assert first.returncode == 0, first.stderr
        assert shim.object_gets == count  # every event file fetched once
        assert (tmp_path / "remote.json").read_bytes() == (tmp_path / "local.json").read_bytes()
        second = sh(cmd, s3.env(shim.endpoint), tmp_path)
        assert second.returncode == 0, second.stderr
        assert shim.object_gets == count  # nothing changed: nothing fetched again
        assert (tmp_path / "remote.json").read_bytes() == (tmp_path / "local.json").read_bytes()
    finally:
        shim.stop()
    assert_no_secret(first.stdout, first.stderr, second.stdout, second.stderr)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("trends --artifacts-dir s3://ztb-no-such-bucket/artifacts", "is empty or does not exist"),
        ("trends --artifacts-dir gs://some-bucket/artifacts", "pip install 'ztbkit[gcs]'"),
        (
            "budget --artifacts-dir s3://ztb-no-such-bucket/a --estimate-missing",
            "needs a local --artifacts-dir",
        ),
    ],
)
def test_bad_remote_location_is_one_line_exit_2(
    s3: S3Server, tmp_path: Path, command: str, expected: str
) -> None:
    ran = sh(f"ztb {command}", s3.env(), tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.startswith("ztb: error: ") and expected in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1 and "Traceback" not in ran.stderr


def test_commands_that_write_into_sessions_refuse_urls(s3: S3Server, tmp_path: Path) -> None:
    ran = sh("ztb doctor --correlation-id x --artifacts-dir s3://ztb-eq/demo", s3.env(), tmp_path)
    assert ran.returncode == 2 and "ztb doctor needs a local folder, not a URL" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_file_urls_are_local_paths(demo_tree: Path, tmp_path: Path) -> None:
    ran = sh(f"ztb trends --artifacts-dir file://{demo_tree} --out file://{tmp_path}/f.csv", {}, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "f.csv").read_text(encoding="utf-8").startswith("session_id,")


def test_incremental_remote_load_fetches_only_changed_objects(
    s3: S3Server, demo_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.data.loadcache import LoadCache

    fs = s3fs_for(s3.endpoint)
    upload(fs, demo_tree, "s3://ztb-inc/tree")
    shim = Shim(s3.endpoint)
    for k, v in s3.env(shim.endpoint).items():
        monkeypatch.setenv(k, v)
    cache = tmp_path / "c.parquet"
    try:
        first = load_artifacts("s3://ztb-inc/tree", cache=LoadCache(cache))
        cold_gets = shim.object_gets
        assert cold_gets > 30
        load_artifacts("s3://ztb-inc/tree", cache=LoadCache(cache))
        assert shim.object_gets - cold_gets == 1  # index.json only: every session unchanged by ETag + size
        sid = sorted(p.name for p in demo_tree.iterdir() if p.is_dir())[7]
        fs.pipe_file(f"ztb-inc/tree/{sid}/summary.json", b'{"rl_sharpe": 4.5, "global_step": 7}')
        before = shim.object_gets
        warm = load_artifacts("s3://ztb-inc/tree", cache=LoadCache(cache))
    finally:
        shim.stop()
    present = [f for f in ("summary.json", "metrics.json", "run_metadata.json", "reports/gates.json",
                           "reports/cost_estimate.json") if (demo_tree / sid / f).is_file()]  # fmt: skip
    assert shim.object_gets - before == 1 + len(present)  # index.json + the changed session's files
    s = warm.get(sid)
    assert s is not None and (s.rl_sharpe, s.global_step) == (4.5, 7)
    assert [x for x in warm.sessions if x.session_id != sid] == [
        x for x in first.sessions if x.session_id != sid
    ]


def test_a_changed_endpoint_takes_effect_in_the_same_process(
    s3: S3Server, demo_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook kernel that switches AWS_ENDPOINT_URL (or profile) must not keep talking to the old
    endpoint: here the old one is a proxy that has been shut down."""
    from ztbkit.data.artifacts import load_artifacts

    upload(s3fs_for(s3.endpoint), demo_tree, "s3://ztb-switch/tree")
    shim = Shim(s3.endpoint)
    for k, v in s3.env(shim.endpoint).items():
        monkeypatch.setenv(k, v)
    try:
        through_shim = load_artifacts("s3://ztb-switch/tree")
        assert shim.object_gets > 0
    finally:
        shim.stop()
    seen = shim.requests
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    direct = load_artifacts("s3://ztb-switch/tree")
    # A kept client would go on using the old endpoint: refused on a new connection, or (as here, its
    # keep-alive connections still served by the stopped proxy's threads) counted by the proxy.
    assert shim.requests == seen, "the second load still went through the old endpoint"
    assert [s.session_id for s in direct.sessions] == [s.session_id for s in through_shim.sessions]


def test_a_failed_upload_is_exit_1_and_keeps_the_rendered_file(
    s3: S3Server, demo_tree: Path, tmp_path: Path
) -> None:
    ran = sh(
        f"ztb trends --artifacts-dir '{demo_tree}' --out s3://ztb-no-such-bucket/r/trends.csv",
        s3.env(),
        tmp_path,
    )
    assert ran.returncode == 1, ran.stderr
    line = ran.stderr.strip().splitlines()[-1]
    assert line.startswith("ztb: error: cannot upload to s3://ztb-no-such-bucket/r")
    kept = Path(line.split("the rendered files are kept in ")[1])
    assert (kept / "trends.csv").read_text(encoding="utf-8").startswith("session_id,")  # nothing lost
    assert "Traceback" not in ran.stderr
    assert_no_secret(ran.stdout, ran.stderr)
