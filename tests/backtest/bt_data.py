"""Candle series for backtest tests: generated random walks and hand-built bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perpbot.data.db import Store
from perpbot.models import FundingRate

START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z


def random_walk(n: int, seed: int = 1, start: float = 100.0, vol: float = 0.004, revert: float = 0.02) -> np.ndarray:
    """Closes of a mean-reverting (Ornstein-Uhlenbeck in log space) walk: the strategy's home turf."""
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    level = np.log(start)
    x[0] = level
    shocks = rng.normal(0.0, vol, n)
    for i in range(1, n):
        x[i] = x[i - 1] + revert * (level - x[i - 1]) + shocks[i]
    return np.exp(x)


def insert_walk(store: Store, symbol: str, n: int, interval: str = "15m", step_ms: int = 900_000,
                seed: int = 1, start_ms: int = START_MS, start: float = 100.0, funding: float | None = None) -> np.ndarray:
    """Store n bars built from a random walk (open = previous close); returns the closes."""
    close = random_walk(n, seed, start)
    open_ = np.r_[close[0], close[:-1]]
    rng = np.random.default_rng(seed + 1000)
    wick = np.abs(rng.normal(0.0, 0.001, n)) * close
    high = np.maximum(open_, close) + wick
    low = np.minimum(open_, close) - wick
    t = start_ms + np.arange(n, dtype=np.int64) * step_ms
    rows = [(symbol, interval, int(t[i]), float(open_[i]), float(high[i]), float(low[i]), float(close[i]), 1.0, 1)
            for i in range(n)]
    store.insert_candle_rows(rows)
    if funding is not None:
        hours = range(start_ms, int(t[-1]) + step_ms, 3_600_000)
        store.insert_funding(FundingRate(symbol, h, funding) for h in hours)
    return close


def insert_bars(store: Store, symbol: str, bars: Sequence[tuple[float, float, float, float]], interval: str = "1h",
                step_ms: int = 3_600_000, start_ms: int = START_MS) -> list[int]:
    """Store hand-built (open, high, low, close) bars; returns their open times."""
    times = [start_ms + i * step_ms for i in range(len(bars))]
    store.insert_candle_rows([(symbol, interval, t, o, h, lo, c, 1.0, 1) for t, (o, h, lo, c) in zip(times, bars)])
    return times


def cut_outages(path, symbol: str = "ETH", starts: Sequence[int] = (900, 2100, 2105), bars: int = 40,
                step_ms: int = 900_000) -> None:
    """Delete stretches of `bars` bars from one symbol only (outages), so several symbols' frames do not line up."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        for lo in starts:
            conn.execute("DELETE FROM candles WHERE symbol = ? AND t >= ? AND t < ?",
                         (symbol, START_MS + lo * step_ms, START_MS + (lo + bars) * step_ms))
