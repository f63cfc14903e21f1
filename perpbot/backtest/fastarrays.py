"""Provides the numpy passes around a compiled run, compiled: the bars' arrays before it, the equity curve after.

With the loop compiled (fastloop.py: ~5 ms for a year of 1m bars and 20,000 trades), what was left
of a run was numpy around it: the bars' close times, ranges and cumulative funding (~4 ms, three
passes and a cumulative sum), and the equity curve (~8 ms: searches, repeats, a cumulative sum, a
scatter of every (trade, bar) mark; results.build_equity). Here each is one loop over the bars,
with the same floats: every value is the same IEEE operations on the same operands in the same
order as the numpy reference (numba without fastmath neither reorders nor fuses them), sums where
numpy adds left to right included; integers and comparisons are exact in any order. Tests compare
both bit for bit on the parity tests' random runs, several symbols with gaps, and adversarial
trades. results.py and executor.py call these only once `preload` has loaded them (a compiled
run or `preload_compiled` does), so a short command never imports numba for them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from perpbot.execution import fills as _fills
from perpbot.signals.jit import compiled

if TYPE_CHECKING:
    from perpbot.backtest.columns import TradeColumns
    from perpbot.backtest.executor import SymbolSignals
    from perpbot.backtest.market import SymbolFrame

# Set once `preload` has loaded every function (read by `loaded()`; not "imported": true mid-import too).
LOADED = threading.Event()
_jit = compiled(nogil=True, error_model="numpy")  # x / 0 is inf or NaN, as in numpy
funding_per_unit = compiled(nogil=True)(_fills.funding_per_unit)
BIGGEST = np.finfo(np.float64).max  # what np.nan_to_num makes of inf
NO_HINTS = np.empty(0, np.int64)  # searches start where the last one ended


def loaded() -> bool:
    return LOADED.is_set()


# --- before the loop: executor.bar_arrays --------------------------------------------------------

def bar_arrays(frame: "SymbolFrame", interval_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """executor.bar_arrays in one pass, or None where its dtypes are not float64 (numpy's then)."""
    prices = (frame.open, frame.high, frame.low, frame.close, frame.funding)
    if frame.time.dtype != np.int64 or any(a.dtype != np.float64 for a in prices):
        return None
    return _bar_arrays(frame.time, interval_ms, *prices)


@_jit
def _bar_arrays(time, interval_ms, open_, high, low, close, rate):  # pragma: no cover - compiled
    """Close times (open + interval), ranges ((high - low) / close with np.nan_to_num's 0 and +-max) and
    funding per unit held (each bar's rate x open, summed left to right as np.cumsum does)."""
    n = len(time)
    close_time = np.empty(n, np.int64)
    bar_range = np.empty(n)
    funding_cum = np.empty(n)
    paid = 0.0
    for i in range(n):
        close_time[i] = time[i] + interval_ms
        r = (high[i] - low[i]) / close[i]
        if np.isnan(r):
            r = 0.0
        elif np.isinf(r):
            r = BIGGEST if r > 0 else -BIGGEST
        bar_range[i] = r
        per_unit = funding_per_unit(rate[i], open_[i])
        paid = per_unit if i == 0 else paid + per_unit  # cumsum starts from the first value, not 0.0 + it
        funding_cum[i] = paid
    return close_time, bar_range, funding_cum


# --- after the loop: results.build_equity --------------------------------------------------------

def realized(times: np.ndarray, initial: float, cols: "TradeColumns",
             signals: dict[str, "SymbolSignals"]) -> np.ndarray:
    """initial plus results._realized's realized pnl at each close: a new curve."""
    hints = NO_HINTS
    if cols.bars is not None and len(signals) == 1:  # the close at or after an exit: about the bar before it
        lead = next(iter(signals.values())).n - len(times)
        hints = np.maximum(cols.bars[1] - 1 - lead, 0)
    return _realized(times, float(initial), cols.exit_time, cols.pnl, hints)


def add_marks(values: np.ndarray, times: np.ndarray, sig: "SymbolSignals", cols: "TradeColumns",
              mine: np.ndarray | slice) -> None:
    """results._add_marks(values, times, sig.close_time, *results._open_marks(sig, cols, mine)), in place."""
    close_time = sig.close_time
    lead = len(close_time) - len(times)
    own = lead >= 0 and (_same_memory(close_time[lead:], times) or np.array_equal(close_time[lead:], times))
    entry = cols.entry_price[mine]
    ss = cols.sign[mine] * cols.size[mine]
    fee_in = cols.fees[mine] * entry / (entry + cols.exit_price[mine])
    entry_hints, exit_hints = NO_HINTS, NO_HINTS
    if cols.bars is not None:  # the entry bar itself; the close at or after an exit: about the bar before it
        entry_hints, exit_hints = cols.bars[0][mine], np.maximum(cols.bars[1][mine] - 1, 0)
    _add_marks(values, times, own, lead, sig.frame.time, close_time, sig.frame.close, sig.funding_cum,
               cols.entry_time[mine], cols.exit_time[mine], entry, ss, fee_in, entry_hints, exit_hints)


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """The same elements of the same buffer (the usual timeline: a view of the symbol's own closes)."""
    return (a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


@_jit
def _search(a, key, hint):  # pragma: no cover - compiled
    """np.searchsorted(a, key, side="left"), galloping up from `hint` when a[hint - 1] < key (keys in
    order: each search starts where the last ended, a few steps for the trades' nearby bars), else
    over the whole array."""
    n = len(a)
    if hint <= 0 or hint > n or not a[hint - 1] < key:
        lo, hi = 0, n
    else:
        lo, step = hint, 1  # a[lo - 1] < key: the answer is in [lo, n]
        while lo + step <= n and a[lo + step - 1] < key:
            lo += step
            step *= 2
        hi = min(lo + step - 1, n)  # a[hi] >= key, or hi == n
    while lo < hi:  # the answer is in [lo, hi]
        mid = (lo + hi) // 2
        if a[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def _realized(times, initial, exit_time, pnl, hints):  # pragma: no cover - compiled
    """results._realized plus initial: a trade's pnl counts from the first close at or after its exit.
    The reference sums each close's pnls in trade order from 0.0 (bincount), then runs a total over
    the closes in time order (cumsum); so do these, in a stable order of the closes."""
    m, k = len(times), len(exit_time)
    at = np.empty(k, np.int64)
    hint = 0
    ordered = True
    for t in range(k):
        at[t] = hint = _search(times, exit_time[t], hints[t] if len(hints) else hint)
        if t and at[t] < at[t - 1]:
            ordered = False
    order = np.arange(k) if ordered else np.argsort(at, kind="mergesort")
    values = np.empty(m)
    level = 0.0
    i = 0
    t = 0
    while t < k and at[order[t]] < m:
        close = at[order[t]]
        for j in range(i, close):
            values[j] = initial + level
        i = close
        group = 0.0
        while t < k and at[order[t]] == close:
            group += pnl[order[t]]
            t += 1
        level += group
    for j in range(i, m):
        values[j] = initial + level
    return values


@_jit
def _add_marks(values, times, own, lead, time, close_time, close, funding_cum, entry_time, exit_time, entry, ss,
               fee_in, entry_hints, exit_hints):  # pragma: no cover - compiled
    """results._open_marks then _add_marks: each trade marked at the closes from its entry bar to the
    last before its exit, (close - entry) x ss - fee_in - (funding since entry) x ss, added to the
    curve at that close; when trades share a bar or a mark falls off the timeline, the reference
    adds the marks per close from 0.0 first (bincount), and so do these."""
    k = len(entry_time)
    e = np.empty(k, np.int64)
    x = np.empty(k, np.int64)
    he = hx = 0
    marked = False
    distinct = True
    scatter = True  # every mark on the timeline
    for t in range(k):
        e[t] = he = _search(time, entry_time[t], entry_hints[t] if len(entry_hints) else he)
        # the closes strictly before the exit
        x[t] = hx = _search(close_time, exit_time[t], exit_hints[t] if len(exit_hints) else hx)
        if t and e[t] < max(x[t - 1], e[t - 1]):  # the reference's e[t] >= e[t - 1] + length[t - 1]
            distinct = False
        if x[t] > e[t]:
            marked = True
            if own:
                scatter = scatter and e[t] >= lead
            elif scatter:
                scatter = _all_on_timeline(times, close_time, e[t], x[t])
    if not marked:
        return
    if distinct and scatter and own:  # the usual case: one position at a time on the symbol's own closes
        for t in range(k):
            f0 = funding_cum[e[t]]
            for bar in range(e[t], x[t]):
                values[bar - lead] += ((close[bar] - entry[t]) * ss[t] - fee_in[t]) - (funding_cum[bar] - f0) * ss[t]
        return
    sums = values if distinct and scatter else np.zeros(len(times))
    for t in range(k):
        if x[t] <= e[t]:
            continue
        f0 = funding_cum[e[t]]
        g = 0 if own else np.searchsorted(times, close_time[e[t]], side="left")
        for bar in range(e[t], x[t]):
            if own:
                g = bar - lead
                ok = g >= 0
            else:
                while g < len(times) and times[g] < close_time[bar]:
                    g += 1
                ok = g < len(times) and times[g] == close_time[bar]
            if ok:
                sums[g] += ((close[bar] - entry[t]) * ss[t] - fee_in[t]) - (funding_cum[bar] - f0) * ss[t]
    if not (distinct and scatter):
        for j in range(len(times)):
            values[j] += sums[j]


@_jit
def _all_on_timeline(times, close_time, lo, hi):  # pragma: no cover - compiled
    """Are the closes of bars [lo, hi) all on the timeline?"""
    g = np.searchsorted(times, close_time[lo], side="left")
    for bar in range(lo, hi):
        while g < len(times) and times[g] < close_time[bar]:
            g += 1
        if g == len(times) or times[g] != close_time[bar]:
            return False
    return True


def preload() -> None:
    """Load (or compile) every function here for the array types the runs pass."""
    t = np.arange(4, dtype=np.int64) * 60_000
    p = np.array([1.0, 2.0, 1.5, 1.0])
    close_time, _, funding = _bar_arrays(t, 60_000, p, p, p, p, p)
    one = np.zeros(1, np.int64)
    values = _realized(close_time, 1.0, t[2:3], p[:1], NO_HINTS)
    _realized(close_time, 1.0, t[2:3], p[:1], one)
    for hints in (NO_HINTS, one):
        _add_marks(values, close_time, True, 0, t, close_time, p, funding, t[:1], t[2:3], p[:1], p[:1], p[:1], hints,
                   hints)
    LOADED.set()
