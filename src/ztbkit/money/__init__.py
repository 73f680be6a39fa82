"""Yen: what a run cost (``costs``), electricity tariffs (``tariffs``, TOML), GPU board power
(``gpu_power``) and the daily budget (``budget``).

May import: ``ztbkit.core``, ``ztbkit.data``.
"""
