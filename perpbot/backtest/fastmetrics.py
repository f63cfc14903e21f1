"""Provides the equity curve's metrics compiled: the same floats as metrics.py's numpy, in fewer passes.

A sweep's runs each measure a year of 1m closes (525,600): the ratios, the drawdown, its
longest stretch and the daily returns took ~20 numpy passes and ~35 ms a run, more than the
compiled loop itself. Here they take two loops over the curve. The results are bit for bit
metrics.py's: every element-wise operation is the same IEEE operation, minima, maxima and
integers are exact in any order, and the sums restate numpy's own pairwise summation
(`pairwise_sum`: blocks of 128 in eight lanes, halves at multiples of eight), which is what
`ndarray.sum`, `mean` and `std` run on a contiguous float64 array. Curves with a non-finite
value or a non-positive start take the numpy reference instead (the cases its general forms
exist for). metrics.py calls these only once `preload` has loaded them (`LOADED`; the compiled
loops' runs and `preload_compiled` do), so a short command never imports numba for them.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from perpbot.clock import DAY_MS
from perpbot.signals.jit import compiled

BLOCK = 128  # numpy's PW_BLOCKSIZE
SUM, DEV, LOSS = 0, 1, 2  # what pairwise_sum adds up (see _term)
# Set once `preload` has loaded every function (metrics.compiled_metrics reads it; not "imported":
# true mid-import too, while the daemon preloads on a thread).
LOADED = threading.Event()


@compiled(cache=True, inline="always")
def _term(x, mode, mean):  # pragma: no cover - compiled
    """The summed value: x (SUM), its squared deviation from mean (DEV) or its squared loss (LOSS)."""
    if mode == SUM:
        return x
    d = x - mean if mode == DEV else min(x, 0.0)
    return d * d


@compiled(cache=True)
def _block(a, lo, n, mode, mean):  # pragma: no cover - compiled
    """numpy's pairwise_sum of the terms of a[lo:lo + n] for n <= BLOCK (umath/loops_utils.h),
    operation for operation: the terms are what numpy's std and Sortino sum, computed in place
    (the same IEEE operations numpy applies to a whole temporary array first)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += _term(a[i], mode, mean)
        return res
    # numpy's eight lanes, as eight locals (an array here cost an allocation per block: ~1 ms a curve)
    r0, r1, r2, r3 = _term(a[lo], mode, mean), _term(a[lo + 1], mode, mean), _term(a[lo + 2], mode, mean), \
        _term(a[lo + 3], mode, mean)
    r4, r5, r6, r7 = _term(a[lo + 4], mode, mean), _term(a[lo + 5], mode, mean), _term(a[lo + 6], mode, mean), \
        _term(a[lo + 7], mode, mean)
    i = 8
    stop = n - n % 8
    while i < stop:
        j = lo + i
        r0 += _term(a[j], mode, mean)
        r1 += _term(a[j + 1], mode, mean)
        r2 += _term(a[j + 2], mode, mean)
        r3 += _term(a[j + 3], mode, mean)
        r4 += _term(a[j + 4], mode, mean)
        r5 += _term(a[j + 5], mode, mean)
        r6 += _term(a[j + 6], mode, mean)
        r7 += _term(a[j + 7], mode, mean)
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += _term(a[lo + i], mode, mean)
        i += 1
    return res


@compiled(cache=True)
def _split(n):  # pragma: no cover - compiled
    """Where numpy splits a run longer than BLOCK: about half, at a multiple of eight."""
    n2 = n // 2
    return n2 - n2 % 8


@compiled(cache=True)
def pairwise_sum(a, mode=SUM, mean=0.0):  # pragma: no cover - compiled
    """`a.sum()` of a contiguous float64 array, to the last bit (the reduction starts from 0.0).

    numpy recurses, sum(left half) + sum(right half), down to blocks; numba's cache cannot hold a
    recursive function, so the same tree is walked with a stack: a frame's state says which
    half it waits for, and `ret` carries a finished frame's sum to its parent."""
    depth = 64  # halves of a 2**63-element array
    los = np.empty(depth, np.int64)
    ns = np.empty(depth, np.int64)
    states = np.zeros(depth, np.int64)
    lefts = np.empty(depth)
    los[0], ns[0], states[0] = 0, len(a), 0
    sp = 1
    ret = 0.0
    while sp > 0:
        top = sp - 1
        lo, n = los[top], ns[top]
        if n <= BLOCK:
            ret = _block(a, lo, n, mode, mean)
            sp -= 1
            continue
        n2 = _split(n)
        if states[top] == 0:  # the left half first
            states[top] = 1
            los[sp], ns[sp], states[sp] = lo, n2, 0
            sp += 1
        elif states[top] == 1:  # the left half is in ret: now the right
            lefts[top] = ret
            states[top] = 2
            los[sp], ns[sp], states[sp] = lo + n2, n - n2, 0
            sp += 1
        else:
            ret = lefts[top] + ret
            sp -= 1
    return 0.0 + ret


@compiled(cache=True, error_model="numpy")  # x / 0 is inf or NaN, as in numpy
def _curve(times, equity, initial):  # pragma: no cover - compiled
    """(ok, sharpe's mean and sd, sortino's downside root mean square, lowest equity/peak, longest under).

    ok is False when a return is not finite: the caller takes the reference then."""
    n = len(equity)
    rets = np.empty(n)
    prev = initial
    peak = equity[0]
    lowest = 1.0  # the lowest equity / peak (1.0 at a peak)
    under = np.inf  # the lowest equity since the peak
    peak_time = times[0]
    longest = 0
    for i in range(n):
        e = equity[i]
        r = (e - prev) / prev
        if not math.isfinite(r):
            return False, 0.0, 0.0, 0.0, 0.0, 0
        rets[i] = r
        prev = e
        if e >= peak:  # at (or a new) peak: the stretch under the last one ends
            # Division by one positive peak rounds monotonically, so the stretch's lowest ratio is
            # its lowest equity over the peak: one division a stretch instead of one a bar.
            lowest = min(lowest, under / peak)
            peak = e
            peak_time = times[i]
            under = np.inf
        else:
            longest = max(longest, times[i] - peak_time)
            under = min(under, e)
    lowest = min(lowest, under / peak)
    mean = pairwise_sum(rets) / n
    sd = math.sqrt(pairwise_sum(rets, DEV, mean) / (n - 1))
    down = math.sqrt(pairwise_sum(rets, LOSS, 0.0) / n)
    return True, mean, sd, down, lowest, longest


@compiled(cache=True, error_model="numpy")
def daily_returns(times, values, initial):  # pragma: no cover - compiled
    """trials.daily_returns: the return of each UTC day's last close over the one before."""
    n = len(times)
    out = np.empty(n)
    k = 0
    before = initial
    if n == 0:
        return out
    # times[i]'s day, (t - 1) // DAY_MS, and its bounds lo <= t <= hi: a close is compared with them and
    # divided only at a new day (two floor divisions a bar cost ~1 ms a year of 1m).
    day = (times[0] - 1) // DAY_MS
    lo = day * DAY_MS + 1
    hi = lo + (DAY_MS - 1)
    for i in range(n):
        if i + 1 < n:
            t = times[i + 1]
            if lo <= t <= hi:
                continue
            following = (t - 1) // DAY_MS
            if following == day:
                continue
            day = following
            lo = day * DAY_MS + 1
            hi = lo + (DAY_MS - 1)
        close = values[i]
        r = close / before - 1.0 if before > 0 else 0.0
        out[k] = r if math.isfinite(r) else 0.0
        k += 1
        before = close
    return out[:k]


def curve_metrics(times: np.ndarray, equity: np.ndarray, initial: float, per_year: float) -> dict | None:
    """metrics.py's ratios and drawdown of a curve of two or more bars, or None for the reference's cases."""
    if (len(equity) < 2 or not equity[0] > 0 or times.dtype != np.int64 or equity.dtype != np.float64
            or not equity.flags.c_contiguous):
        return None
    ok, mean, sd, down, lowest, longest = _curve(times, equity, float(initial))
    if not ok or math.isnan(lowest):
        return None
    return {"sharpe": mean / sd * per_year if sd > 0 else None,
            "sortino": mean / down * per_year if down > 0 else None,
            "max_drawdown": -(lowest - 1.0), "max_drawdown_duration_ms": int(longest)}


def preload() -> None:
    """Load (or compile) every function here for the array types the runs pass."""
    t = np.arange(3, dtype=np.int64) * DAY_MS
    v = np.array([1.0, 2.0, 1.5])
    curve_metrics(t, v, 1.0, 1.0)
    daily_returns(t, v, 1.0)
    LOADED.set()
