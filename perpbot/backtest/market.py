"""Provides the backtest's market data: candles and funding per symbol as numpy columns.

`load_market` reads SQLite once; runs, sweeps and walk-forward windows then slice the arrays.
A timeframe that is not stored is resampled from a finer stored one (1m, 5m, 15m, ...). Warm-up bars before the
trading range are loaded too, so the first tradable bar already has exact indicator values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np

from perpbot.clock import HOUR_MS, INTERVAL_MS, floor_ms, interval_ms
from perpbot.config import Settings
from perpbot.data.candle_cache import load_series
from perpbot.data.db import CandleArrays, Store
from perpbot.errors import StrategyError
from perpbot.signals.engine import required_lookback

__all__ = ["BacktestError", "MarketData", "SymbolFrame", "load_market", "resample"]


class BacktestError(StrategyError):
    """A backtest cannot run as asked: no data, unknown symbol, bad range."""


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


def load_market(settings: Settings, store: Store, symbols: list[str], start_ms: int | None, end_ms: int | None,
                timeframe: str | None = None, warmup_bars: int | None = None) -> MarketData:
    """Candles (plus warm-up) and funding for `symbols` over [start_ms, end_ms).

    Raises:
        BacktestError: no symbols, a symbol with no stored candles, or no bars in the range.
    """
    tf = timeframe or settings.strategy.timeframe
    try:
        step = interval_ms(tf)
    except ValueError as exc:
        raise BacktestError(str(exc), "pass --timeframe with an interval such as 15m or 1h") from None
    if not symbols:
        raise BacktestError("no symbols to backtest", "pass --symbols BTC,ETH or set data.symbols")
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise BacktestError(f"the range is empty: --from {_day(start_ms)} is not before --to {_day(end_ms)}",
                            "swap them, or pick a --to after --from")
    warm = required_lookback(settings.strategy) if warmup_bars is None else warmup_bars
    frames: dict[str, SymbolFrame] = {}
    lo_all, hi_all = None, None
    for sym in symbols:
        candles = _load_candles(store, _stored_intervals(store, sym), sym, tf, step, start_ms, end_ms, warm)
        first = int(np.searchsorted(candles.t, start_ms)) if start_ms is not None else min(warm, len(candles))
        if first >= len(candles):
            raise _no_bars(sym, tf, candles, start_ms, end_ms, warm)
        frames[sym] = _frame(store, sym, candles, step)
        lo_all = int(candles.t[first]) if lo_all is None else min(lo_all, int(candles.t[first]))
        hi_all = int(candles.t[-1]) + step if hi_all is None else max(hi_all, int(candles.t[-1]) + step)
    assert lo_all is not None and hi_all is not None
    return MarketData(tf, step, frames, start_ms if start_ms is not None else lo_all,
                      end_ms if end_ms is not None else hi_all, warm)


def _load_candles(store: Store, stored: set[tuple[str, str]], sym: str, tf: str, step: int,
                  start_ms: int | None, end_ms: int | None, warm: int) -> CandleArrays:
    if (sym, tf) in stored:
        series = load_series(store, sym, tf, None, end_ms)
        first = 0 if start_ms is None else max(0, int(np.searchsorted(series.t, start_ms)) - warm)
        return _cut(series, first)
    finer = _finest_divisor(stored, sym, step)
    if finer is not None:
        # Resample from a finer stored interval (1m first): warm-up in whole target bars.
        lo = None if start_ms is None else floor_ms(start_ms, step) - warm * step
        hi = None if end_ms is None else floor_ms(end_ms + step - 1, step)
        return resample(load_series(store, sym, finer, lo, hi), step, interval_ms(finer))
    if not stored:
        known = sorted({s for s, _, _ in store.candle_symbols()})
        raise BacktestError(f"unknown symbol {sym!r}: no candles stored for it",
                            f"stored symbols: {', '.join(known) or 'none'}; run `perpbot backfill --symbols {sym}`")
    raise BacktestError(f"{sym} has no {tf} candles and no 1m candles to resample from",
                        f"run `perpbot backfill --symbols {sym} --timeframes {tf}`")


def _stored_intervals(store: Store, sym: str) -> set[tuple[str, str]]:
    """(sym, interval) pairs with at least one stored bar: one index seek per known interval."""
    found = set()
    for itv in INTERVAL_MS:
        if store.conn.execute("SELECT 1 FROM candles WHERE symbol=? AND interval=? LIMIT 1", (sym, itv)).fetchone():
            found.add((sym, itv))
    return found


def _finest_divisor(stored: set[tuple[str, str]], sym: str, step: int) -> str | None:
    """The coarsest stored interval of sym that divides step (fewest rows to aggregate)."""
    best: tuple[int, str] | None = None
    for s, itv in stored:
        try:
            ms = interval_ms(itv)
        except ValueError:
            continue
        if s == sym and ms < step and step % ms == 0 and (best is None or ms > best[0]):
            best = (ms, itv)
    return best[1] if best else None


def _cut(c: CandleArrays, lo: int) -> CandleArrays:
    return CandleArrays(c.t[lo:], c.open[lo:], c.high[lo:], c.low[lo:], c.close[lo:], c.volume[lo:])


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


def _frame(store: Store, sym: str, c: CandleArrays, step: int) -> SymbolFrame:
    """Attach funding: each stored hourly rate lands on the bar containing its time.

    For timeframes up to 1h that is the bar opening at the funding time; for longer bars the
    rates inside a bar add up and are charged at its open (documented in docs/design.md).
    """
    funding = np.zeros(len(c))
    if len(c):
        ft, rates = store.load_funding(sym, int(c.t[0]), int(c.t[-1]) + step)
        if len(ft):
            # Funding times can carry a few ms of jitter past the hour: snap to the hour first.
            hours = (ft + HOUR_MS // 2) // HOUR_MS * HOUR_MS
            idx = np.searchsorted(c.t, hours, side="right") - 1
            ok = (idx >= 0) & (hours < c.t[np.maximum(idx, 0)] + step)
            np.add.at(funding, idx[ok], rates[ok])
    return SymbolFrame(sym, c.t, c.open, c.high, c.low, c.close, funding)


def _no_bars(sym: str, tf: str, candles: CandleArrays, start_ms: int | None, end_ms: int | None,
             warm: int) -> BacktestError:
    """Why no bar is left to trade, in the terms of what went wrong (not always a missing backfill)."""
    if len(candles) and start_ms is None:
        return BacktestError(
            f"{sym} has {len(candles)} {tf} bars up to {_day(end_ms, 'now')} ({_day(int(candles.t[0]))} to "
            f"{_day(int(candles.t[-1]))}), all used up by the strategy's warm-up of {warm} bars",
            f"backfill more history (`perpbot backfill --symbols {sym} --days N`), or shorten strategy.window, "
            "hurst_window, rsi_period or adx_period")
    if len(candles) and start_ms is not None and start_ms > int(candles.t[-1]):
        return BacktestError(f"{sym}'s stored {tf} candles end {_day(int(candles.t[-1]))}, before --from "
                             f"{_day(start_ms)}", f"pick an earlier --from, or `perpbot backfill --symbols {sym}`")
    return BacktestError(f"{sym} has no {tf} candles between {_day(start_ms, 'the start')} and "
                         f"{_day(end_ms, 'the end')}",
                         f"run `perpbot backfill --symbols {sym}` or pick dates inside the stored data")


def _day(ms: int | None, missing: str = "the open end") -> str:
    if ms is None:
        return missing
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
