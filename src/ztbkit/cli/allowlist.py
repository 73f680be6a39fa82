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
  (``os.pathsep``-separated). Remote URLs (``s3://``) are refused.
* A path option left out is checked too, as the command will use it: click's default (relative to
  compat's working folder, where the command runs), or for a default the command computes in its
  body the rule in :data:`COMPUTED_DEFAULTS` (``trends --out`` is ``<artifacts-dir>/trends.csv``,
  over the effective ``--artifacts-dir``). A path option with neither is refused, so a new option
  cannot slip past the roots. ``ztb budget`` left to its default ``reports/budget_daily.md`` is
  therefore refused unless ``reports`` is a root: give ``--out`` inside one.
* Caches stay off: commands run with ``ZTB_NO_CACHE=1``, so ``tb-scrape`` keeps no cache unless
  ``--cache`` names one inside the roots, and no parse cache goes to the user's cache folder.
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
from typing import TYPE_CHECKING

from ztbkit.core.errors import UsageError

if TYPE_CHECKING:
    import click

#: ztb subcommands that only read artifacts and write reports (see the module docstring).
REPORT_COMMANDS = frozenset(
    ["budget", "cost", "dashboard", "doctor", "dsr", "report", "schedule-template", "tb-scrape", "trends",
     "trends-md"]
)  # fmt: skip
#: Path options whose default the command computes in its body (click's default is None), by
#: (command, option): a template over the effective values of the other options, or None when
#: leaving the option out writes and reads no file through it (stdout, or a cache ZTB_NO_CACHE keeps off).
COMPUTED_DEFAULTS: dict[tuple[str, str], str | None] = {
    ("trends", "--out"): "{artifacts_dir}/trends.csv",
    ("dashboard", "--out"): "{artifacts_dir}/dashboard.html",
    ("cost", "--out"): None,  # printed; the session's reports/cost_estimate.json is under --artifacts-dir
    ("tb-scrape", "--output"): None,  # printed
    ("tb-scrape", "--cache"): None,  # off: compat starts every command with ZTB_NO_CACHE=1
    ("schedule-template", "--output"): None,  # printed
    # ztbkit's own folder by the one rule (core.statedir: ZTB_HOME, STATE_DIRECTORY, <state-dir>/.ztb)
    ("doctor", "--state-file"): "{ztb_dir}/cronish-state.json",
}
#: The environment compat adds for every command it starts (see the module policy).
CHILD_ENV = {"ZTB_NO_CACHE": "1"}
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


def check_command(command: Sequence[str], policy: Policy, env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`AllowListError` unless ``command`` may run under ``policy``; ``env`` is the
    environment it will run with (an option's environment variable is its default there)."""
    program = command[0]
    if program == "ztb":
        _check_ztb(list(command[1:]), policy, os.environ if env is None else env)
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


def _check_ztb(args: list[str], policy: Policy, env: Mapping[str, str]) -> None:
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
    given: dict[str, str] = {}  # option name -> the value given (the last, as click takes it)
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
        if param is not None and param.name:
            given[param.name] = ""
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
        if param.name and values:
            given[param.name] = values[-1]
        if _is_path_type(param.type) or flag in _EXTRA_PATH_OPTIONS:
            for value in values:
                _check_path(flag, value, policy)
    if not any(a in ("--help", "-h") for a in rest):
        _check_defaults(name, command, given, policy, env)


def effective_defaults(name: str, command: click.Command, given: Mapping[str, str],
                       env: Mapping[str, str]) -> dict[str, str | None]:  # fmt: skip
    """The path each path option left out of ``ztb NAME`` will use, by option (None: no file).

    Raises :class:`AllowListError` for a path option whose default compat does not know.
    """
    import click

    from ztbkit.core.statedir import ztb_dir

    plain: dict[str, str] = {k: v for k, v in given.items() if v}  # what a computed default refers to
    plain["ztb_dir"] = os.fspath(ztb_dir(None, env))
    out: dict[str, str | None] = {}
    paths = [p for p in command.params if isinstance(p, click.Option) and _is_path_type(p.type) and p.name]
    for param in paths:
        if param.name in given:
            continue
        value = None
        for var in [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or []):
            value = env.get(var) or value
        default = param.default() if callable(param.default) else param.default
        if value is None and default is not None and isinstance(default, str | os.PathLike):
            value = os.fspath(default)
        if value is not None:
            plain[param.name or ""] = value
            out[param.opts[-1]] = value
    for param in paths:
        flag = param.opts[-1]
        if param.name in given or flag in out:
            continue
        if (name, flag) not in COMPUTED_DEFAULTS:
            raise AllowListError("paths-inside-roots", f"ztb {name} {flag}: compat does not know where this "
                                 "option points when it is left out; give it explicitly")  # fmt: skip
        rule = COMPUTED_DEFAULTS[(name, flag)]
        out[flag] = None if rule is None else rule.format(**plain)
    return out


def _check_defaults(name: str, command: click.Command, given: Mapping[str, str], policy: Policy,
                    env: Mapping[str, str]) -> None:  # fmt: skip
    """Every path option left out, checked at the path the command will use (see the module policy)."""
    for flag, value in effective_defaults(name, command, given, env).items():
        if value is not None:
            _check_path(flag, value, policy, defaulted=True)


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


def _check_path(flag: str, value: str, policy: Policy, *, defaulted: bool = False) -> None:
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
    what = f"{flag} left out defaults to {value!r}, which" if defaulted else f"{flag} {value!r}"
    hint = f"; give {flag} inside a root" if defaulted else ""
    raise AllowListError(
        "paths-inside-roots", f"{what} resolves to {resolved}, outside the allowed roots ({roots}){hint}"
    )
