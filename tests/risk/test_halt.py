"""Tests for the losing-week streak (UTC ISO weeks) and the startup halt with and without --force."""

from __future__ import annotations

from datetime import datetime, timezone

from perpbot.clock import DAY_MS, HOUR_MS
from perpbot.config import RiskConfig
from perpbot.data.db import Store
from perpbot.models import Side, Trade
from perpbot.risk.halt import halt_message, losing_week_streak, startup_halt, week_start_ms, weekly_pnl
from perpbot.risk.manager import RiskCheck

WEEK_MS = 7 * DAY_MS


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


MON = ms("2024-01-08T00:00")  # a Monday; the running week is 2024-01-08 .. 2024-01-15
NOW = MON + 2 * DAY_MS + 5 * HOUR_MS  # Wednesday of the running week


def in_week(weeks_back: int, hours: int = 30) -> int:
    """A time `weeks_back` completed weeks before the running one."""
    return MON - weeks_back * WEEK_MS + hours * HOUR_MS


def test_week_starts_on_monday_midnight_utc():
    assert week_start_ms(ms("2024-01-10T13:00")) == MON
    assert week_start_ms(MON) == MON
    assert week_start_ms(MON - 1) == ms("2024-01-01T00:00")
    assert week_start_ms(ms("2024-01-14T23:59")) == MON  # Sunday belongs to the same ISO week


def test_weekly_pnl_sums_per_week():
    weeks = weekly_pnl([(in_week(1), -5.0), (in_week(1, 100), 2.0), (in_week(2), 1.0)])
    assert weeks == {MON - WEEK_MS: -3.0, MON - 2 * WEEK_MS: 1.0}


def test_three_losing_weeks_in_a_row():
    closed = [(in_week(1), -1.0), (in_week(2), -1.0), (in_week(3), -1.0), (in_week(4), 5.0)]
    assert losing_week_streak(closed, NOW) == 3


def test_a_winning_week_breaks_the_streak():
    closed = [(in_week(1), -1.0), (in_week(2), 3.0), (in_week(3), -1.0), (in_week(4), -1.0)]
    assert losing_week_streak(closed, NOW) == 1


def test_a_break_even_week_is_not_losing():
    closed = [(in_week(1), -1.0), (in_week(1, 40), 1.0), (in_week(2), -1.0)]
    assert losing_week_streak(closed, NOW) == 0


def test_the_running_week_does_not_count():
    closed = [(NOW - HOUR_MS, -100.0), (in_week(1), -1.0)]
    assert losing_week_streak(closed, NOW) == 1
    # Exits at or after now are ignored too (e.g. a backtest asking about its past).
    assert losing_week_streak([(NOW + WEEK_MS, -1.0)], NOW) == 0


def test_weeks_without_trades_are_skipped_not_breaking():
    closed = [(in_week(1), -1.0), (in_week(3), -2.0), (in_week(6), -3.0), (in_week(7), 1.0)]
    assert losing_week_streak(closed, NOW) == 3


def test_net_pnl_decides_a_week_with_wins_and_losses():
    closed = [(in_week(1, 10), 4.0), (in_week(1, 20), -5.0), (in_week(2, 10), -1.0)]
    assert losing_week_streak(closed, NOW) == 2


def test_no_trades_means_no_streak():
    assert losing_week_streak([], NOW) == 0


def test_week_boundary_is_exact():
    # One ms before Monday belongs to the previous week; Monday 00:00 to the running one.
    assert losing_week_streak([(MON - 1, -1.0)], NOW) == 1
    assert losing_week_streak([(MON, -1.0)], NOW) == 0


def test_startup_halt_refuses_at_the_limit_without_force():
    cfg = RiskConfig(losing_weeks_halt=3)
    assert startup_halt(2, cfg, force=False) == RiskCheck(True, "ok")
    assert startup_halt(3, cfg, force=False) == RiskCheck(False, "losing_weeks")
    assert startup_halt(4, cfg, force=True) == RiskCheck(True, "forced")
    assert "--force" in halt_message(3, cfg)


def test_startup_halt_can_be_switched_off():
    assert startup_halt(10, RiskConfig(losing_weeks_halt=0), force=False) == RiskCheck(True, "ok")


def test_streak_from_the_trades_table_halts_unless_forced(tmp_path):
    store = Store(tmp_path / "bot.db")
    for weeks_back, pnl in ((1, -20.0), (2, -5.0), (3, -1.0), (4, 50.0)):
        exit_ms = in_week(weeks_back)
        store.insert_trade(Trade("BTC", Side.LONG, 0.1, exit_ms - HOUR_MS, 100.0, exit_time=exit_ms,
                                 exit_price=99.0, pnl=pnl, exit_reason="signal"))
    store.insert_trade(Trade("ETH", Side.SHORT, 1.0, NOW - HOUR_MS, 10.0))  # open: no exit, no pnl
    closed = [(t.exit_time, t.pnl) for t in store.closed_trades(end=NOW) if t.exit_time is not None and t.pnl is not None]
    streak = losing_week_streak(closed, NOW)
    cfg = RiskConfig()
    assert streak == 3
    assert startup_halt(streak, cfg, force=False) == RiskCheck(False, "losing_weeks")
    assert startup_halt(streak, cfg, force=True).allowed
    store.close()
