"""Provides the Reports screen's computations: the weekly review, and the comparison's result.

The review reads the trades table (read-only) and calls the same pure reporting function as the
`review` command, so the screen and the terminal always agree; the comparison with the backtest is
a run, so the app's `Runner` (runs.py) makes it, as `compare` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpbot.config import Settings
from perpbot.reporting.compare import Comparison
from perpbot.reporting.weekly import WeeklyReview, weekly_review
from perpbot.tui.data import DashboardData

REVIEW_WEEKS = 4


@dataclass(frozen=True, slots=True)
class ComparisonResult:
    comparison: Comparison
    start_ms: int
    end_ms: int
    backtest_trades: int


def load_review(data: DashboardData, settings: Settings, mode: str, now_ms: int) -> WeeklyReview | None:
    """The review of the last weeks, or None when the bot has closed no trade yet."""
    trades = data.all_trades(mode)
    if not any(t.exit_time is not None and t.exit_time < now_ms for t in trades):
        return None
    return weekly_review(trades, now_ms, REVIEW_WEEKS, settings.backtest.initial_equity)


