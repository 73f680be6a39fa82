"""Words for people: the language a run speaks and the gettext catalogue behind ``_``.

Owns: choosing the language (``--lang`` > ``ZTB_LANG`` > the locale > English), the translation
functions every layer calls (``_``, ``ngettext``, ``lazy`` for module-level text, ``N_`` to mark text
translated later), and Babel formatting of numbers, yen and dates in that language
(:mod:`ztbkit.locale.numbers`). May import: core only; every layer may import it.

Policy users depend on:

* ``ja`` and ``en`` are the languages. An explicit choice (``--lang``, a notebook's ``lang``) wins;
  then ``ZTB_LANG``; then the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG`` in POSIX order, or the
  Windows user locale): any ``ja`` locale (``ja_JP.UTF-8``, ``ja_JP.EUC-JP``…) means Japanese;
  anything else English. A ``--lang`` or ``ZTB_LANG`` that is neither is bad input (exit 2).
* Only what a person reads is translated. Machine-read outputs (the trends CSV header, the trends
  Markdown headings, ``Doctor Summary:``, JSON keys, exit codes) never change with the language.
* The catalogue is ``ja/LC_MESSAGES/ztbkit.po`` beside this file, compiled to ``ztbkit.mo`` (committed,
  and checked fresh by tests/test_locale.py); a message missing from it shows in English.
* Cheap: importing this module reads no catalogue and imports no Babel; the ``.mo`` is read at the
  first translated message, Babel at the first formatted number.
"""

from __future__ import annotations

import gettext as _gettext
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ztbkit.core import errors as _errors
from ztbkit.core.errors import UsageError

#: The languages ztbkit speaks; the first is the fallback.
LANGUAGES = ("en", "ja")
#: The environment variable that picks the language when no ``--lang`` is given.
ENV = "ZTB_LANG"
DOMAIN = "ztbkit"
LOCALE_DIR = Path(__file__).resolve().parent

_state: dict[str, Any] = {"lang": None, "translations": None}


def check_language(value: str, where: str = "--lang") -> str:
    """``value`` as one of :data:`LANGUAGES` (case and a region ignored: ``ja_JP`` → ``ja``), else a
    UsageError naming ``where``."""
    lang = value.strip().lower().replace("-", "_").split("_")[0]
    if lang not in LANGUAGES:
        raise UsageError("{where}: unknown language {value} (choose from {choices})", where=where,
                         value=repr(value), choices=", ".join(LANGUAGES))  # fmt: skip
    return lang


def locale_language(environ: Mapping[str, str] | None = None) -> str:
    """The locale's language: ``ja`` for any Japanese locale, else ``en``.

    POSIX order: the first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set and not empty decides
    (``LANG=ja_JP.EUC-JP`` → ja, ``LC_ALL=C`` → en). On Windows, where those are usually unset, the
    user's locale (``Japanese_Japan.932``) decides."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import locale

        name = locale.getlocale()[0] or ""
        return "ja" if name.lower().startswith(("ja", "japanese")) else "en"
    return "en"


def resolve_language(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language to speak: ``explicit`` (``--lang``, a notebook's ``lang``) when given and not empty,
    else ``ZTB_LANG``, else the locale (:func:`locale_language`)."""
    env = os.environ if environ is None else environ
    if explicit:
        return check_language(explicit)
    if env.get(ENV, "").strip():
        return check_language(env[ENV], ENV)
    return locale_language(env)


def use_language(lang: str | None = None) -> str:
    """Speak ``lang`` from now on in this process (None or empty: :func:`resolve_language`); returns it."""
    chosen = resolve_language(lang)
    if chosen != _state["lang"]:
        _state["lang"] = chosen
        _state["translations"] = None
    return chosen


def reset() -> None:
    """Forget the choice: the next message resolves the language again (tests; a new run)."""
    _state["lang"] = None
    _state["translations"] = None


def current_language() -> str:
    """The language in use (resolved on first call)."""
    if _state["lang"] is None:
        use_language()
    lang: str = _state["lang"]
    return lang


def _translations() -> _gettext.NullTranslations:
    t: _gettext.NullTranslations | None = _state["translations"]
    if t is None:
        lang = current_language()
        # English is the source language: no catalogue. A missing .mo (a broken install) falls back
        # to English rather than failing a nightly.
        t = (
            _gettext.NullTranslations()
            if lang == "en"
            else _gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)
        )
        _state["translations"] = t
    return t


def _(message: str) -> str:
    """``message`` in the current language (English when the catalogue has no entry)."""
    return _translations().gettext(message)


def gettext(message: str) -> str:
    """The same as :func:`_`."""
    return _translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for a count ``n`` (Japanese has one form; English two)."""
    return _translations().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (it is translated where shown)."""
    return message


class LazyText:
    """Text translated each time it is shown: for module-level constants (titles, labels), which are
    defined before any language is chosen."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return _(self.message)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"lazy({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.message)

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)


# The library's errors say themselves in the chosen language (ztbkit.core.errors cannot import this).
_errors.set_translator(_)


def lazy(message: str) -> LazyText:
    """``message``, translated when it is turned into text (``str()``, an f-string)."""
    return LazyText(message)


__all__ = [
    "ENV",
    "LANGUAGES",
    "N_",
    "LazyText",
    "_",
    "check_language",
    "current_language",
    "gettext",
    "lazy",
    "locale_language",
    "ngettext",
    "reset",
    "resolve_language",
    "use_language",
]
