"""ztb diff, ztb note and ztb tag: comparing two runs, and the user's notes and tags on runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ztbkit.cli.base import ARTIFACTS_OPT, cli, fail
from ztbkit.core.ids import safe_repr
from ztbkit.locale import _

if TYPE_CHECKING:
    from ztbkit.data.session import Session


def _session(artifacts_dir: Path, session_id: str, label: str, *, stats: bool = True) -> Session:
    """One session by id (its folder, or its index entry); exit 2 naming it when there is neither."""
    from ztbkit.core.ids import check_component
    from ztbkit.data.artifacts import index_entry
    from ztbkit.data.notes import annotate
    from ztbkit.data.session import load_session

    check_component(session_id, label)
    if not os.path.isdir(artifacts_dir):
        fail(_("--artifacts-dir: {folder} is not a folder").format(folder=artifacts_dir))
    folder = artifacts_dir / session_id
    entry = index_entry(artifacts_dir, session_id)
    if not folder.is_dir() or session_id.startswith("."):
        listed = _(" (it is only listed in index.json)") if entry is not None else ""
        fail(_("{label} {id}: no session folder {folder}").format(label=label, id=safe_repr(session_id), folder=folder)
             + listed)  # fmt: skip
    s = load_session(folder, entry) if stats else None
    if s is None:
        from ztbkit.data.session import Session

        s = Session(session_id=session_id, folder=str(folder))
    annotate([s], artifacts_dir)
    return s


@cli.command("diff")
@click.argument("a")
@click.argument("b")
@ARTIFACTS_OPT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--no-tensorboard", is_flag=True, help="Skip the TensorBoard tags (faster on huge runs).")
def diff_cmd(a: str, b: str, artifacts_dir: Path, as_json: bool, no_tensorboard: bool) -> None:
    """Two sessions side by side: changed config keys, metrics with the difference (B − A), gates,
    cost, duration and the latest value of each TensorBoard tag both have. Exit 0; a session that
    does not exist is exit 2 naming it.

    \b
    Examples:
      ztb diff 20251001T020000Z 20251002T020000Z --artifacts-dir artifacts
      ztb diff 20251001T020000Z 20251002T020000Z --json | jq '.metrics'
    """
    from ztbkit.analysis.diff import diff_sessions, diff_text

    sa, sb = _session(artifacts_dir, a, "A"), _session(artifacts_dir, b, "B")
    d = diff_sessions(sa, sb, tensorboard=not no_tensorboard)
    if as_json:
        click.echo(json.dumps(d, indent=2, ensure_ascii=False, default=str))
    else:
        click.echo("".join(safe_repr(line) + "\n" for line in diff_text(d).splitlines()), nl=False)


@cli.command("note")
@click.argument("session_id", metavar="ID")
@click.argument("text")
@ARTIFACTS_OPT
def note_cmd(session_id: str, text: str, artifacts_dir: Path) -> None:
    """Add a note to a session, kept in <artifacts-dir>/.ztb/notes.json (never in the bot's folders)
    and shown in every report.

    \b
    Examples:
      ztb note 20251002T020000Z "vf_coef 0.5: smoother value loss, same Sharpe" --artifacts-dir artifacts
      ztb note --artifacts-dir artifacts 20251002T020000Z -- "-5% drawdown on Oct 3"   (text starting with -)
    """
    from ztbkit.core.clock import SYSTEM_CLOCK
    from ztbkit.data.notes import add_note

    _session(artifacts_dir, session_id, "ID", stats=False)
    count = add_note(artifacts_dir, session_id, text, SYSTEM_CLOCK.now())
    where = artifacts_dir / ".ztb" / "notes.json"
    click.echo(
        _("kept: note {count} on {id} in {path}").format(count=count, id=safe_repr(session_id), path=where)
    )


@cli.command("tag")
@click.argument("session_id", metavar="ID")
@click.argument("tag")
@ARTIFACTS_OPT
@click.option("--remove", is_flag=True, help="Take the tag off instead.")
def tag_cmd(session_id: str, tag: str, artifacts_dir: Path, remove: bool) -> None:
    """Tag a session (live, candidate, discard, baseline or any one word); reports show the tags and
    filter on them. ``live`` marks the run whose model trades now: one session at a time, so tagging
    another one live moves the tag. The dashboard lists the live run first.

    \b
    Examples:
      ztb tag 20251002T020000Z candidate --artifacts-dir artifacts
      ztb tag 20251002T020000Z live --artifacts-dir artifacts
      ztb tag 20251001T020000Z discard --remove --artifacts-dir artifacts
    """
    from ztbkit.data.notes import set_tag

    _session(artifacts_dir, session_id, "ID", stats=False)
    moved = set_tag(artifacts_dir, session_id, tag, remove=remove)
    said = _("kept: removed {id} {tag}") if remove else _("kept: tagged {id} {tag}")
    line = said.format(id=safe_repr(session_id), tag=tag.strip().lower())
    if moved is not None:
        line += _(" (live moved from {id})").format(id=safe_repr(moved))
    click.echo(line)
