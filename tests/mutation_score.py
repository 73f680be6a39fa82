"""Per-module mutation score from mutmut's results (``make mutation`` prints it; not a test).

Killed = a test failed (or timed out, or mypy-style type check caught it) with the mutant in place.
Score = killed / (all mutants that ran); "no tests" mutants count as survivors: no test reaches them.
Arguments: mutmut name patterns (as given to ``mutmut run``) to count only those mutants; ``-v`` also
lists the survivors.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut: killed, pytest internal error, timeouts, type check; -9: the mutant made the code SIGKILL its own
# process group (the test process; tests/conftest.py gives it a group of its own), mutmut calls it "segfault"
KILLED = {1, 3, 36, -24, 24, 152, 255, 37, -9}
SURVIVED = {0, 5, 33}  # survived; no test reached the mutant


def main(patterns: list[str], root: str = "mutants") -> int:
    rows = []
    for meta in sorted(Path(root).rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
        if patterns:
            codes = {k: c for k, c in codes.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}
        ran = [c for c in codes.values() if c in KILLED | SURVIVED]
        if not ran:
            continue
        killed = sum(c in KILLED for c in ran)
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        survivors = sorted(k for k, c in codes.items() if c in SURVIVED)
        rows.append((module, killed, len(ran), Counter(codes.values()), survivors))
    if not rows:
        print("no mutmut results under mutants/: run `make mutation` first", file=sys.stderr)
        return 2
    print(f"{'module':<32} {'killed':>7} {'total':>6} {'score':>7}")
    for module, killed, total, _, _ in rows:
        print(f"{module:<32} {killed:>7} {total:>6} {killed / total:>7.1%}")
    k, t = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'all':<32} {k:>7} {t:>6} {k / t:>7.1%}")
    if "-v" in sys.argv:
        for _module, _, _, _, survivors in rows:
            for name in survivors:
                print(f"survived: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if a != "-v"]))
