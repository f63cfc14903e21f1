"""Provides the indicators' compiled path: numba loops with the numpy path's signatures.

indicators.py imports this module only when a call takes the compiled path (see
`indicators.preload_compiled`), so importing perp-bot never loads numba. Each kernel takes the
validated, finite part of the inputs and writes its output in place, NaN warm-up included, as
its twin in vectorised.py does. `bands` performs the same floating-point operations as
`vectorised.bands` in the same order (numba keeps IEEE semantics without fastmath: no
reassociation, no fused multiply-add), so the two paths give the same bits; the Wilder filters
run their recursions bar by bar where numpy uses a blocked closed form (~1e-13 apart).

Machine code is cached on disk under the user cache directory (see `perpbot.signals.jit`), so
every install of the same version on a machine shares one compile.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perpbot.signals.jit import CACHE_DIR, compiled  # noqa: F401  (CACHE_DIR: where the code is cached)

FloatArray = NDArray[np.float64]

_CHUNK_WINDOWS = 256  # windows per pass of `bands`: their sums stay in L1 and vectorise
_CHUNK_BARS = 4096  # windows per pass of `hurst`: its buffers stay in L2


def _compile(fn: Callable[..., Any]) -> Any:
    # error_model="numpy": a float division by zero gives inf/NaN as in numpy, with no check per
    # division, so the window loops vectorise (no kernel divides by zero on valid input).
    return compiled(nogil=True, error_model="numpy")(fn)


def _bands(y: FloatArray, w: int, num_std: float, z: FloatArray, middle: FloatArray, upper: FloatArray,
           lower: FloatArray) -> None:
    """z-score and Bollinger bands, each window computed on its own, in this order:

    x0 = the window's first price; d_j = x_j - x0 for j = 1..w-1; s = sum d_j and
    q = sum d_j^2, both left to right; md = s * (1/w); std = sqrt(max((q - s * md) * (1/w), 0));
    middle = x0 + md; upper = middle + num_std * std; lower = middle - num_std * std;
    z = ((x_last - x0) - md) / std, or 0.0 when std is 0. A value depends only on its
    window's prices, so any slice holding the window gives the same bits, and a flat window
    gives d = 0, hence z = 0.0 and middle = the price, exactly. Centring on a price of the
    window bounds the cancellation in q - s * md (see docs/design.md). Windows run side by side
    in chunks: the inner loops go across windows, which vectorises without reordering a sum.
    An output of length 0 is not wanted and not written.
    """
    for out in (z, middle, upper, lower):
        out[: min(w - 1, out.shape[0])] = np.nan
    m = y.shape[0] - w + 1
    inv = 1.0 / w
    s_buf = np.empty(_CHUNK_WINDOWS)
    q_buf = np.empty(_CHUNK_WINDOWS)
    for a in range(0, m, _CHUNK_WINDOWS):
        c = min(_CHUNK_WINDOWS, m - a)
        x0 = y[a : a + c]
        s = s_buf[:c]
        q = q_buf[:c]
        s[:] = 0.0
        q[:] = 0.0
        j = 1
        while j + 4 <= w:  # four offsets per pass over the windows: fewer loads and stores of s, q
            y1, y2, y3, y4 = y[a + j : a + j + c], y[a + j + 1 : a + j + 1 + c], y[a + j + 2 : a + j + 2 + c], \
                y[a + j + 3 : a + j + 3 + c]
            for k in range(c):
                b = x0[k]
                t = s[k]
                t2 = q[k]
                d = y1[k] - b
                t += d
                t2 += d * d
                d = y2[k] - b
                t += d
                t2 += d * d
                d = y3[k] - b
                t += d
                t2 += d * d
                d = y4[k] - b
                t += d
                t2 += d * d
                s[k] = t
                q[k] = t2
            j += 4
        while j < w:
            yj = y[a + j : a + j + c]
            for k in range(c):
                d = yj[k] - x0[k]
                s[k] += d
                q[k] += d * d
            j += 1
        for k in range(c):  # s becomes the mean's offset from x0, q the std
            md = s[k] * inv
            q[k] = math.sqrt(max((q[k] - s[k] * md) * inv, 0.0))
            s[k] = md
        _write_bands(y, w, num_std, a, x0, s, q, z, middle, upper, lower)


def _write_bands(y: FloatArray, w: int, num_std: float, a: int, x0: FloatArray, md: FloatArray, std: FloatArray,
                 z: FloatArray, middle: FloatArray, upper: FloatArray, lower: FloatArray) -> None:
    """One chunk's outputs, one short loop per output (each vectorises)."""
    c = x0.shape[0]
    o = a + w - 1
    if middle.shape[0]:
        mid, up, low = middle[o : o + c], upper[o : o + c], lower[o : o + c]
        for k in range(c):
            mid[k] = x0[k] + md[k]
        for k in range(c):
            up[k] = mid[k] + num_std * std[k]
        for k in range(c):
            low[k] = mid[k] - num_std * std[k]
    if z.shape[0]:
        zo, last = z[o : o + c], y[o : o + c]
        for k in range(c):
            sd = std[k]
            zo[k] = ((last[k] - x0[k]) - md[k]) / sd if sd > 0.0 else 0.0


def _rsi(y: FloatArray, p: int, out: FloatArray) -> None:
    """Wilder's RSI from bar p on (len(y) > p): avg = a * avg + move / p, a = 1 - 1/p."""
    for i in range(p):
        out[i] = np.nan
    gain = 0.0
    loss = 0.0
    for k in range(1, p + 1):
        d = y[k] - y[k - 1]
        gain += max(d, 0.0)
        loss += max(-d, 0.0)
    gain /= p
    loss /= p
    a = 1.0 - 1.0 / p
    inv = 1.0 / p
    total = gain + loss
    out[p] = 100.0 * gain / total if total > 0.0 else 50.0
    for k in range(p + 1, y.shape[0]):
        d = y[k] - y[k - 1]
        gain = a * gain + max(d, 0.0) * inv
        loss = a * loss + max(-d, 0.0) * inv
        total = gain + loss
        out[k] = 100.0 * gain / total if total > 0.0 else 50.0


def _adx(h: FloatArray, lo: FloatArray, c: FloatArray, p: int, out: FloatArray) -> None:
    """Wilder's ADX from bar 2p - 1 on (len >= 2p); see indicators.adx for the rules.

    Conditions are combined with & (no short circuit), so they compile to selects rather
    than branches that a random walk would mispredict half the time.
    """
    n = c.shape[0]
    out[: 2 * p - 1] = np.nan
    a = 1.0 - 1.0 / p
    inv = 1.0 / p
    plus_s = minus_s = tr_s = 0.0
    adx_v = 0.0
    for k in range(1, n):
        up = h[k] - h[k - 1]
        down = lo[k - 1] - lo[k]
        plus = up if (up > 0.0) & (up > down) else 0.0
        minus = down if (down > 0.0) & (up < down) else 0.0
        tr = max(max(h[k] - lo[k], abs(h[k] - c[k - 1])), abs(lo[k] - c[k - 1]))
        if k < p:  # the first p - 1 moves seed the Wilder sums as a plain sum
            plus_s += plus
            minus_s += minus
            tr_s += tr
            continue
        plus_s = a * plus_s + plus
        minus_s = a * minus_s + minus
        tr_s = a * tr_s + tr
        scale = 100.0 / tr_s
        plus_di = plus_s * scale
        minus_di = minus_s * scale
        di_sum = minus_di + plus_di
        valid = (tr_s > 0.0) & (di_sum > 0.0)
        dx = 100.0 * abs(minus_di - plus_di) / di_sum if valid else 0.0
        if k < 2 * p:  # DX of bars p .. 2p - 1: their mean is the first ADX
            adx_v += dx
            if k == 2 * p - 1:
                adx_v /= p
                out[k] = adx_v
            continue
        adx_v = a * adx_v + dx * inv if valid else adx_v  # an undefined DX leaves the ADX as it was
        out[k] = adx_v


def _hurst(y: FloatArray, w: int, lags: NDArray[np.int64], weights: FloatArray, corrections: FloatArray,
           out: FloatArray) -> None:
    """Rolling Hurst exponent from bar w - 1 on (len(y) >= w): vectorised.hurst's estimate.

    The squared moves' rolling sums m(lag) use the same blocks of w - lag moves, counted from
    the first bar, and the same running sums in them as vectorised._rolling_sum, so they are
    the same bits. Windows go in chunks, each chunk computing only the blocks it reads, so
    every buffer stays small and in cache (fresh memory costs more than the arithmetic).
    """
    n = y.shape[0]
    out[: w - 1] = np.nan
    m = n - w + 1
    size = _CHUNK_BARS + 3 * w
    logp = np.empty(size)
    sq = np.empty(size)
    prefix = np.empty(size)
    suffix = np.empty(size)
    totals = np.empty((lags.shape[0], _CHUNK_BARS))
    for c0 in range(0, m, _CHUNK_BARS):
        c = min(_CHUNK_BARS, m - c0)
        r0 = max(0, c0 - w)  # every block a window of this chunk reads lies in [r0, r1)
        r1 = min(n, c0 + c + 2 * w)
        for t in range(r0, r1):
            logp[t - r0] = math.log(y[t])
        for li in range(lags.shape[0]):
            lag = lags[li]
            span = w - lag  # the moves inside a window
            lo = (c0 + lag) // span * span  # the block holding the chunk's first move
            hi = min(n, ((c0 + c + w - 2) // span + 1) * span)  # the end of the last one's block
            for t in range(lo, hi):
                move = logp[t - r0] - logp[t - lag - r0] if t >= lag else 0.0
                sq[t - lo] = move * move
            _block_sums(sq[: hi - lo], span, prefix, suffix)
            row = totals[li]
            for k in range(c):  # window c0 + k: moves c0 + k + lag .. c0 + k + w - 1
                row[k] = suffix[c0 + k + lag - lo] + prefix[c0 + k + w - 1 - lo]
        _hurst_values(totals[:, :c], weights, corrections, out[c0 + w - 1 : c0 + w - 1 + c])


def _hurst_values(totals: FloatArray, weights: FloatArray, corrections: FloatArray, h: FloatArray) -> None:
    """H per window from its sums (row i: lag 2^i): NaN if flat, 0.0 if some lag's moves are all zero.

    The lags are 1, 2, 4, ... (`indicators.hurst_lags`), so the least-squares weights are
    proportional to the integers e_i = 2i - (K - 1), and sum_i weight_i * log m_i is
    factor * log(prod_i m_i^e_i): one log per window instead of K. Where the product would
    leave the normal range (never for sums of real price moves, which lie in [1e-32, 1e10])
    the K logs are taken instead.
    """
    top = totals.shape[0] - 1
    factor = weights[top] / top  # the weight of e_top = top
    offset = 0.0
    for i in range(top + 1):
        offset += weights[i] * corrections[i]
    c = totals.shape[1]
    num = np.ones(c)
    den = np.ones(c)
    smallest = totals[0].copy()
    for i in range(top + 1):
        row = totals[i]
        for k in range(c):
            smallest[k] = min(smallest[k], row[k])
        e = 2 * i - top
        for _ in range(e):
            for k in range(c):
                num[k] *= row[k]
        for _ in range(-e):
            for k in range(c):
                den[k] *= row[k]
    for k in range(c):
        if totals[0, k] <= 0.0:
            h[k] = np.nan
        elif smallest[k] <= 0.0:
            h[k] = 0.0
        else:
            if 1e-290 < num[k] < 1e290 and 1e-290 < den[k] < 1e290:
                log_product = math.log(num[k] / den[k])
            else:
                log_product = 0.0
                for i in range(top + 1):
                    log_product += (2 * i - top) * math.log(totals[i, k])
            h[k] = min(max(0.5 * (factor * log_product + offset), 0.0), 1.0)


def _block_sums(q: FloatArray, span: int, prefix: FloatArray, suffix: FloatArray) -> None:
    """Running sums of q inside blocks of `span` values from the first: forwards into prefix
    (0 on a full block's last value: a window ending there is that block's suffix alone) and
    backwards into suffix; a window of `span` values is suffix[first] + prefix[last]. The two
    runs go in one loop, so their additions overlap."""
    n = q.shape[0]
    for start in range(0, n, span):
        stop = min(start + span, n)
        forward = 0.0
        backward = 0.0
        for j in range(stop - start):
            forward += q[start + j]
            prefix[start + j] = forward
            backward += q[stop - 1 - j]
            suffix[stop - 1 - j] = backward
        if stop - start == span:
            prefix[stop - 1] = 0.0


_write_bands = _compile(_write_bands)
bands = _compile(_bands)
rsi = _compile(_rsi)
adx = _compile(_adx)
_block_sums = _compile(_block_sums)
_hurst_values = _compile(_hurst_values)
hurst = _compile(_hurst)
