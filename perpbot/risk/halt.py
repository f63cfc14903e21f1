"""Provides the losing-week streak and the startup halt judged from it.

`losing_week_streak` is shared by the daemon's startup check and the weekly report, so it is
pure over (exit_time_ms, pnl) pairs and knows nothing about where they came from.
"""

from __future__ import annotations

from collections.abc import Iterable

from perpbot.clock import DAY_MS
from perpbot.config import RiskConfig
from perpbot.risk.manager import RiskCheck

WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; ISO weeks start on Monday 1970-01-05 00:00 UTC, 4 days later.
_MONDAY_OFFSET_MS = 4 * DAY_MS


def week_start_ms(ts_ms: int) -> int:
    """The Monday 00:00 UTC that starts the ISO week containing ts_ms."""
    return ts_ms - (ts_ms - _MONDAY_OFFSET_MS) % WEEK_MS


def weekly_pnl(closed: Iterable[tuple[int, float]]) -> dict[int, float]:
    """Net realized pnl per UTC ISO week, keyed by the week's Monday 00:00 UTC (epoch ms)."""
    weeks: dict[int, float] = {}
    for exit_ms, pnl in closed:
        start = week_start_ms(int(exit_ms))
        weeks[start] = weeks.get(start, 0.0) + float(pnl)
    return weeks


def losing_week_streak(closed: Iterable[tuple[int, float]], now_ms: int) -> int:
    """How many of the most recent completed UTC weeks in a row lost money.

    Rules (decided once, relied on by the daemon halt and the weekly report):
    - Weeks are UTC ISO weeks, Monday 00:00 UTC to the next Monday.
    - Only completed weeks count: the week containing `now_ms` is still running and is
      ignored, as are trades with exit times at or after `now_ms`.
    - A week is losing when its net pnl (sum over trades closed in it) is below zero; a week
      with trades that nets zero or more ends the streak.
    - A week with no closed trades is skipped: it neither extends nor breaks the streak. A
      halted or idle bot must not clear its own halt by waiting a week.

    Args:
        closed: (exit_time epoch ms, net pnl) per closed trade, in any order.
        now_ms: the current time.

    Returns:
        The length of the losing streak ending with the last completed week that traded.
    """
    current_week = week_start_ms(now_ms)
    weeks = weekly_pnl((t, p) for t, p in closed if t < now_ms)
    streak = 0
    for start in sorted((w for w in weeks if w < current_week), reverse=True):
        if weeks[start] >= 0:
            break
        streak += 1
    return streak


def startup_halt(streak: int, cfg: RiskConfig, force: bool) -> RiskCheck:
    """Whether the bot may start trading given the losing-week streak.

    Returns:
        RiskCheck(True, "ok") when under the limit or the check is off (losing_weeks_halt 0);
        RiskCheck(False, "losing_weeks") when the streak reached the limit;
        RiskCheck(True, "forced") when it did but the command was started with --force.
    """
    limit = cfg.losing_weeks_halt
    if limit <= 0 or streak < limit:
        return RiskCheck(True, "ok")
    if force:
        return RiskCheck(True, "forced")
    return RiskCheck(False, "losing_weeks")


def halt_message(streak: int, cfg: RiskConfig) -> str:
    """The sentence a user sees when the startup halt refuses to trade."""
    return (
        f"{streak} losing UTC weeks in a row (limit risk.losing_weeks_halt={cfg.losing_weeks_halt}): "
        "trading halted; review the strategy, then start with --force to override"
    )
