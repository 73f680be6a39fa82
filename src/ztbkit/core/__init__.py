"""The ground floor: what every other layer stands on.

Owns the one error root (``errors``), injected time (``clock``), atomic writes (``fsio``) and tolerant
reads (``jsonread``), names that become path components (``ids``), value checks (``values``), text
encodings at process boundaries (``charset``), process trees (``proc``, ``captured``) and the way
numbers and text are shown to people (``formatting``), and where ztbkit keeps its own files
(``statedir``: the outbox, the scheduler state).

May import: the standard library and third-party packages only; no other ztbkit layer.
"""
