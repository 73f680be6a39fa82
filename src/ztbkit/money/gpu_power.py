"""Published board power of GPU models (``gpu_power.toml``): the watts a run is priced at when it
recorded no energy of its own. Unknown models take :data:`DEFAULT_GPU_WATTS`."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

DEFAULT_GPU_WATTS = 300.0


@lru_cache(maxsize=1)
def gpu_power_table() -> tuple[tuple[str, float], ...]:
    """(model substring, watts), longest substring first, from ``gpu_power.toml`` beside this module."""
    text = resources.files("ztbkit.money").joinpath("gpu_power.toml").read_text(encoding="utf-8")
    watts = tomllib.loads(text)["watts"]
    return tuple(sorted(((k.lower(), float(v)) for k, v in watts.items()), key=lambda kv: -len(kv[0])))


def board_power_watts(model: str) -> float | None:
    """Published board power for a GPU model name (``NVIDIA GeForce RTX 4090`` → 450), if known."""
    name = model.lower()
    return next((w for key, w in gpu_power_table() if key in name), None)
