"""Provides the Reports screen's computations: the weekly review and the comparison with the backtest.

Both read the trades table (read-only) and call the same pure reporting functions as the
`review` and `compare` commands, so the screen and the terminal always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpbot.clock import interval_ms
from perpbot.config import Settings
from perpbot.errors import PerpbotError
from perpbot.reporting.compare import Comparison, compare_trades
from perpbot.reporting.weekly import WeeklyReview, weekly_review
from perpbot.tui.data import DashboardData

REVIEW_WEEKS = 4
TOLERANCE_BARS = 2.0
"""As `perpbot compare`'s default: entries up to two strategy bars apart still match."""


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


def compare_with_backtest(data: DashboardData, settings: Settings, mode: str) -> ComparisonResult:
    """Backtest the period the bot traded with the same settings and match the trades one to one.

    Raises:
        PerpbotError: no trades to compare, or the backtest failed.
    """
    from perpbot.backtest import run_backtest
    from perpbot.cli_reports import comparison_period

    tolerance_ms = int(TOLERANCE_BARS * interval_ms(settings.strategy.timeframe))
    every = data.all_trades(mode)
    if not every:
        raise PerpbotError(f"no {mode} trades to compare yet", "let the bot trade first")
    start, end = comparison_period(every, None, None, tolerance_ms)
    actual = sorted(every, key=lambda t: (t.entry_time, t.id or 0))
    # One tolerance past the period, so the twins of the bot's last trades can exit as they would have.
    result = run_backtest(settings, data.store, list(settings.data.symbols), start, end + tolerance_ms)
    backtest = sorted((t for t in result.trades if t.entry_time < end), key=lambda t: t.entry_time)
    return ComparisonResult(compare_trades(actual, backtest, tolerance_ms), start, end, len(result.trades))
