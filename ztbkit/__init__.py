"""ztbkit: the operations side of zaif-trade-bot (reports, costs, alerts, doctor, scheduler).

The public face is small; everything else lives in its module (``ztbkit.artifacts`` etc.).
"""

from ztbkit.artifacts import ArtifactTree, Session, load_artifacts
from ztbkit.errors import ArtifactError, ArtifactsNotFoundError, InputFileError, UsageError, ZtbError
from ztbkit.fsio import Problem
from ztbkit.trends import read_trends_csv, sparkline, trend_table, write_trends_csv, write_trends_markdown

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
