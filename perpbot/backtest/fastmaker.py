"""Provides the compiled loops' maker orders: backtest/maker.py's two walks, compiled for fastloop.py
and fastaccount.py.

The walks are restated here over arrays (the Python ones read each order's few bars as Python
floats, which numba cannot), outcome for outcome and in the same order of checks; the fill rules
are not restated: `perpbot.execution.fills` is compiled as it is. The parity tests run both loops
with maker orders and compare trades, counts and equity bit for bit.
"""

from __future__ import annotations

import numpy as np

from perpbot.execution import fills as _fills
from perpbot.signals.jit import compiled

FILLED, TAKER, CANCELLED, EXPIRED, END = 0, 1, 2, 3, 4  # backtest/maker.py's outcomes, as codes
NONE = -1  # no maker order
OUTCOMES = ("filled", "taker", "cancelled", "expired", "end")
# The counts array: placed, filled, cancelled, expired, reprices, then placed and filled by kind.
PLACED, FILLS, CANCELS, EXPIRIES, REPRICES, ENTRY_PLACED, ENTRY_FILLED, EXIT_PLACED, EXIT_FILLED = range(9)

_jit = compiled(nogil=True)  # signals/jit.py's cache: stamped with the rules' sources too
maker_quote, maker_filled, maker_fee, stop_touched, stop_fill = (_jit(f) for f in (
    _fills.maker_quote, _fills.maker_filled, _fills.maker_fee, _fills.stop_touched, _fills.stop_fill))


@_jit
def rest_entry(open_, high, low, close, holds, sign, k, fill_ticks, timeout_bars, fallback_taker, sz_decimals):
    """maker.rest_entry: (outcome, bar, price, reprices) of a post-only entry placed at bar k's close."""
    n = len(close)
    hi = min(n, k + timeout_bars + 2)
    limit, tick = maker_quote(sign, close[k], sz_decimals)
    for i in range(1, hi - k):
        j = k + i
        if maker_filled(sign, low[j], high[j], limit, tick, fill_ticks):
            return FILLED, j, limit, i - 1
        if not holds[j]:
            return CANCELLED, j, limit, i - 1
        if i == timeout_bars:
            if fallback_taker and j + 1 < n:
                return TAKER, j + 1, open_[j + 1], i - 1
            return EXPIRED, j, limit, i - 1
        limit, tick = maker_quote(sign, close[j], sz_decimals)
    return END, n - 1, close[n - 1], max(0, n - k - 2)


@_jit
def rest_exit(open_, high, low, close, sign, d, stop, fill_ticks, timeout_bars, sz_decimals):
    """maker.rest_exit: (outcome, bar, price, reprices) of a post-only exit placed at bar d's close."""
    n = len(close)
    hi = min(n, d + timeout_bars + 2)
    limit, tick = maker_quote(-sign, close[d], sz_decimals)
    for i in range(1, hi - d):
        j = d + i
        if stop_touched(sign, low[j], high[j], stop):
            return CANCELLED, j, stop_fill(sign, open_[j], stop), i - 1
        if maker_filled(-sign, low[j], high[j], limit, tick, fill_ticks):
            return FILLED, j, limit, i - 1
        if i == timeout_bars and j + 1 < n:
            return TAKER, j + 1, open_[j + 1], i - 1
        limit, tick = maker_quote(-sign, close[j], sz_decimals)
    return END, n - 1, close[n - 1], max(0, n - d - 2)


@_jit
def count(counts, exit_order, outcome, reprices):
    """MakerCounts.count on the counts array."""
    counts[PLACED] += 1
    counts[REPRICES] += reprices
    counts[EXIT_PLACED if exit_order else ENTRY_PLACED] += 1
    if outcome == FILLED:
        counts[FILLS] += 1
        counts[EXIT_FILLED if exit_order else ENTRY_FILLED] += 1
    elif outcome == CANCELLED or outcome == END:
        counts[CANCELS] += 1
    else:
        counts[EXPIRIES] += 1


def report(counts: np.ndarray, fees: np.ndarray) -> dict:
    """The metrics' maker entries (as engine.py's MakerLoop.maker_report) from the loop's arrays."""
    from perpbot.backtest.maker import MakerCounts

    c = counts.tolist()
    made = MakerCounts(c[PLACED], c[FILLS], c[CANCELS], c[EXPIRIES], c[REPRICES],
                       {"entry": [c[ENTRY_PLACED], c[ENTRY_FILLED]], "exit": [c[EXIT_PLACED], c[EXIT_FILLED]]})
    return {"maker_orders": made.report(), "fees_maker": float(fees[0]), "fees_taker": float(fees[1])}
