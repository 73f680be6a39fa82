"""What ``ztb compat``'s ``run`` action may start: the allow-list, by capability.

Policy (the threat model is in README, "ztb compat"): whoever writes to compat's stdin may read
reports and write report files inside the configured roots, and nothing else.

* ``ztb`` commands are allowed by what they can do, not by name. Only the read-and-report
  commands in :data:`REPORT_COMMANDS` pass. Commands that execute other commands (``cronish``),
  send webhooks (``gates-alert``, ``live-status``, ``notify``, ``trend-alert``), replace folders
  (``demo``) or run the whole nightly are never allowed through compat, whatever the config says.
* Every option must be one the command declares, spelt out in full (``--out X`` or ``--out=X``);
  an unknown option, an abbreviation, a bundle of short flags or ``--`` is refused, and so are
  ``report``'s notebook parameters (``-p``), which could point a notebook at any folder.
* Every path-valued option (a ``click.Path`` or ``Location`` option, plus ``--tariff FILE.toml``) must resolve,
  after following symlinks, inside one of the roots: by default compat's artifacts folder and the
  ``outputs`` folder; more via the config's ``"roots"`` list or ``ZTB_COMPAT_ROOTS``
  (``os.pathsep``-separated). Remote URLs (``s3://``) are refused. A path option left out takes
  the command's documented default.
* Other programs are allowed only as exact argument-list prefixes listed in the config's
  ``"allow"`` (a string is a one-element prefix, a list a longer one) or ``ZTB_COMPAT_ALLOW``
  (comma-separated, one program each). An entry naming ``ztb`` itself is ignored: ``ztb`` always
  goes through the rules above.

Every refusal is an :class:`AllowListError` whose message starts with the rule's name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ztbkit.core.errors import UsageError

#: ztb subcommands that only read artifacts and write reports (see the module docstring).
REPORT_COMMANDS = frozenset(
    ["budget", "cost", "dashboard", "doctor", "dsr", "report", "schedule-template", "tb-scrape", "trends",
     "trends-md"]
)  # fmt: skip
#: Options whose value names a file although click sees a plain string.
_EXTRA_PATH_OPTIONS = frozenset(["--tariff"])
#: Options refused through compat although the command has them, and why.
_REFUSED_OPTIONS = {
    "-p": "notebook parameters can name any folder (artifacts_dir) behind the path checks",
    "--parameter": "notebook parameters can name any folder (artifacts_dir) behind the path checks",
}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ZTB_NAMES = frozenset(["ztb", "ztb.exe", "ztb-script.py"])


class AllowListError(UsageError):
    """A ``run`` command refused by one of the rules; the message names the rule."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"refused by rule {rule!r}: {detail}")
        self.rule = rule


@dataclass(frozen=True)
class Policy:
    """The configured allow-list: extra program prefixes and the roots for path options."""

    roots: tuple[Path, ...]
    extra: tuple[tuple[str, ...], ...] = field(default=())


def build_policy(env: Mapping[str, str], config_value: object, artifacts_dir: Path) -> Policy:
    """The policy from the environment and a parsed config file (``{"allow": [...], "roots": [...]}``)."""
    extra: list[tuple[str, ...]] = [
        (a.strip(),) for a in env.get("ZTB_COMPAT_ALLOW", "").split(",") if a.strip()
    ]
    roots = [artifacts_dir, Path("outputs")]
    roots += [Path(r) for r in env.get("ZTB_COMPAT_ROOTS", "").split(os.pathsep) if r.strip()]
    if isinstance(config_value, dict):
        for entry in config_value.get("allow") or []:
            if isinstance(entry, str) and entry:
                extra.append((entry,))
            elif isinstance(entry, list) and entry and all(isinstance(a, str) for a in entry):
                extra.append(tuple(entry))
        roots += [Path(r) for r in config_value.get("roots") or [] if isinstance(r, str) and r]
    extra = [e for e in extra if not _names_ztb(e[0])]
    return Policy(roots=tuple(_resolve(r) for r in roots), extra=tuple(extra))


def _names_ztb(program: str) -> bool:
    return Path(program.replace("\\", "/")).name.lower() in _ZTB_NAMES


def _resolve(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_command(command: Sequence[str], policy: Policy) -> None:
    """Raise :class:`AllowListError` unless ``command`` may run under ``policy``."""
    program = command[0]
    if program == "ztb":
        _check_ztb(list(command[1:]), policy)
        return
    for prefix in policy.extra:
        if tuple(command[: len(prefix)]) == prefix:
            return
    allowed = ", ".join(" ".join(p) for p in policy.extra) or "none"
    raise AllowListError(
        "allow-list",
        f"command {program!r} is not ztb and matches no allowed argument prefix (allowed: {allowed}); "
        'add it to ZTB_COMPAT_ALLOW or the config\'s "allow" list',
    )


def _check_ztb(args: list[str], policy: Policy) -> None:
    import click

    from ztbkit.cli.base import cli  # every command is registered on it by then (ztbkit.cli)

    if args in (["--version"], ["--help"], ["-h"]):
        return
    if not args:
        raise AllowListError("report-commands-only", "give a ztb subcommand")
    name, rest = args[0], args[1:]
    if name not in REPORT_COMMANDS:
        raise AllowListError(
            "report-commands-only",
            f"ztb {name!r} is not a read-and-report command; compat runs only {', '.join(sorted(REPORT_COMMANDS))}",
        )
    command = cli.commands.get(name)
    if command is None:
        raise AllowListError("report-commands-only", f"this ztb has no command {name!r}")
    options: dict[str, click.Option] = {}
    takes_arguments = False
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                options[opt] = param
        else:
            takes_arguments = True
    options.setdefault("--help", None)  # type: ignore[arg-type]
    options.setdefault("-h", None)  # type: ignore[arg-type]
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            raise AllowListError("known-options-only", "'--' is not accepted through compat")
        if not arg.startswith("-") or arg == "-":
            if not takes_arguments:
                raise AllowListError("known-options-only", f"ztb {name} takes no argument {arg!r}")
            _check_argument(name, arg)
            continue
        flag, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if flag not in options:
            raise AllowListError(
                "known-options-only",
                f"{flag!r} is not an option of ztb {name} (options must be spelt out in full)",
            )
        if flag in _REFUSED_OPTIONS:
            raise AllowListError(
                "known-options-only", f"{flag} is not accepted through compat: {_REFUSED_OPTIONS[flag]}"
            )
        param = options[flag]
        if param is None or param.is_flag or param.count:
            if eq:
                raise AllowListError("known-options-only", f"{flag} takes no value")
            continue
        if eq:
            values = [inline]
        else:
            values = rest[i : i + param.nargs]
            i += param.nargs
            if len(values) < param.nargs:
                raise AllowListError("known-options-only", f"{flag} needs a value")
        if _is_path_type(param.type) or flag in _EXTRA_PATH_OPTIONS:
            for value in values:
                _check_path(flag, value, policy)


def _check_argument(command: str, arg: str) -> None:
    """A positional argument: ``report`` takes shipped report names only, never a notebook path
    (executing a notebook runs any code in it, wherever the file lies)."""
    from ztbkit.reports.notebooks import NOTEBOOKS

    if command == "report" and arg not in NOTEBOOKS:
        raise AllowListError(
            "report-commands-only",
            f"ztb report {arg!r}: only the shipped reports ({', '.join(NOTEBOOKS)}) run through compat, "
            "never a notebook path (a notebook runs any code)",
        )
    if command != "report":
        raise AllowListError("known-options-only", f"ztb {command} takes no argument {arg!r}")


def _is_path_type(kind: object) -> bool:
    """A click.Path or any other type that converts to a path (the CLI's ``Location``, which takes
    local paths and URLs): every such type names itself ``path``. Checking by name keeps a new
    path type from slipping past the roots check unnoticed."""
    import click

    return isinstance(kind, click.Path) or getattr(kind, "name", None) == "path"


def _check_path(flag: str, value: str, policy: Policy) -> None:
    if flag == "--tariff" and not value.endswith(".toml"):
        return  # a shipped tariff's name, not a file
    if _URL.match(value):
        raise AllowListError(
            "paths-inside-roots", f"{flag} {value!r}: remote URLs are not accepted through compat"
        )
    if "\x00" in value:
        raise AllowListError("paths-inside-roots", f"{flag}: the path contains a NUL character")
    resolved = _resolve(Path(value))
    for root in policy.roots:
        if resolved == root or resolved.is_relative_to(root):
            return
    roots = ", ".join(str(r) for r in policy.roots)
    raise AllowListError(
        "paths-inside-roots", f"{flag} {value!r} resolves to {resolved}, outside the allowed roots ({roots})"
    )
