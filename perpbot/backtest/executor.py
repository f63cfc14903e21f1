"""Provides the simulated fills: where a position's exit happens and at what price.

Everything here is a vectorised search over one symbol's arrays, so the event loop in
engine.py runs Python only at events (an entry decision, a fill, an exit), never per bar.
Rules (issue 5, "Fill semantics"):
* a stop is checked from the entry bar on against the bar's low (long) / high (short) and
  fills at the stop price, or at the bar's open when the open is already beyond it
  (`perpbot.execution.fills`, the rules paper trading applies to live prices);
* a signal exit or a timeout decided at bar j's close fills at bar j+1's open;
* on a bar where the stop and an exit decision both apply, the stop wins (it is intrabar,
  the decision is at the close); a timeout and a signal exit on one bar: timeout;
* with no exit before the data ends, the position closes at the last close (`end`);
* with `execution.exit_order: maker`, a signal or timeout exit rests as a post-only order from its
  decision bar's close instead (backtest/maker.py), under the stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from perpbot.backtest.cost_model import funding_per_unit
from perpbot.backtest.maker import CANCELLED, END, FILLED, MakerRules, Resting, rest_exit
from perpbot.backtest.market import MarketData, SymbolFrame
from perpbot.backtest.results import compiled_arrays
from perpbot.config import StrategyConfig
from perpbot.execution import fills
from perpbot.models import Side
from perpbot.signals.engine import Indicators, filter_key, filter_masks, signal_arrays

LONG = Side.LONG  # an Enum class attribute look-up is slow on Python 3.11: done once here


class ExitPlan(NamedTuple):  # a tuple: built once per trade, a frozen dataclass costs 4x as much
    bar: int  # the bar where the exit fills (at its open, intrabar for stops and maker fills, its close for `end`)
    reason: str  # stop_loss | signal | timeout | end
    price: float  # before slippage (a maker fill: the limit, no slippage)
    maker: Resting | None = None  # how the resting exit order ended, when exits are maker orders

    @property
    def intrabar(self) -> bool:
        """Does the exit happen inside its bar (a stop, a maker fill) rather than at its open or close?"""
        return self.reason == "stop_loss" or (self.maker is not None and self.maker.outcome == FILLED)


class EventBars:
    """The sorted bars where a signal holds (from the first tradable bar on), and per bar the first of
    them at or after it: the event loop's O(1) look-ups. Built on first use: the compiled one-symbol
    loop scans the booleans instead, and building these took a third of its run (three half-million
    running minima). A sweep shares one per signal between its runs (see `symbol_signals`)."""

    def __init__(self, holds: np.ndarray, other: np.ndarray | None = None, first: int = 0) -> None:
        self.holds, self.other, self.first = holds, other, first  # `other`: a second signal, either counts

    @cached_property
    def bars(self) -> np.ndarray:
        bars = np.flatnonzero(self.holds if self.other is None else self.holds | self.other)
        return bars[bars >= self.first] if self.first else bars

    @cached_property
    def next(self) -> np.ndarray:
        return _next_index(self.bars, len(self.holds))

    def at(self, i: int) -> int:
        """The first event bar at or after i, or len(holds): `next[i]`, found by a search in the sorted
        bars. The event loop asks a few thousand of these a run (~1 us each); building `next` costs a
        half-million running minimum per signal (~8 ms each, nine in a three-symbol run)."""
        bars = self.bars
        k = int(bars.searchsorted(i))
        return bars.item(k) if k < len(bars) else len(self.holds)


@dataclass
class SymbolSignals:
    """One symbol's precomputed arrays and sorted event indices."""

    frame: SymbolFrame
    close_time: np.ndarray  # bar close (= open + interval), epoch ms
    long_entry: np.ndarray
    short_entry: np.ndarray
    long_exit: np.ndarray
    short_exit: np.ndarray
    funding_cum: np.ndarray  # see cost_model.funding_per_unit
    bar_range: np.ndarray  # (high - low) / close, for the volatility slippage term
    first: int = 0  # the first tradable bar (the first open at or after the run's start)
    entries: EventBars = None  # type: ignore[assignment]  # either entry, from `first` on (given by a sweep)
    long_exits: EventBars = None  # type: ignore[assignment]
    short_exits: EventBars = None  # type: ignore[assignment]
    n: int = 0  # bars

    def __post_init__(self) -> None:
        self.n = len(self.frame)
        if self.entries is None:
            self.entries = EventBars(self.long_entry, self.short_entry, self.first)
        if self.long_exits is None:
            self.long_exits = EventBars(self.long_exit)
        if self.short_exits is None:
            self.short_exits = EventBars(self.short_exit)

    # "The first event bar at or after i" for every i: the compiled loops' O(1) look-ups (the event
    # loop searches instead: EventBars.at).
    @property
    def entry_bars(self) -> np.ndarray:
        return self.entries.bars

    @property
    def next_entry(self) -> np.ndarray:
        return self.entries.next

    @property
    def next_long_exit(self) -> np.ndarray:
        return self.long_exits.next

    @property
    def next_short_exit(self) -> np.ndarray:
        return self.short_exits.next

    def first_entry(self, cursor: int, not_before_ms: int | None = None) -> int | None:
        """The first entry bar >= cursor whose close is at or after not_before_ms."""
        if not_before_ms is not None:
            cursor = max(cursor, int(self.close_time.searchsorted(not_before_ms, side="left")))
        if cursor >= self.n:
            return None
        k = self.entries.at(cursor)
        return k if k < self.n else None

    def entry_holds(self, side: Side, bar: int) -> bool:
        return bool((self.long_entry if side is LONG else self.short_entry)[bar])


def symbol_signals(frame: SymbolFrame, ind: Indicators, params: StrategyConfig, data: MarketData,
                   shared: dict | None = None) -> SymbolSignals:
    """One symbol's arrays for a run. `shared` (a sweep's, for runs on the same data and indicators)
    keeps what several runs would compute alike: the bars' close times, ranges and funding, the
    entry filters (per filter parameters), the entries (per entry_z too) and exits (per exit_z),
    with their event bars once a run has built them."""
    cache = shared if shared is not None else {}
    sym = frame.symbol
    base = cache.get(bars_key(sym))
    if base is None:
        base = cache[bars_key(sym)] = bar_base(frame, data)
    close_time, bar_range, funding_cum, first = base
    filters = filter_key(params)
    masks = cache.get(("filters", sym, filters))
    if masks is None:
        masks = cache[("filters", sym, filters)] = filter_masks(ind, frame.close, params)
    entries = cache.get(("entries", sym, filters, params.entry_z))
    exits = cache.get(("exits", sym, params.exit_z))
    if entries is None or exits is None:
        arrays = signal_arrays(ind, frame.close, params, masks)
        entries = (arrays.long_entry, arrays.short_entry, EventBars(arrays.long_entry, arrays.short_entry, first))
        exits = (arrays.long_exit, arrays.short_exit, EventBars(arrays.long_exit), EventBars(arrays.short_exit))
        if shared is not None:
            cache.setdefault(("entries", sym, filters, params.entry_z), entries)
            cache.setdefault(("exits", sym, params.exit_z), exits)
    long_entry, short_entry, entry_bars = entries
    long_exit, short_exit, long_exits, short_exits = exits
    return SymbolSignals(frame, close_time, long_entry, short_entry, long_exit, short_exit, funding_cum, bar_range,
                         first, entry_bars, long_exits, short_exits)


def bars_key(symbol: str) -> tuple[str, str]:
    """Where `symbol_signals`' cache keeps a symbol's `bar_base`."""
    return ("bars", symbol)


def bar_base(frame: SymbolFrame, data: MarketData) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The arrays of a symbol's run that depend on its bars alone: `bar_arrays` and the first tradable bar."""
    return bar_arrays(frame, data.interval_ms) + (int(np.searchsorted(frame.time, data.start_ms, side="left")),)


def bar_arrays(frame: SymbolFrame, interval_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bars' close times, ranges ((high - low) / close, 0 where undefined) and cumulative funding
    (in one compiled pass once numba is loaded: fastarrays.py, the same values)."""
    fast = compiled_arrays()
    arrays = fast.bar_arrays(frame, interval_ms) if fast is not None else None
    if arrays is not None:
        return arrays
    with np.errstate(divide="ignore", invalid="ignore"):
        bar_range = np.subtract(frame.high, frame.low)  # (high - low) / close, in one buffer
        np.divide(bar_range, frame.close, out=bar_range)
    np.nan_to_num(bar_range, copy=False)
    return frame.time + interval_ms, bar_range, funding_per_unit(frame.open, frame.funding)


def plan_exit(sig: SymbolSignals, side: Side, entry_bar: int, stop: float, timeout_ms: int,
              maker: MakerRules | None = None) -> ExitPlan:
    """Where and why the position opened at `entry_bar`'s open will close (with `maker`, signal and timeout
    exits rest as post-only orders: backtest/maker.py)."""
    f = sig.frame
    n = sig.n
    long = side is LONG
    signal_bar = (sig.long_exits if long else sig.short_exits).at(entry_bar)
    decision_bar, reason = signal_bar, "signal"
    deadline = f.time.item(entry_bar) + timeout_ms
    if signal_bar >= n or sig.close_time.item(signal_bar) >= deadline:
        # Only then can the timeout come first; most trades skip this search.
        timeout_bar = int(sig.close_time.searchsorted(deadline, side="left"))
        if timeout_bar <= signal_bar:
            decision_bar, reason = timeout_bar, "timeout"
    stop_bar = _first_stop(f, long, stop, entry_bar, min(decision_bar, n - 1))
    if stop_bar is not None:
        return ExitPlan(stop_bar, "stop_loss", fills.stop_fill(1.0 if long else -1.0, f.open.item(stop_bar), stop))
    if decision_bar < n - 1 and maker is not None:
        return _maker_exit(f, 1.0 if long else -1.0, decision_bar, stop, reason, maker)
    if decision_bar < n - 1:
        return ExitPlan(decision_bar + 1, reason, f.open.item(decision_bar + 1))
    return ExitPlan(n - 1, "end", f.close.item(n - 1))


def _maker_exit(f: SymbolFrame, sign: float, decision_bar: int, stop: float, reason: str,
                maker: MakerRules) -> ExitPlan:
    rest = rest_exit(f.open, f.high, f.low, f.close, sign, decision_bar, stop, maker)
    if rest.outcome == CANCELLED:  # the stop fired while the exit rested
        return ExitPlan(rest.bar, "stop_loss", rest.price, rest)
    return ExitPlan(rest.bar, "end" if rest.outcome == END else reason, rest.price, rest)


def _next_index(bars: np.ndarray, n: int) -> np.ndarray:
    """For every i in [0, n): the first element of sorted `bars` (indices below n) that is >= i, or n."""
    nxt = np.full(n, n, dtype=np.int64)
    nxt[bars] = bars
    # A running minimum from the end: each i sees the nearest bar at or after it. In place on
    # the reversed view (a third less than repeating each bar by its gap, a tenth of searching).
    backwards = nxt[::-1]
    np.minimum.accumulate(backwards, out=backwards)
    return nxt


def _first_stop(f: SymbolFrame, long: bool, stop: float, lo: int, hi: int) -> int | None:
    """The first bar in [lo, hi] whose range reaches the stop."""
    if hi < lo:
        return None
    # Most positions never touch their stop: first rule that out from the window's extreme alone,
    # which is one search instead of a comparison plus a search (a NaN extreme falls through).
    window = f.low[lo:hi + 1] if long else f.high[lo:hi + 1]
    if window[window.argmin()] > stop if long else window[window.argmax()] < stop:
        return None
    hit = fills.stop_touched(1.0 if long else -1.0, window, window, stop)
    j = int(hit.argmax())  # the method: np.argmax's dispatch wrapper costs as much as the search
    return lo + j if hit[j] else None
