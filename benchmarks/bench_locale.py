"""Benchmark: what speaking Japanese costs.

Same run, same generated tree: the dashboard's session table (HTML and Markdown) and its two charts
(SVG, the Japanese font fallback included) rendered in English (the baseline) and in Japanese; and
one translated message (``_()``, the catalogue loaded) against a plain dict lookup; and the help
screens a person reads at the terminal (``ztb --help``, ``ztb nightly --help``), English (click's own
formatting) against Japanese (translated paragraph by paragraph, wrapped by display width). Reported
as seconds and ja/en ratios; nothing is asserted.

    python benchmarks/bench_locale.py [--sessions 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from gen_tree import ensure_tree

from ztbkit import locale as zl
from ztbkit.data.artifacts import load_artifacts
from ztbkit.reports import dashboard


def _page(sessions: list[Any]) -> None:
    dashboard.session_table_html(sessions)
    dashboard.session_table_markdown(sessions)
    for make in (dashboard.metrics_figure, dashboard.progress_figure):
        make(sessions).savefig(io.StringIO(), format="svg")


def run(sessions: int, data: Path, repeat: int = 3) -> dict[str, float]:
    tree = load_artifacts(ensure_tree(data / f"tree-{sessions}", sessions)).sessions
    timings: dict[str, float] = {}
    for lang in ("en", "ja", "en", "ja"):  # interleaved: a warm-up of each, then the measured run
        zl.use_language(lang)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            _page(tree)
            best = min(best, time.perf_counter() - t0)
        timings[lang] = best
    help_s = {
        lang: min(_help_screens(lang) for _ in range(max(repeat, 5))) for lang in ("en", "ja", "en", "ja")
    }
    zl.use_language("ja")
    table = {"Cost Report": "コストレポート"}
    n = 200_000
    message_s = timeit.timeit(lambda: zl._("Cost Report"), number=n) / n
    dict_s = timeit.timeit(lambda: table.get("Cost Report"), number=n) / n
    zl.reset()
    return {
        "sessions": len(tree),
        "page_en_s": timings["en"],
        "page_ja_s": timings["ja"],
        "page_ratio_ja_en": timings["ja"] / timings["en"],
        "message_us": message_s * 1e6,
        "dict_lookup_us": dict_s * 1e6,
        "message_ratio": message_s / dict_s,
        "help_en_s": help_s["en"],
        "help_ja_s": help_s["ja"],
        "help_ratio_ja_en": help_s["ja"] / help_s["en"],
    }


def _help_screens(lang: str) -> float:
    """Seconds to render ``ztb --help`` and ``ztb nightly --help`` in ``lang`` (in process)."""
    from click.testing import CliRunner

    from ztbkit.cli import cli

    runner = CliRunner()
    t0 = time.perf_counter()
    for args in ([], ["nightly"]):
        result = runner.invoke(cli, [*args, "--help", "--lang", lang], prog_name="ztb", terminal_width=100)
        assert result.exit_code == 0, result.output
    return time.perf_counter() - t0


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
