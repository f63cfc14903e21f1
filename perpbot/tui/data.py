"""Provides the dashboard's database reads (always read-only; only ever called from worker threads)."""

from __future__ import annotations

import threading
from pathlib import Path

from perpbot.clock import interval_ms
from perpbot.config import StrategyConfig
from perpbot.data.db import Store
from perpbot.models import Trade
from perpbot.tui.chart_data import CHART_BARS, ChartData, build_chart

RECENT_TRADES = 30


class DashboardData:
    """Reads trades and candles for the screens.

    The store is opened read-only: the engine (or the daemon) is the only writer, and a
    dashboard bug must never be able to change trading state. Store connections are
    per thread, so workers on different threads can share this object.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The read-only store; raises StorageError while the database does not exist yet."""
        with self._lock:
            if self._store is None:
                self._store = Store(self.db_path, read_only=True)
            return self._store

    def recent_trades(self, mode: str, limit: int = RECENT_TRADES) -> list[Trade]:
        return self.store.recent_trades(limit=limit, mode=mode)

    def all_trades(self, mode: str) -> list[Trade]:
        """Every closed and open trade of `mode` (reports need the whole history)."""
        return self.store.closed_trades(mode=mode) + self.store.open_trades(mode=mode)

    def chart(self, symbol: str, timeframe: str, strategy: StrategyConfig, mode: str) -> ChartData:
        candles = self.store.latest_candles(symbol, timeframe, CHART_BARS + strategy.window)
        trades: list[Trade] = []
        if len(candles):
            since = int(candles.t[0])
            end = int(candles.t[-1]) + interval_ms(timeframe)
            trades = [t for t in self.store.recent_trades(limit=200, mode=mode)
                      if t.symbol == symbol and t.entry_time < end and (t.exit_time or t.entry_time) >= since]
        return build_chart(symbol, timeframe, candles, trades, strategy)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        with self._lock:
            if self._store is not None:
                self._store.close()
