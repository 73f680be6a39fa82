"""Pricing runs: one session's cost file, or every unpriced session's on the nightly's budget step.

* :func:`price_session` prices one session and writes ``<id>/reports/cost_estimate.json``
  (atomically), so the dashboard and the budget find it.
* :func:`estimate_missing_costs` prices every session with no cost file (or ztbkit's own file of a run
  still going) and writes their files with shared disk flushes (:mod:`ztbkit.core.batchwrite`): the
  first night of a large tree prices every run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock
from ztbkit.core.errors import ArtifactsNotFoundError, OutputPathError, UsageError
from ztbkit.core.fsio import atomic_write_json
from ztbkit.data.session import Session, load_session
from ztbkit.locale import _
from ztbkit.money.costs import (
    CostEstimate,
    CostUnavailableError,
    Rates,
    derive_inputs,
    estimate_cost,
)
from ztbkit.money.tariffs import Tariff, TariffError, load_tariff

COST_FILE = os.path.join("reports", "cost_estimate.json")


def find_session(artifacts_dir: str | os.PathLike[str], correlation_id: str) -> Session:
    """Load one session by id; ArtifactsNotFoundError (exit 2) names the folder when it is missing."""
    folder = Path(artifacts_dir) / correlation_id
    if not folder.is_dir():
        raise ArtifactsNotFoundError(_("--correlation-id: no session folder {folder}").format(folder=folder))
    return load_session(folder)


def _session_fps(session: Session, folder: Path) -> float | None:
    """TensorBoard's latest time/fps from the session's tb/ or tensorboard/ folder — read only when
    nothing cheaper gives steps per second."""
    tb_latest = session.metrics.get("tb_latest")
    if session.steps_per_sec or (isinstance(tb_latest, dict) and tb_latest.get("time/fps")):
        return None
    from ztbkit.data.tensorboard import scrape

    values = [
        point[2]
        for sub in ("tb", "tensorboard")
        if (folder / sub).is_dir()
        for tags in scrape(folder / sub, tags=["time/fps"]).runs.values()
        if (point := tags.get("time/fps")) is not None
    ]
    return max(values) if values else None


def price_session(
    session: Session,
    rates: Rates,
    *,
    hours: float | None = None,
    kwh: float | None = None,
    gpu_watts: float | None = None,
    household_kwh: float = 0.0,
    clock: Clock = SYSTEM_CLOCK,
    write: bool = True,
    tariff: Tariff | None = None,
) -> CostEstimate:
    """Price a session and (unless ``write=False``) write its reports/cost_estimate.json.

    Raises CostUnavailableError (exit 1) when it has neither run_metadata.json nor summary.json, or
    no duration. ``tariff``: ``rates.tariff`` already loaded (pricing many sessions reads it once).
    """
    folder = session.path
    if folder is None:
        raise CostUnavailableError(
            "session {session} has no folder: nothing to price", session=repr(session.session_id)
        )
    if not (folder / "run_metadata.json").is_file() and not (folder / "summary.json").is_file():
        raise CostUnavailableError(
            "{metadata} and {summary} are both missing: nothing to price",
            metadata=folder / "run_metadata.json",
            summary=folder / "summary.json",
        )
    inputs = derive_inputs(
        session, hours=hours, kwh=kwh, gpu_watts=gpu_watts, tb_fps=_session_fps(session, folder)
    )
    estimate = estimate_cost(
        inputs,
        rates,
        tariff or load_tariff(rates.tariff),
        household_kwh=household_kwh,
        generated_at=clock.now(),
    )
    if write:
        from ztbkit.core.ids import check_inside

        # A session is a direct child of the artifacts folder (its id is one path component).
        atomic_write_json(check_inside(folder / COST_FILE, folder.parent), estimate.to_dict())
        session.cost_estimate = estimate.to_dict()
    return estimate


def estimate_missing_costs(
    sessions: Iterable[Session],
    rates: Rates,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> list[tuple[str, str]]:
    """Estimate sessions with no cost file, or whose file ztbkit wrote while the run was still going.

    Files from other tools (the flat shape) are left alone. Returns (session id, reason) for the
    sessions that could not be priced, including those whose figures are not finite numbers: one such
    session never stops the budget of the others.
    """
    tariff = load_tariff(
        rates.tariff
    )  # a bad tariff is the user's setting: it stops the budget (exit 2) up front
    skipped = []
    from ztbkit.core.ids import check_inside

    priced: list[tuple[Session, dict[str, Any], Path]] = []
    refused: OutputPathError | None = None
    for s in sessions:
        if not s.on_disk:
            continue
        ours = bool(s.cost_estimate) and s.cost_estimate.get("generator") == "ztbkit"  # type: ignore[union-attr]
        stale = ours and s.status == "running"
        if s.cost_estimate and not stale:
            continue
        try:
            doc = price_session(s, rates, clock=clock, write=False, tariff=tariff).to_dict()
            folder = s.path
            assert folder is not None  # price_session refuses a session without a folder
            # A session is a direct child of the artifacts folder (its id is one path component).
            priced.append((s, doc, check_inside(folder / COST_FILE, folder.parent)))
        except OutputPathError as exc:  # a folder linked out of the tree: the others are still written
            refused = refused or exc
        except (CostUnavailableError, UsageError, TariffError) as exc:  # figures past the largest float
            skipped.append((s.session_id, str(exc)))
    _write_cost_files(priced)
    if refused is not None:
        raise refused
    return skipped


def _write_cost_files(priced: list[tuple[Session, dict[str, Any], Path]]) -> None:
    """Each priced session's cost file, written as :func:`price_session` writes one but with the disk
    flushes shared (:mod:`ztbkit.core.batchwrite`): a first night prices every run. A file that cannot
    be written stops the budget with its error (exit 2), after the others are written."""
    from ztbkit.core.batchwrite import atomic_write_many

    files = [(path, (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))
             for _s, doc, path in priced]  # fmt: skip
    errors = atomic_write_many(files)
    for k, (s, doc, _path) in enumerate(priced):
        if k not in errors:
            s.cost_estimate = doc
    if errors:
        raise errors[min(errors)]
