"""The kill file (``ztb.stop``) found when a runner *starts*: a forgotten stop, never a quiet night.

Policy (users depend on it): when the kill file is present at start, no job runs; every start says
so in one ``warning:`` line naming the file and since when it is there, and exits 1 (so
``Restart=on-failure`` keeps retrying and cron logs it every tick). An alert goes out at most once
per calendar day in the job's zone, remembered in ``<state-file>.stopfile-alerted``. Deleting the
file resumes the schedule (missed slots follow the catch-up rule).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from ztbkit.core.fsio import atomic_write_json, make_folders
from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.locale import _


def stop_file_left(stop_file: Path, state_file: Path, now: datetime, zone: tzinfo | None,
                   say: Callable[[str], None], notice: Callable[[str, str], None] | None) -> bool:  # fmt: skip
    """True (after saying it, and alerting once a day) when ``stop_file`` is present."""
    if not os.path.lexists(stop_file):
        return False
    try:
        since = datetime.fromtimestamp(os.lstat(stop_file).st_mtime, now.tzinfo).isoformat(timespec="seconds")
    except OSError:
        since = _("an unknown time")
    say("warning: " + _("the kill file {path} is present (since {since}): no job runs until it is removed; "
                        "delete it to resume the schedule").format(path=stop_file, since=since))  # fmt: skip
    mark = state_file.with_name(f"{state_file.name}.stopfile-alerted")
    day = now.astimezone(zone).date().isoformat()
    read = read_json_if_exists(mark, max_bytes=4096)
    if read is not None and read.ok and isinstance(read.value, dict) and read.value.get("day") == day:
        return True  # alerted today already
    if notice is not None:
        notice(_("Scheduler stopped by a kill file"),
               _("{path} is present (since {since}); no scheduled job runs until it is removed").format(
                   path=stop_file, since=since))  # fmt: skip
    try:
        make_folders(mark.parent)
        atomic_write_json(mark, {"day": day, "stop_file": str(stop_file)}, durable=False)
    except OSError as exc:
        say(
            "warning: "
            + _("{path}: cannot record the kill-file alert ({reason})").format(
                path=mark, reason=exc.strerror or exc
            )
        )
    return True
