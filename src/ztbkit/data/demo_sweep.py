"""The demo's small hyperparameter sweep, so ``make demo`` shows the compare report with real variation.

The last :data:`SWEEP_SIZE` finished sessions of the demo (not the running ones) are one PPO sweep:
learning rate × vf_coef, with n_steps fixed, written the way the bot's backtest envelope writes its
config (``run_metadata.json`` → ``payload.config``). Their Sharpe gets a deterministic bump that
favours a middle learning rate and a higher vf_coef, so the scatter plots show a shape to read. The
values depend only on the session's position, never on a random draw, so the demo stays
byte-for-byte the same for a seed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SWEEP_SIZE = 8
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3)
VF_COEFS = (0.25, 0.75)


def sweep_params(n: int, sessions: int) -> dict[str, Any] | None:
    """The config of demo session ``n`` (0-based, oldest first) when it is in the sweep, else None."""
    first = sessions - 2 - SWEEP_SIZE  # the two newest sessions are running, not part of the sweep
    if sessions < SWEEP_SIZE + 4 or not first <= n < first + SWEEP_SIZE:
        return None
    k = n - first
    return {
        "policy": "ppo_mlp",
        "dataset": "btc_jpy_1m",
        "learning_rate": LEARNING_RATES[k % len(LEARNING_RATES)],
        "vf_coef": VF_COEFS[k // len(LEARNING_RATES)],
        "n_steps": 2048,
        "slippage_bps": 5.0,
    }


def sweep_effect(params: dict[str, Any]) -> float:
    """The Sharpe bump of a sweep config: best at learning rate 3e-4, better with a higher vf_coef."""
    lr_rank = LEARNING_RATES.index(params["learning_rate"])
    return round(0.6 - 0.35 * abs(lr_rank - 1) + 0.4 * (float(params["vf_coef"]) - 0.25), 4)


def sweep_run_metadata(
    sid: str, start: datetime, seconds: float, gpus: int, params: dict[str, Any]
) -> dict[str, Any]:
    """The backtest-envelope shape, as the bot writes it, with the sweep's config."""
    return {
        "correlation_id": sid,
        "timestamp": start.isoformat(timespec="seconds"),
        "payload": {
            "correlation_id": sid,
            "run_id": f"ppo_sweep_{sid}",
            "type": "training",
            "config": params,
            "duration_seconds": round(seconds, 1),
            "gpu_count": gpus,
        },
    }
