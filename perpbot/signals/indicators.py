"""Provides the strategy's indicators: pure, vectorised functions over float64 numpy arrays.

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
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Start-up influence left in a Wilder average after `rsi_lookback` / `adx_lookback` bars:
# 1000x below the 1e-9 live-equivalence target, so that still holds when volatility inside
# the lookback falls by up to 1000x (the start-up error is relative to older, larger values).
WILDER_TOLERANCE = 1e-12
HURST_MIN_WINDOW = 10
_CHUNK_ROWS = 4096  # rows of the sliding-window view per pass: temporaries stay in cache
_SCAN_MAX_BLOCK = 256
_SCAN_MIN_FACTOR = 1e-30  # smallest within-block decay product: keeps inp / product finite


# --- validation --------------------------------------------------------------------------


def _series(values: Any, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got shape {arr.shape})")
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


# --- building blocks ---------------------------------------------------------------------


def _scan(inp: FloatArray, coef: float | FloatArray, y0: float) -> FloatArray:
    """Solve y[k] = coef[k] * y[k-1] + inp[k] with y[-1] = y0, vectorised.

    Within blocks of length L the closed form y_j = P_j * (carry + cumsum(inp_i / P_i)),
    P_j = coef_0 * ... * coef_j, is evaluated with numpy; only the carries between blocks go
    through a Python loop (n / L steps). L keeps P >= 1e-30, so inp / P stays finite and the
    cumulative sums stay accurate (relative error ~ L * eps). coef must lie in [0.5, 1].
    """
    n = len(inp)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    low = float(np.min(coef))
    block = _SCAN_MAX_BLOCK if low >= 1.0 else min(_SCAN_MAX_BLOCK, int(math.log(_SCAN_MIN_FACTOR) / math.log(low)))
    rows = -(-n // block)
    x = np.zeros(rows * block, dtype=np.float64)
    x[:n] = inp
    x2 = x.reshape(rows, block)
    prod: FloatArray
    if np.ndim(coef) == 0:
        prod = np.broadcast_to(_powers(float(coef), block), (rows, block))
    else:
        c = np.ones(rows * block, dtype=np.float64)
        c[:n] = coef
        prod = np.cumprod(c.reshape(rows, block), axis=1, dtype=np.float64)
    local = np.cumsum(x2 / prod, axis=1)
    local *= prod
    carries = np.empty(rows, dtype=np.float64)
    carry = y0
    for k, (end, factor) in enumerate(zip(local[:, -1].tolist(), prod[:, -1].tolist())):
        carries[k] = carry
        carry = factor * carry + end
    local += prod * carries[:, None]
    return local.ravel()[:n]


@lru_cache(maxsize=64)
def _powers(coef: float, block: int) -> FloatArray:
    """coef ** 1 .. coef ** block (read-only: cached, since the live loop asks for the same few every tick)."""
    powers = np.asarray(coef ** np.arange(1, block + 1), dtype=np.float64)
    powers.flags.writeable = False
    return powers


def _rolling_sum(q: FloatArray, w: int) -> FloatArray:
    """Sum of each window of w values (NaN before), exact to ~w * eps whatever the history.

    The van Herk / Gil-Werman split: block-local prefix and suffix sums of blocks of length w;
    a window is one block's suffix plus the next block's prefix. Unlike a global cumulative
    sum, the rounding does not grow with the series, so live windows match the backtest.
    """
    n = len(q)
    out = _nan(n)
    if n < w:
        return out
    rows = -(-n // w)
    x = np.zeros(rows * w, dtype=np.float64)
    x[:n] = q
    blocks = x.reshape(rows, w)
    prefix = np.cumsum(blocks, axis=1)
    prefix[:, -1] = 0.0  # a window ending on a block's last bar is that block's suffix alone
    suffix = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1]
    out[w - 1 :] = suffix.ravel()[: n - w + 1] + prefix.ravel()[w - 1 : n]
    return out


def _mean_std(x: FloatArray, w: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rolling mean, population std and close - mean, each window computed on its own.

    Each window is centred on its first value and then reduced in two passes, so a flat
    window gives exactly mean = price and std = 0, and a value depends only on its window
    (identical live and in the backtest). Cost O(n * w), chunked to bound memory.
    """
    n = len(x)
    mean, std, dev = _nan(n), _nan(n), _nan(n)
    if n < w:
        return mean, std, dev
    view = sliding_window_view(x, w)
    averager = np.full(w, 1.0 / w)  # a matrix-vector product beats mean(axis=1) on short rows
    for a in range(0, len(view), _CHUNK_ROWS):
        blk = view[a : a + _CHUNK_ROWS]
        d = blk - blk[:, :1]
        md = d @ averager
        d -= md[:, None]
        rows = slice(w - 1 + a, w - 1 + a + len(blk))
        mean[rows] = blk[:, 0] + md
        std[rows] = np.sqrt(np.einsum("ij,ij->i", d, d) / w)
        dev[rows] = d[:, -1]
    return mean, std, dev


# --- public indicators -------------------------------------------------------------------


def zscore_bands(close: Any, window: int, num_std: float) -> tuple[FloatArray, ...]:
    """(z, middle, upper, lower) from one pass over the windows; see `zscore`, `bollinger`.

    Raises:
        ValueError: as `bollinger`.
    """
    x = _series(close, "close")
    w = _window(window, "window", 2)
    real = isinstance(num_std, (int, float, np.integer, np.floating)) and not isinstance(num_std, bool)
    if not (real and math.isfinite(num_std) and num_std >= 0):
        raise ValueError(f"num_std must be a finite number >= 0 (got {num_std!r})")
    start = _start(("close", x))
    n = len(x)
    z, middle, upper, lower = _nan(n), _nan(n), _nan(n), _nan(n)
    mean, std, dev = _mean_std(x[start:], w)
    with np.errstate(invalid="ignore", divide="ignore"):
        zs = np.where(std > 0, dev / std, 0.0)
    zs[np.isnan(std)] = np.nan
    z[start:] = zs
    middle[start:] = mean
    upper[start:] = mean + num_std * std
    lower[start:] = mean - num_std * std
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
    return zscore_bands(close, window, 0.0)[0]


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
    _, middle, upper, lower = zscore_bands(close, window, num_std)
    return middle, upper, lower


def _wilder_average(x: FloatArray, p: int) -> FloatArray:
    """Mean of x[:p], then avg = (avg * (p - 1) + x) / p: one value per x[p - 1:]."""
    seed = float(x[:p].mean())
    return np.concatenate(([seed], _scan(x[p:] / p, 1.0 - 1.0 / p, seed)))


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
    out = _nan(len(x))
    y = x[start:]
    if len(y) <= p:
        return out
    d = np.diff(y)
    avg_gain, avg_loss = (_wilder_average(np.maximum(s * d, 0.0), p) for s in (1.0, -1.0))
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out[start + p :] = np.where(total > 0, 100.0 * avg_gain / total, 50.0)
    return out


def _directional(high: FloatArray, low: FloatArray, close: FloatArray) -> tuple[FloatArray, ...]:
    """+DM, -DM and the true range of bars 1..n-1 (TA-Lib's rules, ties give no movement)."""
    up = high[1:] - high[:-1]
    down = low[:-1] - low[1:]
    minus_dm = np.where((down > 0) & (up < down), down, 0.0)
    plus_dm = np.where((up > 0) & (up > down), up, 0.0)
    prev_close = close[:-1]
    tr = np.maximum.reduce([high[1:] - low[1:], np.abs(high[1:] - prev_close), np.abs(low[1:] - prev_close)])
    return plus_dm, minus_dm, tr


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
    out = _nan(len(c))
    h, lo, c = h[start:], lo[start:], c[start:]
    if len(c) < 2 * p:
        return out
    a = 1.0 - 1.0 / p
    sums = []
    for move in _directional(h, lo, c):
        seed = float(move[: p - 1].sum())
        sums.append(_scan(move[p - 1 :], a, seed))  # Wilder sums at bars p .. n-1
    plus_s, minus_s, tr_s = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        plus_di = 100.0 * (plus_s / tr_s)
        minus_di = 100.0 * (minus_s / tr_s)
        di_sum = minus_di + plus_di
        valid = (tr_s > 0) & (di_sum > 0)
        dx = np.where(valid, 100.0 * (np.abs(minus_di - plus_di) / di_sum), 0.0)
    seed_adx = float(dx[:p].sum()) / p
    rest = _scan(np.where(valid[p:], dx[p:] / p, 0.0), np.where(valid[p:], a, 1.0), seed_adx)
    out[start + 2 * p - 1] = seed_adx
    out[start + 2 * p :] = rest
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
    logp = np.log(y)
    lags = hurst_lags(w)
    log_lags = np.log(np.asarray(lags, dtype=np.float64))
    centred = log_lags - log_lags.mean()
    weights = centred / np.sum(centred**2)  # least-squares slope = weights . log m(t)
    acc = np.zeros(len(y) - w + 1, dtype=np.float64)
    zero_somewhere = np.zeros(len(acc), dtype=bool)
    flat = zero_somewhere
    for lag, weight in zip(lags, weights.tolist()):
        sq = np.zeros(len(y), dtype=np.float64)
        sq[lag:] = np.square(logp[lag:] - logp[:-lag])
        total = _rolling_sum(sq, w - lag)[w - 1 :]  # the moves that lie inside the window
        if lag == 1:
            flat = total <= 0
        zero_somewhere |= total <= 0
        correction = _small_sample_bias(lag, w - lag) - math.log(w - lag)
        with np.errstate(divide="ignore", invalid="ignore"):  # zero sums: handled below
            acc += weight * (np.log(total) + correction)
    h = np.clip(0.5 * acc, 0.0, 1.0)
    h[zero_somewhere] = 0.0
    h[flat] = np.nan
    out[start + w - 1 :] = h
    return out


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
