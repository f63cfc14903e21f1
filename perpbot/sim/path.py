"""Provides the simulated price path between two times, for firing stops and resting orders.

Each 1m bar's mid moves in straight lines open -> first extreme -> second extreme -> close
(see `SymbolMarket._partial`), so the path over any window is exactly the polyline through
those vertices. The extremes of a straight segment are its ends, which makes "when does the
price first reach P" an index search plus one interpolation.
"""

from __future__ import annotations

import numpy as np

from perpbot.clock import MINUTE_MS
from perpbot.sim.market import SymbolMarket


def path_points(market: SymbolMarket, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(times, prices) of the mid's polyline from start_ms to end_ms, both ends included.

    The ends are the (tick-rounded) mids at start_ms and end_ms; in between come every bar
    vertex strictly inside the window.
    """
    b = market.bars
    i0 = max(0, int(np.searchsorted(b.t, start_ms, side="right")) - 1)
    i1 = int(np.searchsorted(b.t, end_ms, side="right"))
    t = b.t[i0:i1]
    lo, hi, low_first = b.l[i0:i1], b.h[i0:i1], b.low_first[i0:i1]
    x1 = np.where(low_first, lo, hi)
    x2 = np.where(low_first, hi, lo)
    times = np.stack([t, t + (b.f1[i0:i1] * MINUTE_MS).astype(np.int64),
                      t + (b.f2[i0:i1] * MINUTE_MS).astype(np.int64), t + MINUTE_MS], axis=1).ravel()
    prices = np.stack([b.o[i0:i1], x1, x2, b.c[i0:i1]], axis=1).ravel()
    inside = (times > start_ms) & (times < end_ms)
    all_t = np.concatenate([[start_ms], times[inside], [end_ms]]).astype(np.int64)
    all_px = np.concatenate([[market.mid(start_ms)], prices[inside], [market.mid(end_ms)]])
    return all_t, all_px


def first_cross(times: np.ndarray, prices: np.ndarray, level: float, from_above: bool) -> int | None:
    """Like `first_touch`, but the path must first be strictly on the near side of `level` (above it if
    from_above): an order placed with the price already past its fill level (a limit inside the
    spread) waits for the price to come back and cross it, rather than filling at its placement."""
    near = prices > level if from_above else prices < level
    if not near.any():
        return None
    k = int(np.argmax(near))
    return first_touch(times[k:], prices[k:], level, from_above)


def first_touch(times: np.ndarray, prices: np.ndarray, level: float, from_above: bool) -> int | None:
    """The first time the path reaches `level` (coming down to it if from_above), or None.

    A path already at or past the level at its start touches it at the start.
    """
    hit = prices <= level if from_above else prices >= level
    if not hit.any():
        return None
    j = int(np.argmax(hit))
    if j == 0:
        return int(times[0])
    p0, p1 = float(prices[j - 1]), float(prices[j])
    t0, t1 = int(times[j - 1]), int(times[j])
    frac = (level - p0) / (p1 - p0) if p1 != p0 else 1.0
    return t0 + int(round(frac * (t1 - t0)))
