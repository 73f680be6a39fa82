"""Numbers about sessions: trends, selection-aware Sharpe statistics (PSR/DSR), the trials-adjusted
leaderboard, learning curves, and trend regressions.

May import: ``ztbkit.core``, ``ztbkit.data``, ``ztbkit.money``.
"""
