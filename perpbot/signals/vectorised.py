"""Provides the indicators' numpy path: each core over the validated, finite part of the inputs.

indicators.py validates and then runs one of two paths with the same signatures: this one
(numpy only, nothing to load) or the compiled kernels of kernels.py (numba). Each core writes
its output in place, NaN warm-up included. `bands` performs exactly the floating-point
operations of `kernels.bands` in the same order, so both paths give the same bits; the Wilder
filters and Hurst evaluate the same recursions and sums in another order (~1e-13 apart).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_CHUNK_WINDOWS = 16384  # windows per pass of `bands`: its temporaries stay in cache (16384: ~15% faster than 4096)
_COLUMNS_FROM_BLOCKS = 512  # blocks from which `_window_sums` adds a column at a time (measured crossover)
_SCAN_MAX_BLOCK = 256
_SCAN_MIN_FACTOR = 1e-30  # smallest within-block decay product: keeps inp / product finite


def bands(y: FloatArray, w: int, num_std: float, z: FloatArray, middle: FloatArray, upper: FloatArray,
          lower: FloatArray) -> None:
    """z-score and Bollinger bands, each window on its own (kernels.bands gives the arithmetic).

    Windows are processed side by side (one numpy operation per offset j inside the window),
    so each window sees the same operations in the same order as in the compiled loop. An
    output of length 0 is not wanted and not written.
    """
    for out in (z, middle, upper, lower):
        out[: w - 1] = np.nan
    m = len(y) - w + 1
    inv = 1.0 / w
    for a in range(0, m, _CHUNK_WINDOWS):
        b = min(a + _CHUNK_WINDOWS, m)
        x0 = y[a:b]
        s = np.zeros(b - a)
        q = np.zeros(b - a)
        for j in range(1, w):
            d = y[a + j : b + j] - x0
            s += d
            d *= d
            q += d
        md = s * inv
        std = np.sqrt(np.maximum((q - s * md) * inv, 0.0))
        rows = slice(a + w - 1, b + w - 1)
        if len(middle):
            mid = x0 + md
            middle[rows] = mid
            upper[rows] = mid + num_std * std
            lower[rows] = mid - num_std * std
        if len(z):
            with np.errstate(invalid="ignore", divide="ignore"):
                z[rows] = np.where(std > 0, ((y[rows] - x0) - md) / std, 0.0)


def rsi(y: FloatArray, p: int, out: FloatArray) -> None:
    """Wilder's RSI from bar p on (len(y) > p), NaN before."""
    out[:p] = np.nan
    d = np.diff(y)
    avg_gain, avg_loss = (_wilder_average(np.maximum(s * d, 0.0), p) for s in (1.0, -1.0))
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out[p:] = np.where(total > 0, 100.0 * avg_gain / total, 50.0)


def adx(h: FloatArray, lo: FloatArray, c: FloatArray, p: int, out: FloatArray) -> None:
    """Wilder's ADX from bar 2p - 1 on (len >= 2p), NaN before."""
    out[: 2 * p - 1] = np.nan
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
    out[2 * p - 1] = seed_adx
    out[2 * p :] = _scan(np.where(valid[p:], dx[p:] / p, 0.0), np.where(valid[p:], a, 1.0), seed_adx)


def hurst(y: FloatArray, w: int, lags: NDArray[np.int64], weights: FloatArray, corrections: FloatArray,
          out: FloatArray) -> None:
    """Rolling Hurst exponent from bar w - 1 on (len(y) >= w), NaN before (see indicators.hurst).

    acc = sum over lags of weight * (log m(lag) + correction), each m(lag) a rolling sum of
    squared lag-bar log moves inside the window.
    """
    out[: w - 1] = np.nan
    n = len(y)
    logp = np.log(y)
    acc = np.zeros(n - w + 1, dtype=np.float64)
    zero_somewhere = np.zeros(len(acc), dtype=bool)
    flat = zero_somewhere
    for lag, weight, correction in zip(lags.tolist(), weights.tolist(), corrections.tolist()):
        span = w - lag  # the moves inside a window
        sq = np.empty(-(-n // span) * span, dtype=np.float64)  # whole blocks of _window_sums
        sq[:lag] = 0.0
        moves = sq[lag:n]
        np.subtract(logp[lag:], logp[:-lag], out=moves)
        np.square(moves, out=moves)
        sq[n:] = 0.0
        total = _window_sums(sq, n, span, lag, w)
        low = total <= 0
        if lag == 1:
            flat = low
        zero_somewhere |= low
        with np.errstate(divide="ignore", invalid="ignore"):  # zero sums: handled below
            np.log(total, out=total)
            total += correction
            total *= weight  # (the same products as weight * total)
            acc += total
    h = np.clip(0.5 * acc, 0.0, 1.0)
    h[zero_somewhere] = 0.0
    h[flat] = np.nan
    out[w - 1 :] = h


# --- building blocks ---------------------------------------------------------------------


def _directional(high: FloatArray, low: FloatArray, close: FloatArray) -> tuple[FloatArray, ...]:
    """+DM, -DM and the true range of bars 1..n-1 (TA-Lib's rules, ties give no movement)."""
    up = high[1:] - high[:-1]
    down = low[:-1] - low[1:]
    minus_dm = np.where((down > 0) & (up < down), down, 0.0)
    plus_dm = np.where((up > 0) & (up > down), up, 0.0)
    prev_close = close[:-1]
    # max(max(high - low, |high - prev|), |low - prev|), in place: what np.maximum.reduce of the three
    # does, without stacking them into a copy first
    tr = high[1:] - low[1:]
    gap = high[1:] - prev_close
    np.maximum(tr, np.abs(gap, out=gap), out=tr)
    np.subtract(low[1:], prev_close, out=gap)
    np.maximum(tr, np.abs(gap, out=gap), out=tr)
    return plus_dm, minus_dm, tr


def _wilder_average(x: FloatArray, p: int) -> FloatArray:
    """Mean of x[:p], then avg = (avg * (p - 1) + x) / p: one value per x[p - 1:]."""
    seed = float(x[:p].mean())
    return np.concatenate(([seed], _scan(x[p:] / p, 1.0 - 1.0 / p, seed)))


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
    x = np.empty(rows * block, dtype=np.float64)
    x[:n] = inp
    x[n:] = 0.0
    local = x.reshape(rows, block)
    prod: FloatArray
    if np.ndim(coef) == 0:
        prod = np.broadcast_to(_powers(float(coef), block), (rows, block))
    else:
        c = np.ones(rows * block, dtype=np.float64)
        c[:n] = coef
        prod = np.cumprod(c.reshape(rows, block), axis=1, dtype=np.float64)
    local /= prod  # in place: the same operations as cumsum(x / prod) * prod, fewer temporaries
    np.cumsum(local, axis=1, out=local)
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


def _window_sums(q: FloatArray, n: int, span: int, lag: int, w: int) -> FloatArray:
    """`_rolling_sum(q[:n], span)[w - 1:]` (the sums of the windows ending at bars w - 1 .. n - 1), the
    same additions, with fewer temporaries: q holds whole blocks of `span` (zeros past n), and is
    used up (Hurst's per-lag pass: ~40% of its time went to allocating and copying)."""
    blocks = q.reshape(-1, span)
    suffix = np.empty_like(blocks)
    if len(blocks) >= _COLUMNS_FROM_BLOCKS:
        # The suffix and prefix sums of every block at once, a column at a time: the additions of a cumsum
        # along each block, in its order, but numpy's cumsum adds one element after the other (~3 ns each)
        # where a column adds all blocks' elements side by side (a year of 1m: ~4.3 -> ~2.1 ms per lag).
        suffix[:, -1] = blocks[:, -1]
        for j in range(span - 2, -1, -1):
            np.add(suffix[:, j + 1], blocks[:, j], out=suffix[:, j])
        for j in range(1, span):
            np.add(blocks[:, j - 1], blocks[:, j], out=blocks[:, j])  # the prefix sums, in place
    else:  # a few blocks (the live window's five): a numpy call per column would cost more than it saves
        np.cumsum(blocks[:, ::-1], axis=1, out=suffix[:, ::-1])
        np.cumsum(blocks, axis=1, out=blocks)  # the prefix sums, in place
    blocks[:, -1] = 0.0  # a window ending on a block's last bar is that block's suffix alone
    total = suffix.ravel()[lag : n - span + 1]
    total += q[w - 1 : n]
    return total


def _rolling_sum(q: FloatArray, w: int) -> FloatArray:
    """Sum of each window of w values (NaN before), exact to ~w * eps whatever the history: the
    reference `_window_sums` and kernels.hurst add the same way (tests compare them bit for bit).

    The van Herk / Gil-Werman split: block-local prefix and suffix sums of blocks of length w;
    a window is one block's suffix plus the next block's prefix. Unlike a global cumulative
    sum, the rounding does not grow with the series, so live windows match the backtest.
    """
    n = len(q)
    out = np.full(n, np.nan, dtype=np.float64)
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
