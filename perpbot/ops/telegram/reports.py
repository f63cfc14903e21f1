"""Provides the trade reports for the phone: /profit [days], /daily [n] and /weekly.

They are computed by the same pure functions as `perpbot review` (reporting/weekly.py:
`weekly_review`, `period_stats` and its cell formatting, the startup halt's streak message) over
the engine mode's trades, as of the engine's time (a simulated daemon's trades carry simulated
times). Only the layout differs: key/value lines and narrow tables fit a phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from perpbot.clock import DAY_MS, floor_ms
from perpbot.config import RiskConfig
from perpbot.models import Trade
from perpbot.ops.telegram.text import BOLD, PRE, Block
from perpbot.ops.telegram.views import key_values, utc
from perpbot.reporting.weekly import (
    WEEK_COLUMNS,
    breakdown_cells,
    headline,
    money,
    period_stats,
    stats_cells,
    week_cells,
    weekly_review,
)
from perpbot.risk.halt import halt_message, startup_halt

MAX_DAYS = 3650
MAX_DAILY = 60
REVIEW_WEEKS = 4


def _closed(trades: Sequence[Trade], start_ms: int | None, now_ms: int) -> list[Trade]:
    closed = [t for t in trades if t.exit_time is not None and t.pnl is not None and t.exit_time < now_ms
              and (start_ms is None or t.exit_time >= start_ms)]
    return sorted(closed, key=lambda t: (t.exit_time or 0, t.id or 0))


def profit_blocks(trades: Sequence[Trade], now_ms: int, days: int | None, initial_equity: float,
                  open_positions: Sequence[dict[str, Any]] = ()) -> list[Block]:
    """/profit: the closed trades' figures over the last `days` (None: all time), and the open positions' PnL."""
    start = None if days is None else now_ms - days * DAY_MS
    window = _closed(trades, start, now_ms)
    earlier = _closed(trades, None, start) if start is not None else []
    start_equity = initial_equity + sum(t.pnl or 0.0 for t in earlier)  # realized equity, as the review
    stats = period_stats(window, start_equity)
    ret = stats.pnl / start_equity if start_equity > 0 else 0.0
    title = "Profit, all time" if days is None else f"Profit, last {days} day{'s' if days != 1 else ''}"
    if not window:
        return [Block(title, BOLD), Block("No closed trades in that period.")]
    cells = stats_cells("", stats, ret, "")
    blocks = [Block(title, BOLD), Block(key_values(list(zip(WEEK_COLUMNS[1:-1], cells[1:-1]))), PRE)]
    if open_positions:
        unrealized = sum(float(p.get("unrealized_pnl") or 0.0) for p in open_positions)
        blocks.append(Block(f"{len(open_positions)} open, unrealized {money(unrealized)}"))
    return blocks


def daily_blocks(trades: Sequence[Trade], now_ms: int, days: int) -> list[Block]:
    """/daily: net PnL and trade count per UTC day, today last."""
    today = floor_ms(now_ms, DAY_MS)
    first = today - (days - 1) * DAY_MS
    rows: dict[int, list[float]] = {first + i * DAY_MS: [] for i in range(days)}
    for trade in _closed(trades, first, now_ms):
        rows[floor_ms(trade.exit_time or 0, DAY_MS)].append(trade.pnl or 0.0)
    lines = [f"{_day(day)}  {len(p):>3}  {money(sum(p)):>10}" for day, p in rows.items()]
    total = [p for pnls in rows.values() for p in pnls]
    lines.append(f"{'total':<10}  {len(total):>3}  {money(sum(total)):>10}")
    return [Block(f"Daily PnL, last {days} UTC day{'s' if days != 1 else ''}", BOLD),
            Block(f"{'day':<10}  {'n':>3}  {'PnL':>10}\n" + "\n".join(lines), PRE)]


def _day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def weekly_blocks(trades: Sequence[Trade], now_ms: int, initial_equity: float, risk: RiskConfig,
                  weeks: int = REVIEW_WEEKS) -> list[Block]:
    """/weekly: `perpbot review`'s headline, weeks, symbols and halt warning."""
    review = weekly_review(trades, now_ms, weeks, initial_equity)
    head = f"{'week':<8} {'n':>3} {'PnL':>10} {'return':>9} {'win':>7}"
    rows = []
    for week in review.weeks:
        cells = week_cells(week)
        label = week.label[2:] + ("" if week.complete else "*")  # 24-W02: room for the figures
        rows.append(f"{label:<8} {cells[1]:>3} {cells[2]:>10} {cells[3]:>9} {cells[4]:>7}")
    blocks = [Block("Weekly review", BOLD), Block(headline(review)), Block(head + "\n" + "\n".join(rows), PRE)]
    if review.by_symbol:
        lines = [f"{row.key:<8} " + " ".join(f"{c:>9}" for c in breakdown_cells(row)) for row in review.by_symbol]
        blocks.append(Block("by symbol (trades, win rate, PnL)\n" + "\n".join(lines), PRE))
    blocks.append(Block(f"* the running week; as of {utc(now_ms, with_date=True)}"))
    if not startup_halt(review.losing_week_streak, risk, force=False).allowed:
        blocks.append(Block(halt_message(review.losing_week_streak, risk), BOLD))
    return blocks
