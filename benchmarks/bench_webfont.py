"""Benchmark: what embedding a page's Japanese glyphs costs (ztbkit.reports.webfont).

Same run, same generated tree: the dashboard's session table and its two charts rendered in Japanese
(the baseline: work every Japanese page does anyway), then ``with_page_font`` on that page (subset
IPAex Gothic to the page's Japanese, WOFF, base64). Reported as seconds, the ratio, and the bytes the
face adds to the page; nothing is asserted.

    python benchmarks/bench_webfont.py [--sessions 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from gen_tree import ensure_tree

from ztbkit import locale as zl
from ztbkit.data.artifacts import load_artifacts
from ztbkit.reports import dashboard
from ztbkit.reports.webfont import with_page_font


def _page(sessions: list[Any]) -> str:
    parts = ["<html lang='ja'><head><title>ダッシュボード</title></head><body>",
             dashboard.session_table_html(sessions)]  # fmt: skip
    for make in (dashboard.metrics_figure, dashboard.progress_figure):
        buf = io.StringIO()
        make(sessions).savefig(buf, format="svg")
        parts.append(buf.getvalue())
    return "".join(parts) + "</body></html>"


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(sessions: int, data: Path, repeat: int = 3) -> dict[str, float]:
    tree = load_artifacts(ensure_tree(data / f"tree-{sessions}", sessions)).sessions
    zl.use_language("ja")
    try:
        _page(tree)  # warm-up: fonts, Babel, the catalogue
        page_s, page = _best(lambda: _page(tree), repeat)
        with_page_font(page)  # warm-up: the font's character map
        font_s, embedded = _best(lambda: with_page_font(page), repeat)
    finally:
        zl.reset()
    return {
        "sessions": len(tree),
        "page_s": page_s,
        "embed_s": font_s,
        "embed_ratio": font_s / page_s,
        "page_bytes": len(page.encode()),
        "bytes_added": len(embedded.encode()) - len(page.encode()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = Path(__file__).parent / "data"
    data.mkdir(exist_ok=True)
    print(
        json.dumps(
            run(args.sessions, data if data.is_dir() else Path(tempfile.mkdtemp()), args.repeat), indent=2
        )
    )


if __name__ == "__main__":
    main()
