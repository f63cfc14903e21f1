"""Provides the strategy's indicators: pure functions over float64 numpy arrays.

Every indicator returns an array as long as its input, NaN during warm-up. Conventions shared
by all of them (tested in tests/signals/test_indicators.py):

* Input is anything `np.asarray(..., dtype=float64)` accepts, one-dimensional; it is never
  modified.
* Leading NaNs are bars that do not exist yet: the output is NaN there and warm-up counts from
  the first finite bar (as TA-Lib does). After that every value must be finite, else
  ValueError names the first bad index; an inf anywhere is a ValueError too.
* Input shorter than the warm-up gives an all-NaN array; an empty input an empty array.
* A window or period below its minimum (so 0 or less too) is a ValueError.

rsi, adx and bollinger give TA-Lib's values (its Wilder seeding and first-output bars); the
two documented differences are the degenerate cases where TA-Lib compares with an absolute
1e-8 ("is zero"), which would make results depend on the price scale: see `rsi` and `adx`.

This module validates; the arithmetic runs on one of two paths with the same results:
vectorised.py (numpy) or kernels.py (compiled with numba, several times faster, but loading
numba costs a fresh process ~0.6 s). See `use_path` for which one a call takes.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perpbot.signals import vectorised

FloatArray = NDArray[np.float64]

# Start-up influence left in a Wilder average after `rsi_lookback` / `adx_lookback` bars:
# 1000x below the 1e-9 live-equivalence target, so that still holds when volatility inside
# the lookback falls by up to 1000x (the start-up error is relative to older, larger values).
WILDER_TOLERANCE = 1e-12
HURST_MIN_WINDOW = 10
# Inputs this long take the compiled path even before numba is loaded: from here one call of
# all five on the numpy path (~0.4 us a bar) costs about what loading numba does (~0.6 s).
COMPILED_FROM_BARS = 1_500_000
PATHS = ("auto", "numpy", "compiled")
_forced_path: ContextVar[str] = ContextVar("indicator_path", default="auto")
# Set once preload_compiled has run every kernel (not "numba in sys.modules": true mid-import too).
_kernels_ready = threading.Event()


# --- which path --------------------------------------------------------------------------


@contextmanager
def use_path(path: str) -> Iterator[None]:
    """Run the indicators called inside this block on one path (tests and benchmarks compare them).

    "auto" (the default) takes the compiled kernels once they are loaded in the process
    (`preload_compiled`: a big backtest, a sweep, the daemon's and dashboard's start) or for inputs of at least
    COMPILED_FROM_BARS bars, else numpy: a process computing a few windows, or even a year of
    1m bars, is done before numba would have loaded. The choice is per context (thread, task).

    Raises:
        ValueError: an unknown path.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)} (got {path!r})")
    token = _forced_path.set(path)
    try:
        yield
    finally:
        _forced_path.reset(token)


def preload_compiled() -> None:
    """Load numba and the kernels now, so every later call takes them (long-lived processes, sweeps):
    ~0.6 s (a new machine compiles once, README). Until it returns, calls keep to numpy."""
    from perpbot.signals import kernels

    y, out = np.linspace(1.0, 2.0, 64), np.empty(64)  # of the types the real calls pass
    kernels.bands(y, 20, 2.0, out, out.copy(), out.copy(), out.copy())
    kernels.rsi(y, 14, out)
    kernels.adx(y, y, y, 14, out)
    kernels.hurst(y, HURST_MIN_WINDOW, *_hurst_plan(HURST_MIN_WINDOW), out)
    _kernels_ready.set()


def _path(bars: int) -> ModuleType:
    """The module whose cores compute an input of `bars` bars (see `use_path`)."""
    forced = _forced_path.get()
    if forced != "numpy" and (forced == "compiled" or _kernels_ready.is_set() or bars >= COMPILED_FROM_BARS):
        from perpbot.signals import kernels

        return kernels
    return vectorised


# --- validation --------------------------------------------------------------------------


def _series(values: Any, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got shape {arr.shape})")
    if not (arr.flags.c_contiguous and arr.flags.writeable):
        arr = arr.copy()  # the kernels are compiled for plain arrays; another layout would compile again
    return arr


def _window(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {number})")
    return number


def _start(*named: tuple[str, FloatArray]) -> int:
    """Index of the first bar where every input is finite; the rest must stay finite."""
    if len({len(arr) for _, arr in named}) > 1:
        sizes = ", ".join(f"{name}={len(arr)}" for name, arr in named)
        raise ValueError(f"inputs must have the same length (got {sizes})")
    if all(math.isfinite(float(np.add.reduce(arr))) for _, arr in named):  # the usual case, in one pass
        return 0  # (a finite sum has no NaN or inf in it; one that overflows takes the checks below)
    finite = np.logical_and.reduce([np.isfinite(arr) for _, arr in named])
    for name, arr in named:
        if np.isinf(arr).any():
            raise ValueError(f"{name} holds an infinite value at index {int(np.argmax(np.isinf(arr)))}")
    if not finite.any():
        return len(finite)
    start = int(np.argmax(finite))
    if not finite[start:].all():
        bad = start + int(np.argmin(finite[start:]))
        raise ValueError(f"NaN at index {bad} after the first valid bar {start}: fill or drop gaps first")
    return start


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


def _output(n: int, start: int) -> FloatArray:
    """An output of n bars whose first `start` (missing) bars are NaN; a core fills the rest."""
    out = np.empty(n, dtype=np.float64)
    out[:start] = np.nan
    return out


# --- public indicators -------------------------------------------------------------------


def zscore_bands(close: Any, window: int, num_std: float) -> tuple[FloatArray, ...]:
    """(z, middle, upper, lower) from one pass over the windows; see `zscore`, `bollinger`.

    Each window is computed on its own, centred on its first price, in a fixed order of
    operations (kernels.bands): a value depends only on its window's prices, so a live window
    gives bit for bit the value the full history gives at that bar, and a flat window gives
    z = 0.0 and three equal bands exactly. Cost O(bars x window); docs/design.md says why.

    Raises:
        ValueError: as `bollinger`.
    """
    return _windows(close, window, num_std, with_z=True, with_bands=True)


def _windows(close: Any, window: int, num_std: float, with_z: bool, with_bands: bool) -> tuple[FloatArray, ...]:
    """(z, middle, upper, lower); an output not asked for is an empty array (never computed)."""
    x = _series(close, "close")
    w = _window(window, "window", 2)
    real = isinstance(num_std, (int, float, np.integer, np.floating)) and not isinstance(num_std, bool)
    if not (real and math.isfinite(num_std) and num_std >= 0):
        raise ValueError(f"num_std must be a finite number >= 0 (got {num_std!r})")
    start = _start(("close", x))
    y = x[start:]
    wanted = (with_z, with_bands, with_bands, with_bands)
    if len(y) < w:
        return tuple(_nan(len(x)) if want else np.empty(0) for want in wanted)
    z, middle, upper, lower = (_output(len(x), start) if want else np.empty(0) for want in wanted)
    _path(len(y)).bands(y, w, float(num_std), z[start:], middle[start:], upper[start:], lower[start:])
    return z, middle, upper, lower


def zscore(close: Any, window: int) -> FloatArray:
    """(close - rolling mean) / rolling population std (ddof=0) over `window` bars.

    A flat window (std exactly 0, the close equals its mean) gives z = 0.0: the price is at
    its mean, so neither entry rule can fire. Warm-up: the first `window - 1` bars are NaN.

    Args:
        close: closing prices.
        window: bars per window, >= 2 (1 would always be flat).

    Returns:
        The z-scores, same length as `close`.

    Raises:
        ValueError: window < 2, or input that breaks the module's NaN rules.
    """
    return _windows(close, window, 0.0, with_z=True, with_bands=False)[0]


def bollinger(close: Any, window: int, num_std: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands as TA-Lib's BBANDS (SMA middle, population std, symmetric width).

    Warm-up: the first `window - 1` bars are NaN. A flat window gives three equal bands.

    Args:
        close: closing prices.
        window: bars per window, >= 2.
        num_std: band half-width in standard deviations, finite and >= 0.

    Returns:
        (middle, upper, lower).

    Raises:
        ValueError: bad window or num_std, or input that breaks the module's NaN rules.
    """
    _, middle, upper, lower = _windows(close, window, num_std, with_z=False, with_bands=True)
    return middle, upper, lower


def rsi(close: Any, period: int = 14) -> FloatArray:
    """Wilder's RSI, the same values as TA-Lib's RSI.

    The first output is at bar `period` (the mean gain and loss of the first `period`
    changes), then Wilder's smoothing avg = (avg * (period - 1) + x) / period.
    While every change so far is exactly zero the RSI is undefined; it reads 50.0 (neutral).
    TA-Lib writes 0.0 whenever avg gain + avg loss < 1e-8, an absolute cutoff that would
    flip very low-priced coins to "oversold"; here only an exact zero counts.

    Args:
        close: closing prices.
        period: smoothing period, >= 2.

    Returns:
        RSI in [0, 100], NaN for the first `period` bars.

    Raises:
        ValueError: period < 2, or input that breaks the module's NaN rules.
    """
    x = _series(close, "close")
    p = _window(period, "period", 2)
    start = _start(("close", x))
    y = x[start:]
    if len(y) <= p:
        return _nan(len(x))
    out = _output(len(x), start)
    _path(len(y)).rsi(y, p, out[start:])
    return out


def adx(high: Any, low: Any, close: Any, period: int = 14) -> FloatArray:
    """Wilder's ADX, the same values as TA-Lib's ADX.

    +DM, -DM and the true range are Wilder sums seeded over bars 1..period-1; DX starts at
    bar `period`; the first ADX (bar 2 * period - 1) is the mean of the first `period` DX,
    then ADX = (ADX * (period - 1) + DX) / period. Where DX is undefined (smoothed true range
    or +DI + -DI exactly zero, i.e. flat prices) the bar adds 0 to the seed and otherwise
    leaves the ADX unchanged, as TA-Lib does; so flat prices read 0.0. TA-Lib's "zero" is
    anything below an absolute 1e-8; here only an exact zero counts, so the scale of prices
    does not matter.

    Args:
        high: bar highs.
        low: bar lows.
        close: bar closes.
        period: smoothing period, >= 2.

    Returns:
        ADX in [0, 100], NaN for the first `2 * period - 1` bars.

    Raises:
        ValueError: period < 2, different lengths, or input that breaks the NaN rules.
    """
    h, lo, c = _series(high, "high"), _series(low, "low"), _series(close, "close")
    p = _window(period, "period", 2)
    start = _start(("high", h), ("low", lo), ("close", c))
    h, lo, c = h[start:], lo[start:], c[start:]
    if len(c) < 2 * p:
        return _nan(len(c) + start)
    out = _output(len(c) + start, start)
    _path(len(c)).adx(h, lo, c, p, out[start:])
    return out


def hurst_lags(window: int) -> list[int]:
    """Lags the Hurst estimator uses for a window: powers of two up to max(2, window // 6)."""
    top = max(2, window // 6)
    return [1 << k for k in range(top.bit_length()) if 1 << k <= top]


@lru_cache(maxsize=256)
def _small_sample_bias(lag: int, count: int) -> float:
    """Half the relative variance of an overlapping mean of `count` squared lag-`lag` moves.

    Under a Gaussian random walk the squared moves are chi-square with autocovariance
    2 * (lag - j)^2 at offset j, so E[log estimate] is about log(truth) - this value. Adding
    it back removes the downward (Jensen) bias that grows with the lag, which would
    otherwise read a random walk as ~0.48 instead of 0.5 at window 100.
    """
    offsets = np.arange(-lag + 1, lag, dtype=np.float64)
    var = np.sum(np.clip(count - np.abs(offsets), 0.0, None) * 2.0 * (lag - np.abs(offsets)) ** 2)
    return 0.5 * float(var) / float(count * lag) ** 2


def hurst(close: Any, window: int = 100) -> FloatArray:
    """Rolling Hurst exponent of log prices, a bias-corrected variance-scaling estimator.

    For each lag t in `hurst_lags(window)` (1, 2, 4, 8, 16 at window 100), m(t) is the mean
    of the squared t-bar log-price moves inside the window; m(t) ~ t^(2H), so H is half the
    least-squares slope of log m(t) on log t, after the random-walk small-sample correction
    of `_small_sample_bias`. A random walk reads ~0.5, a mean-reverting series below, a
    persistent or trending one above (moves are not de-meaned, so drift counts as trend).
    See docs/design.md for why this estimator.

    Defined results: clipped to [0, 1]; a flat window (no price change) is NaN (undefined);
    a window where some lag's moves are all exactly zero (a periodic pattern) reads 0.0.

    Args:
        close: closing prices, > 0 (the estimator works on log prices).
        window: bars per window, >= 10.

    Returns:
        H per bar, NaN for the first `window - 1` bars.

    Raises:
        ValueError: window < 10, a price <= 0, or input that breaks the NaN rules.
    """
    x = _series(close, "close")
    w = _window(window, "window", HURST_MIN_WINDOW)
    start = _start(("close", x))
    out = _nan(len(x))
    y = x[start:]
    if len(y) and (y <= 0).any():
        raise ValueError(f"close must be > 0 for the Hurst exponent (index {start + int(np.argmax(y <= 0))})")
    if len(y) < w:
        return out
    _path(len(y)).hurst(y, w, *_hurst_plan(w), out[start:])
    return out


@lru_cache(maxsize=64)
def _hurst_plan(window: int) -> tuple[NDArray[np.int64], FloatArray, FloatArray]:
    """(lags, least-squares weights, per-lag corrections) for a window; cached, so read-only.

    The slope of log m(t) on log t is weights . log m(t); each lag's correction adds back the
    small-sample bias and turns the window's sum of moves into their mean.
    """
    lags = np.asarray(hurst_lags(window), dtype=np.int64)
    centred = np.log(lags.astype(np.float64)) - np.log(lags.astype(np.float64)).mean()
    weights = centred / np.sum(centred**2)
    corrections = np.asarray([_small_sample_bias(lag, window - lag) - math.log(window - lag) for lag in lags.tolist()])
    for terms in (lags, weights, corrections):
        terms.flags.writeable = False
    return lags, weights, corrections


# --- live equivalence --------------------------------------------------------------------


def _decay_bars(period: int, stages: int) -> int:
    """Bars after seeding until `stages` cascaded Wilder filters forget their start.

    The leftover of a start-up error after k bars is a^k for one filter (a = 1 - 1/period)
    and about (1 + k / (period - 1)) * a^k for two in a row (ADX smooths smoothed values).
    """
    a = 1.0 - 1.0 / period
    k = math.ceil(math.log(WILDER_TOLERANCE) / math.log(a))
    while stages > 1 and (1.0 + k / (period - 1)) * a**k > WILDER_TOLERANCE:
        k += 1
    return k


def rsi_lookback(period: int = 14) -> int:
    """Bars a window needs so its last RSI equals the full-history RSI (388 at period 14).

    Raises:
        ValueError: period < 2.
    """
    p = _window(period, "period", 2)
    return p + 1 + _decay_bars(p, 1)


def adx_lookback(period: int = 14) -> int:
    """Bars a window needs so its last ADX equals the full-history ADX.

    Raises:
        ValueError: period < 2.
    """
    p = _window(period, "period", 2)
    return 2 * p + _decay_bars(p, 2)
