"""Provides market data as numpy columns: candle windows, and the per-symbol frames a backtest runs on.

Pure containers and array operations (no IO): the store fills them (data/market_store.py,
data/history.py), the live window, the chart and the backtest read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["CandleArrays", "MarketData", "SymbolFrame", "resample"]


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """A window of candles as float64 columns (t as int64 epoch ms), oldest first."""

    t: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[float]]) -> "CandleArrays":
        if not rows:
            empty = np.empty(0)
            return cls(np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
        arr = np.asarray(rows, dtype=np.float64)
        return cls(arr[:, 0].astype(np.int64), *(np.ascontiguousarray(arr[:, i]) for i in range(1, 6)))

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {"open": self.open, "high": self.high, "low": self.low, "close": self.close, "volume": self.volume},
            index=pd.to_datetime(self.t, unit="ms", utc=True),
        )


@dataclass(frozen=True)
class SymbolFrame:
    """One symbol's bars, oldest first; `funding[i]` is the hourly rate paid at bar i's open."""

    symbol: str
    time: np.ndarray  # int64 bar open, epoch ms
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    funding: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    def cut(self, lo: int, hi: int) -> "SymbolFrame":
        """Bars [lo, hi) (views, no copy)."""
        return SymbolFrame(self.symbol, self.time[lo:hi], self.open[lo:hi], self.high[lo:hi],
                           self.low[lo:hi], self.close[lo:hi], self.funding[lo:hi])


@dataclass(frozen=True)
class MarketData:
    """What a run needs from the database, loaded once and reusable across runs."""

    timeframe: str
    interval_ms: int
    frames: dict[str, SymbolFrame]
    start_ms: int  # first bar open that may trade (earlier bars are warm-up)
    end_ms: int  # exclusive: bars open before this
    warmup_bars: int
    sz_decimals: dict[str, int] = field(default_factory=dict)  # from the stored meta; price ticks need it

    def sz_decimals_of(self, symbol: str) -> int:
        """szDecimals for a symbol's price ticks; 0 when no meta was stored (the finest grid 5 significant
        figures allow, so an unknown asset is never given a coarser tick than the exchange's)."""
        return self.sz_decimals.get(symbol, 0)

    @property
    def symbols(self) -> list[str]:
        return list(self.frames)

    def slice(self, start_ms: int, end_ms: int) -> "MarketData":
        """A sub-range that keeps `warmup_bars` bars before start_ms for the indicators."""
        frames = {}
        for sym, f in self.frames.items():
            lo = max(0, int(np.searchsorted(f.time, start_ms)) - self.warmup_bars)
            hi = int(np.searchsorted(f.time, end_ms))
            frames[sym] = f.cut(lo, hi)
        return replace(self, frames=frames, start_ms=start_ms, end_ms=end_ms)


def resample(c: CandleArrays, step_ms: int, source_ms: int | None = None) -> CandleArrays:
    """Aggregate bars into step_ms buckets (open first, high max, low min, close last, volume sum).

    With source_ms, a bucket missing any source bar at the edges of the data (a bar still
    forming, or history starting mid-bucket) is dropped rather than passed off as whole.
    """
    if len(c) == 0:
        return c
    bucket = c.t - c.t % step_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(c)] - 1
    if source_ms is not None and len(starts):
        full = step_ms // source_ms
        keep = np.ones(len(starts), dtype=bool)
        keep[[0, -1]] = (ends - starts + 1)[[0, -1]] == full
        if not keep.all():
            lo = 0 if keep[0] else int(ends[0]) + 1
            hi = len(c) if keep[-1] else int(starts[-1])
            return resample(CandleArrays(c.t[lo:hi], c.open[lo:hi], c.high[lo:hi], c.low[lo:hi], c.close[lo:hi],
                                         c.volume[lo:hi]), step_ms)
    return CandleArrays(
        bucket[starts].astype(np.int64), c.open[starts], np.maximum.reduceat(c.high, starts),
        np.minimum.reduceat(c.low, starts), c.close[ends], np.add.reduceat(c.volume, starts),
    )
