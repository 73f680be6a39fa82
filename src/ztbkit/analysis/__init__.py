"""Numbers about sessions: trends, selection-aware Sharpe statistics (PSR/DSR), the trials-adjusted
leaderboard, learning curves, trend regressions, hyperparameters against results (``compare``) and
two sessions side by side (``diff``).

May import: ``ztbkit.core``, ``ztbkit.data``, ``ztbkit.money``.
"""
