"""Scheduling: schedule templates and the cronish runner (catch-up, state, locks, failure alerts).

May import: ``ztbkit.core`` and ``ztbkit.notify`` (failure alerts); jobs are run as commands, never
imported.
"""
