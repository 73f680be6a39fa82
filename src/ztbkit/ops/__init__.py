"""The jobs an operator runs: the nightly (every report a night needs, in order, then the
night-over-night index: ``night_index``) and the doctor (one-shot triage of a session: ``checks``,
``session_checks``, ``host_checks``).

May import: every library layer below it (``core``, ``data``, ``money``, ``analysis``, ``reports``,
``notify``, ``schedule``); never ``cli``.
"""
