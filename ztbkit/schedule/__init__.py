"""Scheduling: schedule templates and the cronish runner (catch-up, state, locks)."""
