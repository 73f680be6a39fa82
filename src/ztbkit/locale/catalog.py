"""Keeping the catalogue: extract the messages from the code, merge them into the ``.po``, compile the
``.mo``. Run ``make messages`` (``python -m ztbkit.cli.messages``) after changing a message, then
translate the new ``msgstr ""`` entries in ``src/ztbkit/locale/ja/LC_MESSAGES/ztbkit.po`` and run it again.

What is extracted: every ``_``/``ngettext``/``N_``/``lazy`` message in the package; every message
text given to one of ztbkit's error classes (``raise UsageError("{flag}: ...", flag=...)``, which
translates itself when shown, see :mod:`ztbkit.core.errors`); click's own messages, from the
installed click's source (:func:`click_messages`); and, handed in by the command line layer as
``extra``, the help of every ``ztb`` command and option (:func:`ztbkit.cli.i18n.help_messages`).
Babel prints ``warning: Skipping f-string`` for an error raised with an f-string: that error is
shown in English until it is written as a template with values.

Policy: the ``.mo`` is committed beside the ``.po`` rather than compiled by a setuptools hook, so an
editable install (``make setup``), a wheel and a plain checkout all have it with no build step and no
Babel at build time; tests/test_locale.py fails when it is not what compiling the ``.po`` gives, or when
the code has a message the ``.po`` lacks or leaves untranslated.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ztbkit.locale import DOMAIN, LOCALE_DIR

PACKAGE_DIR = LOCALE_DIR.parent
#: The functions whose string arguments are messages (Babel's keyword spec: name → argument indexes).
#: ``Reason`` (:mod:`ztbkit.core.errors`) is a template too: why a file was skipped, said when shown.
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "lazy": None,
                            "Reason": None}  # fmt: skip
#: ztbkit's error classes: the first argument of each is a message (a literal template whose
#: {placeholders} are its keyword arguments); tests/test_cli_language.py checks the list is complete.
#: (AllowListError is not here: its first argument is a rule's name, not words.)
ERROR_CLASSES = ("ZtbError", "UsageError", "ArtifactError", "ArtifactsNotFoundError", "InputFileError",
                 "OutputPathError", "ParameterError", "TariffError", "CostUnavailableError",
                 "StorageWriteError", "OutboxError", "UndeliveredAlertError")  # fmt: skip
#: Words click passes through gettext without a literal there to extract (``_(extra["required"])``).
CLICK_UNMARKED = ("required",)
#: How click marks its messages (the standard library's gettext names).
CLICK_KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2)}
PO = LOCALE_DIR / "ja" / "LC_MESSAGES" / f"{DOMAIN}.po"
#: Fixed header dates and names: rerunning ``make messages`` on unchanged code changes no byte.
STAMP = datetime(2026, 12, 7, tzinfo=UTC)
TEAM = "ztbkit maintainers"
MO = PO.with_suffix(".mo")


def extract(root: Path = PACKAGE_DIR, extra: Iterable[tuple[Any, str]] = ()) -> Any:
    """A Babel catalogue of every message in the Python files under ``root``, plus ``extra``
    (message, where) pairs."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(project="ztbkit", domain=DOMAIN, charset="utf-8", fuzzy=False, creation_date=STAMP,
                      revision_date=STAMP, last_translator=TEAM, language_team=TEAM)  # fmt: skip
    keywords = {**KEYWORDS, **dict.fromkeys(ERROR_CLASSES)}
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map=[("**.py", "python")], keywords=keywords, comment_tags=("i18n:",)
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for message, where in extra:
        catalog.add(message, None, [(where, 0)])
    return catalog


def click_messages() -> list[tuple[Any, str]]:
    """The messages click marks in its own source (``Usage:``, ``Error: {message}``...), as installed:
    a click upgrade that adds one makes tests/test_locale.py ask for its Japanese."""
    import importlib.util

    from babel.messages.extract import extract_from_dir

    spec = importlib.util.find_spec("click")
    assert spec is not None and spec.submodule_search_locations, "click is a dependency"
    folder = next(iter(spec.submodule_search_locations))
    found = [
        (message, f"click/{filename}")
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            folder, method_map=[("**.py", "python")], keywords=CLICK_KEYWORDS
        )
    ]
    return found + [(word, "click/core.py") for word in CLICK_UNMARKED]


def read(path: Path = PO) -> Any:
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        return read_po(f, locale="ja", domain=DOMAIN)


def compiled(catalog: Any) -> bytes:
    """The ``.mo`` bytes of ``catalog`` (deterministic: messages sorted)."""
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


def update(po: Path = PO, mo: Path = MO, extra: Iterable[tuple[Any, str]] = ()) -> list[str]:
    """Merge the extracted messages (with ``extra``) into ``po`` (new ones empty, gone ones dropped),
    write it and the compiled ``mo`` atomically; return the messages still untranslated."""
    from babel.messages.pofile import write_po

    from ztbkit.core.fsio import atomic_write_bytes

    template = extract(extra=extra)
    catalog = read(po) if po.exists() else None
    if catalog is None:
        from babel.messages.catalog import Catalog

        catalog = Catalog(locale="ja", domain=DOMAIN, project="ztbkit", charset="utf-8")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    catalog.fuzzy = False
    catalog.creation_date = catalog.revision_date = STAMP
    catalog.last_translator = catalog.language_team = TEAM
    catalog.version = "1"
    buf = io.BytesIO()
    # No line numbers in the references: moving code does not touch the catalogue.
    write_po(buf, catalog, width=100, include_previous=False, sort_output=True, include_lineno=False)
    atomic_write_bytes(po, buf.getvalue())
    atomic_write_bytes(mo, compiled(read(po)))
    return [str(m.id) for m in read(po) if m.id and not _translated(m)]


def _translated(message: Any) -> bool:
    s = message.string
    return all(s) if isinstance(s, tuple | list) else bool(s)


def main(extra: Iterable[tuple[Any, str]] = ()) -> int:
    """``make messages``: update the catalogue with the package's messages, click's and ``extra``;
    exit 1 while an entry is untranslated. Run through ``python -m ztbkit.cli.messages``, which hands in
    the command help (this module may not import the command line)."""
    missing = update(extra=[*click_messages(), *extra])
    for m in missing:
        print(f"untranslated: {m}", file=sys.stderr)
    print(f"{PO}: {len(missing)} untranslated", file=sys.stderr)
    return 1 if missing else 0
