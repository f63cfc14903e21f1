"""Provides the simulated fills: where a position's exit happens and at what price.

Everything here is a vectorised search over one symbol's arrays, so the event loop in
engine.py runs Python only at events (an entry decision, a fill, an exit), never per bar.
Rules (issue 5, "Fill semantics"):
* a stop is checked from the entry bar on against the bar's low (long) / high (short) and
  fills at the stop price, or at the bar's open when the open is already beyond it;
* a signal exit or a timeout decided at bar j's close fills at bar j+1's open;
* on a bar where the stop and an exit decision both apply, the stop wins (it is intrabar,
  the decision is at the close); a timeout and a signal exit on one bar: timeout;
* with no exit before the data ends, the position closes at the last close (`end`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perpbot.backtest.market import SymbolFrame
from perpbot.models import Side


@dataclass(frozen=True, slots=True)
class ExitPlan:
    bar: int  # the bar where the exit fills (at its open, intrabar for stops, its close for `end`)
    reason: str  # stop_loss | signal | timeout | end
    price: float  # before slippage


@dataclass(slots=True)
class SymbolSignals:
    """One symbol's precomputed arrays and sorted event indices."""

    frame: SymbolFrame
    close_time: np.ndarray  # bar close (= open + interval), epoch ms
    long_entry: np.ndarray
    short_entry: np.ndarray
    entry_bars: np.ndarray  # sorted indices where either entry holds (from the first tradable bar)
    long_exit_bars: np.ndarray
    short_exit_bars: np.ndarray
    funding_cum: np.ndarray  # see cost_model.funding_per_unit
    bar_range: np.ndarray  # (high - low) / close, for the volatility slippage term
    next_entry: np.ndarray = None  # type: ignore[assignment]  # per bar: the first entry bar >= it (n: none)
    next_long_exit: np.ndarray = None  # type: ignore[assignment]
    next_short_exit: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        # "The first event bar at or after i" for every i: O(1) look-ups at events instead of searches.
        n = len(self.frame)
        self.next_entry = _next_index(self.entry_bars, n)
        self.next_long_exit = _next_index(self.long_exit_bars, n)
        self.next_short_exit = _next_index(self.short_exit_bars, n)

    def first_entry(self, cursor: int, not_before_ms: int | None = None) -> int | None:
        """The first entry bar >= cursor whose close is at or after not_before_ms."""
        if not_before_ms is not None:
            cursor = max(cursor, int(self.close_time.searchsorted(not_before_ms, side="left")))
        if cursor >= len(self.next_entry):
            return None
        k = int(self.next_entry[cursor])
        return k if k < len(self.next_entry) else None

    def entry_holds(self, side: Side, bar: int) -> bool:
        return bool((self.long_entry if side is Side.LONG else self.short_entry)[bar])


def plan_exit(sig: SymbolSignals, side: Side, entry_bar: int, stop: float, timeout_ms: int) -> ExitPlan:
    """Where and why the position opened at `entry_bar`'s open will close."""
    f = sig.frame
    n = len(f)
    signal_bar = int((sig.next_long_exit if side is Side.LONG else sig.next_short_exit)[entry_bar])
    timeout_bar = int(sig.close_time.searchsorted(int(f.time[entry_bar]) + timeout_ms, side="left"))
    decision_bar = min(signal_bar, timeout_bar)
    reason = "timeout" if timeout_bar <= signal_bar else "signal"
    last = min(decision_bar, n - 1)
    stop_bar = _first_stop(f, side, stop, entry_bar, last)
    if stop_bar is not None:
        gapped = f.open[stop_bar] <= stop if side is Side.LONG else f.open[stop_bar] >= stop
        return ExitPlan(stop_bar, "stop_loss", float(f.open[stop_bar]) if gapped else stop)
    if decision_bar < n - 1:
        return ExitPlan(decision_bar + 1, reason, float(f.open[decision_bar + 1]))
    return ExitPlan(n - 1, "end", float(f.close[n - 1]))


def _next_index(bars: np.ndarray, n: int) -> np.ndarray:
    """For every i in [0, n): the first element of sorted `bars` that is >= i, or n."""
    ext = np.r_[bars, n].astype(np.int64)
    return ext[np.searchsorted(bars, np.arange(n), side="left")]


def _first_stop(f: SymbolFrame, side: Side, stop: float, lo: int, hi: int) -> int | None:
    """The first bar in [lo, hi] whose range reaches the stop."""
    if hi < lo:
        return None
    hit = f.low[lo:hi + 1] <= stop if side is Side.LONG else f.high[lo:hi + 1] >= stop
    j = int(np.argmax(hit))
    return lo + j if hit[j] else None
