"""Provides the market history a backtest loads: candles (plus warm-up) and funding as numpy frames.

`load_market` reads SQLite once (a year of 1m candles through the column cache, candle_cache.py);
runs, sweeps and walk-forward windows then slice the arrays. A timeframe that is not stored is
resampled from a finer stored one (1m, 5m, 15m, ...). The Store offers it as
`Store.load_market` (market_store.py), which is what the backtest is given (backtest/market.py's
`History`), so the backtest itself never touches SQLite.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from perpbot.clock import HOUR_MS, INTERVAL_MS, floor_ms, interval_ms
from perpbot.data.candle_cache import SeriesSource, load_series, prefetch
from perpbot.data.frames import CandleArrays, MarketData, SymbolFrame, resample
from perpbot.errors import BacktestError


class HistorySource(SeriesSource, Protocol):
    """The store's reads the loader uses (market_store.py's MarketStore)."""

    path: Path

    def candle_symbols(self) -> list[tuple[str, str, int]]: ...

    def load_funding(self, symbol: str, start: int | None = None,
                     end: int | None = None) -> tuple[np.ndarray, np.ndarray]: ...


def load_market(store: HistorySource, symbols: list[str], start_ms: int | None, end_ms: int | None, timeframe: str,
                warmup_bars: int) -> MarketData:
    """Candles (plus `warmup_bars` before start_ms) and funding for `symbols` over [start_ms, end_ms).

    Raises:
        BacktestError: a symbol with no stored candles, or no bars in the range.
    """
    step = interval_ms(timeframe)
    stored = {sym: _stored_intervals(store, sym) for sym in symbols}
    # A first run over several symbols reads their long series side by side into the column cache.
    prefetch(store, [(sym, itv) for sym in symbols if (itv := _source_interval(stored[sym], sym, timeframe, step))])
    frames: dict[str, SymbolFrame] = {}
    lo_all, hi_all = None, None
    for sym in symbols:
        candles = _load_candles(store, stored[sym], sym, timeframe, step, start_ms, end_ms, warmup_bars)
        first = int(np.searchsorted(candles.t, start_ms)) if start_ms is not None else min(warmup_bars, len(candles))
        if first >= len(candles):
            raise _no_bars(sym, timeframe, candles, start_ms, end_ms, warmup_bars)
        frames[sym] = _frame(store, sym, candles, step)
        lo_all = int(candles.t[first]) if lo_all is None else min(lo_all, int(candles.t[first]))
        hi_all = int(candles.t[-1]) + step if hi_all is None else max(hi_all, int(candles.t[-1]) + step)
    assert lo_all is not None and hi_all is not None
    return MarketData(timeframe, step, frames, start_ms if start_ms is not None else lo_all,
                      end_ms if end_ms is not None else hi_all, warmup_bars)


def _load_candles(store: HistorySource, stored: set[tuple[str, str]], sym: str, tf: str, step: int,
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


def _source_interval(stored: set[tuple[str, str]], sym: str, tf: str, step: int) -> str | None:
    """The stored interval `_load_candles` reads for sym at tf, if any."""
    return tf if (sym, tf) in stored else _finest_divisor(stored, sym, step)


def _stored_intervals(store: HistorySource, sym: str) -> set[tuple[str, str]]:
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


def _frame(store: HistorySource, sym: str, c: CandleArrays, step: int) -> SymbolFrame:
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
            # Each bar's rates added in time order from 0.0: np.add.at's sums, ~20x faster for a year's rates
            funding = np.bincount(idx[ok], weights=rates[ok], minlength=len(c))
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


def _cut(c: CandleArrays, lo: int) -> CandleArrays:
    return CandleArrays(c.t[lo:], c.open[lo:], c.high[lo:], c.low[lo:], c.close[lo:], c.volume[lo:])
