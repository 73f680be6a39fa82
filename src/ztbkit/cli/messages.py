"""``make messages``: update the Japanese catalogue from the code, click's source and the help of
every ``ztb`` command (the catalogue module itself may not import the command line), then compile it.
Exit 1 while an entry is untranslated."""

from __future__ import annotations

import sys

from ztbkit.cli import cli
from ztbkit.cli.i18n import help_messages
from ztbkit.locale.catalog import main

if __name__ == "__main__":
    sys.exit(main(extra=help_messages(cli)))
