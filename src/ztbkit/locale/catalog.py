"""Keeping the catalogue: extract the messages from the code, merge them into the ``.po``, compile the
``.mo``. Run ``make messages`` (``python -m ztbkit.locale.catalog``) after changing a message, then
translate the new ``msgstr ""`` entries in ``src/ztbkit/locale/ja/LC_MESSAGES/ztbkit.po`` and run it again.

Policy: the ``.mo`` is committed beside the ``.po`` rather than compiled by a setuptools hook, so an
editable install (``make setup``), a wheel and a plain checkout all have it with no build step and no
Babel at build time; tests/test_locale.py fails when it is not what compiling the ``.po`` gives, or when
the code has a message the ``.po`` lacks or leaves untranslated.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ztbkit.locale import DOMAIN, LOCALE_DIR

PACKAGE_DIR = LOCALE_DIR.parent
#: The functions whose string arguments are messages (Babel's keyword spec: name → argument indexes).
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "lazy": None}
PO = LOCALE_DIR / "ja" / "LC_MESSAGES" / f"{DOMAIN}.po"
#: Fixed header dates and names: rerunning ``make messages`` on unchanged code changes no byte.
STAMP = datetime(2026, 12, 7, tzinfo=UTC)
TEAM = "ztbkit maintainers"
MO = PO.with_suffix(".mo")


def extract(root: Path = PACKAGE_DIR) -> Any:
    """A Babel catalogue of every message in the Python files under ``root``."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(project="ztbkit", domain=DOMAIN, charset="utf-8", fuzzy=False, creation_date=STAMP,
                      revision_date=STAMP, last_translator=TEAM, language_team=TEAM)  # fmt: skip
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=("i18n:",)
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


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


def update(po: Path = PO, mo: Path = MO) -> list[str]:
    """Merge the extracted messages into ``po`` (new ones empty, gone ones dropped), write it and the
    compiled ``mo`` atomically; return the messages still untranslated."""
    from babel.messages.pofile import write_po

    from ztbkit.core.fsio import atomic_write_bytes

    template = extract()
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


def main(argv: Sequence[str] | None = None) -> int:
    missing = update()
    for m in missing:
        print(f"untranslated: {m}", file=sys.stderr)
    print(f"{PO}: {len(missing)} untranslated", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
