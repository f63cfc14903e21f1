"""Provides the risk rules as pure scalar functions: the one definition live and backtest share.

`RiskManager` (live, paper and the multi-symbol backtest) calls these on its durable state, and
the compiled one-symbol backtest loop (`perpbot.backtest.fastloop`) compiles these very
functions with numba. So they are written in the subset numba compiles: ints, floats and bools
in, ints, floats, bools or tuples out; no None (an unknown equity is NaN, an unknown day -1),
no exceptions (the manager validates its arguments before calling).
"""

from __future__ import annotations

import math

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS

NO_DAY = -1

# Entry verdicts, in the order the controls are checked: the first failing one wins.
OK, HALTED, PAUSED, ALREADY_OPEN, MAX_POSITIONS, DAILY_LOSS_CAP, COOLDOWN, REGIME_CRISIS = range(8)
VERDICTS = ("ok", "halted", "paused", "already_open", "max_positions", "daily_loss_cap", "cooldown",
            "regime_crisis")


def entry_verdict(halted: bool, paused: bool, already_open: bool, n_open: int, max_positions: int,
                  capped: bool, cooling: bool, crisis: bool) -> int:
    """The verdict on a new entry (an index into VERDICTS)."""
    if halted:
        return HALTED
    if paused:
        return PAUSED
    if already_open:
        return ALREADY_OPEN
    if n_open >= max_positions:
        return MAX_POSITIONS
    if capped:
        return DAILY_LOSS_CAP
    if cooling:
        return COOLDOWN
    if crisis:
        return REGIME_CRISIS
    return OK


def roll_day(day_ms: int, start_equity: float, realized: float, last_equity: float,
             now_ms: int) -> tuple[int, float, float]:
    """The day ledger (day, start equity, realized pnl) at now_ms.

    A new UTC day starts from the last equity seen before midnight (NaN if none yet) and no
    realized pnl.
    """
    day = now_ms - now_ms % DAY_MS
    if day != day_ms:
        return day, last_equity, 0.0
    return day_ms, start_equity, realized


def day_start_equity(start_equity: float, equity: float, realized: float) -> float:
    """The start-of-day equity once equity is seen: set once a day, from the first equity seen
    (less what was already realized that day, since equity includes it)."""
    if math.isnan(start_equity):
        return equity - realized
    return start_equity


def loss_capped(realized: float, start_equity: float, daily_loss_limit_pct: float) -> bool:
    """Has the day's realized pnl reached the daily loss cap? Never before a start equity is known."""
    if math.isnan(start_equity) or start_equity <= 0:
        return False
    return realized <= -daily_loss_limit_pct * start_equity


def cooldown_end(now_ms: int, cooldown_minutes: float) -> int:
    """When the cooldown that a stop loss at now_ms starts is over."""
    return now_ms + int(cooldown_minutes * MINUTE_MS)


def position_size(equity: float, price: float, size_factor: float, fixed: bool, notional_usd: float,
                  position_fraction: float, leverage: float) -> float:
    """Size in coins before exchange rounding and the minimum order check (0.0: nothing to trade).

    Notional is equity x position_fraction x leverage (fraction sizing) or notional_usd capped at
    equity x leverage (fixed), times the regime's size factor.
    """
    if equity <= 0 or size_factor == 0:
        return 0.0
    if fixed:
        notional = min(notional_usd, equity * leverage)
    else:
        notional = equity * position_fraction * leverage
    return notional * size_factor / price


def order_too_small(size: float, price: float, min_order_usd: float) -> bool:
    return size <= 0 or size * price < min_order_usd


def stop_price(sign: float, entry_price: float, stop_loss_pct: float) -> float:
    """The stop stop_loss_pct away from the entry, against the position (sign +1 long, -1 short)."""
    return entry_price * (1.0 - sign * stop_loss_pct)


def timeout_ms(position_timeout_hours: float) -> int:
    return int(position_timeout_hours * HOUR_MS)


def maintenance_margin_rate(max_leverage: float) -> float:
    """Hyperliquid's maintenance margin as a fraction of the notional: half the initial margin at the
    asset's maximum leverage (20x -> 2.5 %), for its first margin tier."""
    return 1.0 / (2.0 * max_leverage)


def liquidation_distance(leverage: float, max_leverage: float) -> float:
    """How far the price may move against a position opened at `leverage`, as a fraction of the entry,
    before it is liquidated, when the position's own margin is all it has (isolated; cross margin can
    only lend it more). The exchange's `liq_price = price - side * margin_available / size / (1 - mmr *
    side)` with margin_available = notional * (1/leverage - mmr); the short side is the nearer one."""
    mmr = maintenance_margin_rate(max_leverage)
    return (1.0 / leverage - mmr) / (1.0 + mmr)
