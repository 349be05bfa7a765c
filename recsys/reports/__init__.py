"""Reports behind the ``recsys-leaderboard`` and ``recsys-coverage-curve`` commands (markdown + figure)."""
