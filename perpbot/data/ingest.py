"""Provides market-data ingest: backfill and incremental candle/funding updates into the store.

Every exchange page is committed on its own, so an interruption (Ctrl-C, a crash, a lost
network) leaves the store consistent and the next run fetches only what is still missing.
Only closed bars are stored (close time T < now): a forming bar would freeze a wrong close.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from perpbot.clock import DAY_MS, HOUR_MS, Clock, floor_ms, interval_ms
from perpbot.data.ports import MarketData
from perpbot.data.db import Store
from perpbot.config_values import resolve_symbols
from perpbot.errors import ConfigError
from perpbot.models import AssetMeta

log = logging.getLogger(__name__)

LISTED_KEY = "exchange_symbols"
"""bot_state key: the coin names the exchange listed at its last `meta`, in its spelling."""

FUNDING = "funding"  # the `series` name progress events use for funding history
MAX_GAP_FILLS = 50  # per series and run: an exchange outage must not turn into 1000 requests
FIRST_UPDATE_BARS = 5000  # what `update` fetches for a series with nothing stored yet


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of an ingest task (a symbol's interval, or its funding)."""

    symbol: str
    series: str  # "1m", "15m", ... or "funding"
    done: int  # items stored or received so far in the requested range
    total: int  # items the requested range holds (an estimate for funding)
    new_rows: int
    finished: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class SeriesReport:
    """The state of one symbol x interval after a backfill."""

    symbol: str
    interval: str
    new_rows: int
    total_rows: int
    first_ms: int | None
    last_ms: int | None
    gaps: tuple[tuple[int, int], ...]  # (first missing bar, last missing bar) open times
    requested_start_ms: int
    limited: bool  # the store does not reach back to requested_start_ms (the exchange had no more)

    @property
    def missing_bars(self) -> int:
        step = interval_ms(self.interval)
        return sum((b - a) // step + 1 for a, b in self.gaps)


@dataclass(frozen=True, slots=True)
class FundingReport:
    symbol: str
    new_rows: int
    total_rows: int
    first_ms: int | None
    last_ms: int | None


@dataclass(frozen=True, slots=True)
class BackfillReport:
    candles: tuple[SeriesReport, ...]
    funding: tuple[FundingReport, ...]

    @property
    def new_rows(self) -> int:
        return sum(s.new_rows for s in self.candles) + sum(f.new_rows for f in self.funding)

    @property
    def limited(self) -> tuple[SeriesReport, ...]:
        return tuple(s for s in self.candles if s.limited)


def _silent(_: Progress) -> None:
    return None


class DataIngestor:
    """Fills the store from the exchange.

    Args:
        client: the REST client (its own retries and weight budget apply).
        store: the SQLite store written to.
        clock: decides "now", hence which bars are closed.
    """

    def __init__(self, client: MarketData, store: Store, clock: Clock) -> None:
        self.client = client
        self.store = store
        self.clock = clock

    def check_symbols(self, symbols: list[str]) -> list[AssetMeta]:
        """The exchange's asset list (its `meta`), once it lists every symbol. Names match without
        regard to case, and `symbols` is rewritten in place in the exchange's spelling (KPEPE ->
        kPEPE), so whatever is built from it afterwards asks for the coin the exchange knows; the
        listed names are kept (bot_state `exchange_symbols`) for commands that run offline.

        Raises:
            ConfigError: naming any symbol the exchange does not list.
        """
        metas = self.client.meta()
        listed = [m.name for m in metas]
        symbols[:] = resolve_symbols(symbols, listed)
        if not self.store.read_only:
            self.store.set_state(LISTED_KEY, listed, self.clock.now_ms())
        unknown = [s for s in symbols if s not in listed]
        if unknown:
            raise ConfigError(
                f"the exchange at {self.client.base_url} does not list {', '.join(unknown)}",
                f"use symbols it lists ({', '.join(listed[:12])}{', ...' if len(listed) > 12 else ''}) "
                "in data.symbols or --symbols",
            )
        self.store.save_sz_decimals({m.name: m.sz_decimals for m in metas})
        return metas

    def backfill(
        self,
        symbols: Sequence[str],
        intervals: Sequence[str],
        days: float,
        funding: bool = True,
        progress: ProgressCallback | None = None,
    ) -> BackfillReport:
        """Fetch `days` of history for every symbol x interval (and funding) not yet stored."""
        progress = progress or _silent
        symbols = list(symbols)
        self.check_symbols(symbols)  # now in the exchange's spelling
        now = self.clock.now_ms()  # one "now" for the whole run keeps the series comparable
        start = now - int(days * DAY_MS)
        candles = [self.backfill_series(s, i, start, now, progress) for s in symbols for i in intervals]
        rates = [self.backfill_funding(s, start, now, progress) for s in symbols] if funding else []
        return BackfillReport(tuple(candles), tuple(rates))

    def backfill_series(
        self, symbol: str, interval: str, start_ms: int, now_ms: int, progress: ProgressCallback = _silent
    ) -> SeriesReport:
        """Bring one series to cover [start_ms, now_ms): the missing head, tail and gaps."""
        step = interval_ms(interval)
        start = start_ms + (-start_ms) % step  # the first bar that opens at or after start_ms
        total = max(0, (floor_ms(now_ms, step) - start) // step)
        first = self.store.first_candle_time(symbol, interval)
        last = self.store.latest_candle_time(symbol, interval)
        ranges: list[tuple[int, int]] = []
        if first is None or last is None:
            ranges.append((start, now_ms))
        else:
            if first - step >= start:
                ranges.append((start, first - 1))
            ranges.extend(self.store.candle_gaps(symbol, interval, step, start=start)[:MAX_GAP_FILLS])
            if last + 2 * step <= now_ms:  # the bar after `last` has closed
                ranges.append((last + step, now_ms))
        done = min(total, self.store.count_candles_since(symbol, interval, start))
        new = 0
        progress(Progress(symbol, interval, done, total, new))
        for lo, hi in ranges:
            for rows in self.client.iter_candle_pages(symbol, interval, lo, hi, closed_before_ms=now_ms):
                added = self.store.insert_candle_rows(rows)  # commits: an interruption keeps this page
                new += added
                done = min(total, done + added)
                progress(Progress(symbol, interval, done, total, new))
        report = self.series_report(symbol, interval, start, new)
        progress(Progress(symbol, interval, total, total, new, finished=True))
        if new:
            log.info("candles ingested", extra={"symbol": symbol, "interval": interval, "new_rows": new})
        return report

    def series_report(self, symbol: str, interval: str, start_ms: int, new_rows: int = 0) -> SeriesReport:
        """Rows, bounds and gaps of one series from start_ms on."""
        step = interval_ms(interval)
        first = self.store.first_candle_time(symbol, interval)
        gaps = tuple(self.store.candle_gaps(symbol, interval, step, start=start_ms))
        return SeriesReport(
            symbol=symbol,
            interval=interval,
            new_rows=new_rows,
            total_rows=self.store.count_candles(symbol, interval),
            first_ms=first,
            last_ms=self.store.latest_candle_time(symbol, interval),
            gaps=gaps,
            requested_start_ms=start_ms,
            limited=first is None or first - step >= start_ms,
        )

    def backfill_funding(
        self, symbol: str, start_ms: int, now_ms: int, progress: ProgressCallback = _silent
    ) -> FundingReport:
        """Bring the hourly funding history of one symbol to cover [start_ms, now_ms]."""
        first = self.store.first_funding_time(symbol)
        last = self.store.latest_funding_time(symbol)
        ranges = [(start_ms, now_ms)]
        if first is not None and last is not None:
            ranges = [(start_ms, first - 1)] if first - HOUR_MS >= start_ms else []
            ranges.append((last + 1, now_ms))
        total = max(1, (now_ms - start_ms) // HOUR_MS)
        done = min(total, self.store.count_funding(symbol, start_ms))
        new = 0
        progress(Progress(symbol, FUNDING, done, total, new))
        for lo, hi in ranges:
            if hi < lo:
                continue
            for page in self.client.iter_funding_pages(symbol, lo, hi):
                added = self.store.insert_funding(page)
                new += added
                done = min(total, done + added)
                progress(Progress(symbol, FUNDING, done, total, new))
        progress(Progress(symbol, FUNDING, total, total, new, finished=True))
        return FundingReport(
            symbol=symbol,
            new_rows=new,
            total_rows=self.store.count_funding(symbol),
            first_ms=self.store.first_funding_time(symbol),
            last_ms=self.store.latest_funding_time(symbol),
        )

    # --- incremental -------------------------------------------------------------------

    def update(self, symbol: str, interval: str) -> int:
        """Fetch the bars closed since the latest stored one. Returns the new row count."""
        now = self.clock.now_ms()
        step = interval_ms(interval)
        last = self.store.latest_candle_time(symbol, interval)
        start = last + step if last is not None else floor_ms(now, step) - FIRST_UPDATE_BARS * step
        if start + step > now:
            return 0  # the next bar has not closed yet: nothing to ask for
        new = 0
        for rows in self.client.iter_candle_pages(symbol, interval, start, now, closed_before_ms=now):
            new += self.store.insert_candle_rows(rows)
        return new

    def update_funding(self, symbol: str) -> int:
        """Fetch funding rates newer than the latest stored one. Returns the new row count."""
        now = self.clock.now_ms()
        last = self.store.latest_funding_time(symbol)
        start = last + 1 if last is not None else now - 7 * DAY_MS
        return sum(self.store.insert_funding(page) for page in self.client.iter_funding_pages(symbol, start, now))

    def update_all(self, symbols: Sequence[str], intervals: Sequence[str], funding: bool = True) -> dict[str, int]:
        """Incremental update of every series; returns new rows per "SYMBOL interval" key."""
        out = {f"{s} {i}": self.update(s, i) for s in symbols for i in intervals}
        if funding:
            out.update({f"{s} {FUNDING}": self.update_funding(s) for s in symbols})
        return out
