"""Provides each tick's data: the bars that closed (and, hourly, funding) fetched, then each symbol's values.

With a feed that streams bars (data/ports.py `BarStream`: the WebSocket feed's candle streams), the
bars it proved closed are stored for every symbol it can serve, in one transaction, and only the
other symbols are fetched (data/ws_bars.py says when a streamed bar counts as closed). Symbols are
fetched in parallel (the requests are network-bound; each thread has its own SQLite connection), so a tick's latency does not grow with the symbol count; a symbol's window needs only
its own candles, so its indicators run as soon as its fetch is stored, while the other symbols still
wait on the exchange. A failed fetch only warns: the tick goes on with what is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from perpbot.clock import HOUR_MS, floor_ms, interval_ms
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.data.ingest import DataIngestor
from perpbot.data.ports import BarStream
from perpbot.data.records import CandleRow
from perpbot.errors import ExchangeError, StorageError
from perpbot.execution.engine_parts import StorageFault, WindowCache, closed_window
from perpbot.signals.engine import BarValues

log = logging.getLogger(__name__)

FUNDING_GRACE_MS = 60_000  # funding times carry jitter past the hour (up to seconds, rarely minutes)


class TickData:
    """Ingests into the store and reads each symbol's decision values, on a small thread pool.

    Args:
        ingestor: fetches from the exchange; None trades on what is stored (nothing is fetched).
        lookback: closed bars a decision needs (signals.engine.required_lookback).
        storage: the engine's storage-fault hold (a failed write holds entries).
        emit: the engine's event hook wrapper, `emit(event, **fields)`.
        bars: the feed's closed bars, when it streams them; each tick fetches only what it cannot serve.
    """

    def __init__(self, settings: Settings, store: Store, ingestor: DataIngestor | None, lookback: int,
                 storage: StorageFault, emit: Callable[..., None], bars: BarStream | None = None) -> None:
        self.settings, self.store, self.ingestor, self.lookback = settings, store, ingestor, lookback
        self.storage, self.emit, self.bars = storage, emit, bars
        self.served = {"stream": 0, "fetch": 0}  # symbol-ticks whose new bars came from the feed or a fetch
        self.symbols = list(settings.data.symbols)
        self.timeframe = settings.strategy.timeframe
        self.step_ms = interval_ms(self.timeframe)
        self.windows = WindowCache(store, self.timeframe, lookback)
        self._next_funding_ms = 0
        # A thread per symbol (up to 16): a second wave of requests would double the tick's latency.
        self._pool = ThreadPoolExecutor(max_workers=min(16, max(1, len(self.symbols))), thread_name_prefix="ingest")

    def ingest(self, now: int) -> None:
        """Store the bars closed (and funding paid) since the last update."""
        if self.ingestor is None:
            return
        funding_due = now >= self._next_funding_ms
        results = list(self._pool.map(lambda s: self._ingest_symbol(s, funding_due), self.symbols))
        self._note_funding(now, funding_due, results)

    def ingest_and_load(self, now: int, boundary: int) -> dict[str, BarValues | None]:
        """ingest(), then each symbol's decision values on the bar that closed at `boundary`, in one pool
        task per symbol."""
        funding_due = self.ingestor is not None and now >= self._next_funding_ms
        streamed = self._store_streamed(now) if self.ingestor is not None else set()

        def one(symbol: str) -> tuple[bool, BarValues | None]:
            fetched = True
            if self.ingestor is not None:
                fetched = self._ingest_symbol(symbol, funding_due, candles=symbol not in streamed)
            return fetched, closed_window(self.store, self.settings, symbol, boundary, self.step_ms, self.lookback,
                                          self.windows)

        results = list(self._pool.map(one, self.symbols))
        self._note_funding(now, funding_due, [fetched for fetched, _ in results])
        return {symbol: values for symbol, (_, values) in zip(self.symbols, results)}

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _note_funding(self, now: int, due: bool, fetched: list[bool]) -> None:
        if due and all(fetched):
            # The hour's rate is published a few ms to seconds after the hour: ask a minute past it.
            self._next_funding_ms = floor_ms(now, HOUR_MS) + HOUR_MS + FUNDING_GRACE_MS

    def _store_streamed(self, now: int) -> set[str]:
        """Store the closed bars the feed holds, in one transaction; the symbols that need no fetch."""
        if self.bars is None:
            return set()
        rows: list[CandleRow] = []
        done: set[str] = set()
        try:
            for symbol in self.symbols:
                got = self._streamed(symbol, now)
                if got is not None:
                    rows += got
                    done.add(symbol)
            self.store.insert_candle_rows(rows)
        except StorageError as exc:
            self.storage.failed(exc)
            return set()  # the fetches try again (and meet the same fault, as before streaming)
        self.served["stream"] += len({row[0] for row in rows})
        self.served["fetch"] += len(self.symbols) - len(done)
        return done

    def _streamed(self, symbol: str, now: int) -> list[CandleRow] | None:
        """The bars closed since `symbol`'s latest stored one, from the feed ([] if none closed); None: fetch."""
        assert self.bars is not None
        upto = floor_ms(now, self.step_ms) - self.step_ms  # the newest bar whose close time (t + step - 1) < now
        last = self.store.latest_candle_time(symbol, self.timeframe)
        if last is None:
            return None  # nothing stored yet: the fetch brings the history
        if last >= upto:
            return []  # nothing closed since (the fetch would ask nothing either)
        got = self.bars.closed_bars(symbol, self.timeframe, last, upto)
        if not got:
            log.debug("bars_fetched_instead", extra={"symbol": symbol, "after": last, "upto": upto})
            return None
        return got

    def _ingest_symbol(self, symbol: str, funding: bool, candles: bool = True) -> bool:
        assert self.ingestor is not None
        try:
            if candles:
                self.ingestor.update(symbol, self.timeframe)
            if funding:
                self.ingestor.update_funding(symbol)
        except ExchangeError as exc:
            log.warning("ingest_failed", extra={"symbol": symbol, "error": str(exc)})
            self.emit("error", text=f"{symbol} candles not updated: {exc.message}", symbol=symbol)
            return False
        except StorageError as exc:  # the tick goes on (timeouts, exits on stored bars); entries are held
            self.storage.failed(exc)
            return False
        return True
