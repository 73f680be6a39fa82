"""ztbkit: the operations side of zaif-trade-bot (reports, costs, alerts, doctor, scheduler).

The public face is small; everything else lives in its layer: ``ztbkit.core`` ← ``data`` ← ``money`` ←
``analysis`` ← ``reports``/``notify`` ← ``schedule``/``ops`` ← ``cli`` (README, Architecture).
"""

from ztbkit.analysis.trends import (
    read_trends_csv,
    sparkline,
    trend_table,
    write_trends_csv,
    write_trends_markdown,
)
from ztbkit.core.errors import ArtifactError, ArtifactsNotFoundError, InputFileError, UsageError, ZtbError
from ztbkit.core.jsonread import Problem
from ztbkit.data.artifacts import ArtifactTree, load_artifacts
from ztbkit.data.session import Session

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "ArtifactTree",
    "ArtifactsNotFoundError",
    "InputFileError",
    "Problem",
    "Session",
    "UsageError",
    "ZtbError",
    "__version__",
    "load_artifacts",
    "read_trends_csv",
    "sparkline",
    "trend_table",
    "write_trends_csv",
    "write_trends_markdown",
]
