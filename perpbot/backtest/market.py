"""Provides the backtest's market data: what a run reads, through the store it is given.

The backtest never opens SQLite itself: its entry points take a `History` (data/db.py's Store
implements it, loading through data/history.py), and `load_market` asks it for the frames (numpy
columns, data/frames.py) a run, a sweep or a walk-forward window then slices. Warm-up bars before
the trading range come too, so the first tradable bar already has exact indicator values.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol

from perpbot.clock import interval_ms
from perpbot.config import Settings
from perpbot.data.frames import MarketData, SymbolFrame, resample
from perpbot.errors import BacktestError
from perpbot.models import PredictionSnapshot
from perpbot.signals.engine import required_lookback

__all__ = ["BacktestError", "History", "MarketData", "SymbolFrame", "load_market", "resample"]


class History(Protocol):
    """The stored history a backtest reads (data/db.py's Store)."""

    def load_market(self, symbols: list[str], start_ms: int | None, end_ms: int | None, timeframe: str,
                    warmup_bars: int) -> MarketData:
        """Candles (plus warm-up) and funding per symbol as frames; see data/history.py."""
        ...

    def snapshots_between(self, start: int, end: int) -> list[PredictionSnapshot]:
        """Stored prediction-market snapshots, for replaying the regime."""
        ...


def load_market(settings: Settings, store: History, symbols: list[str], start_ms: int | None, end_ms: int | None,
                timeframe: str | None = None, warmup_bars: int | None = None) -> MarketData:
    """Candles (plus warm-up for the strategy's lookback) and funding for `symbols` over [start_ms, end_ms).

    Raises:
        BacktestError: no symbols, a bad timeframe or range, a symbol with no stored candles, or no bars in
            the range.
    """
    tf = timeframe or settings.strategy.timeframe
    try:
        interval_ms(tf)
    except ValueError as exc:
        raise BacktestError(str(exc), "pass --timeframe with an interval such as 15m or 1h") from None
    if not symbols:
        raise BacktestError("no symbols to backtest", "pass --symbols BTC,ETH or set data.symbols")
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise BacktestError(f"the range is empty: --from {_day(start_ms)} is not before --to {_day(end_ms)}",
                            "swap them, or pick a --to after --from")
    warm = required_lookback(settings.strategy) if warmup_bars is None else warmup_bars
    return store.load_market(symbols, start_ms, end_ms, tf, warm)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
