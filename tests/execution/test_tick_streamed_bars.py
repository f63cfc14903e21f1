"""Each tick stores the bars the WebSocket's candle streams proved closed and fetches only the rest
(execution/tick_data.py, data/ws_bars.py): against the simulator on a FakeClock, over many bars with
drops, stalls and ticks that come before the stream, the stored candles equal what REST stores, bit for bit."""

from __future__ import annotations

import sqlite3
import struct
import time
from collections.abc import Callable
from pathlib import Path

from perpbot.cli.compose import build_engine
from perpbot.clock import FakeClock, floor_ms, interval_ms
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.data.ingest import DataIngestor
from perpbot.data.ws_client import WsPriceFeed
from perpbot.sim.server import SimOptions, SimServer

from engine_harness import START_MS, engine_settings

SYMBOLS = ["BTC", "ETH", "SOL"]
STEP = interval_ms("5m")


def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def candle_bits(path: Path) -> list[tuple]:
    """Every stored candle, prices as their IEEE bits (== on floats would let -0.0 pass as 0.0)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT symbol, interval, t, open, high, low, close, volume, n FROM candles "
                            "ORDER BY symbol, interval, t").fetchall()
    return [(*r[:3], *(struct.pack("<d", x) for x in r[3:8]), r[8]) for r in rows]


def forming(feed: WsPriceFeed, symbol: str) -> int | None:
    """The open time of the bar the feed's candle stream shows forming (None: nothing streamed yet)."""
    assert feed._candles is not None
    row = feed._candles[1]._coins[symbol].forming
    return None if row is None else row.t


def streamed(feed: WsPriceFeed, store: Store, now: int) -> bool:
    """The feed can serve every symbol's bars closed by `now`."""
    upto = floor_ms(now, STEP) - STEP
    lasts = {s: store.latest_candle_time(s, "5m") for s in SYMBOLS}
    return all(last is not None and (last >= upto or feed.closed_bars(s, "5m", last, upto) is not None)
               for s, last in lasts.items())


def test_streamed_bars_equal_fetched_ones_through_drops_and_stalls(tmp_path: Path) -> None:
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=5, symbols=SYMBOLS, history_days=1, start_ms=START_MS), port=0, clock=clock) as sim:
        engine = build_engine(engine_settings(sim.url, tmp_path / "ws.db"), clock=clock)
        feed = engine.feed
        assert isinstance(feed, WsPriceFeed)
        store = engine.store
        try:
            now = floor_ms(clock.now_ms(), STEP)
            clock.set(now + 1_000)  # the simulator shows a bar once it has traded
            wait_until(lambda: all(forming(feed, s) == now for s in SYMBOLS), "the forming bars")

            def bar(wait: bool = True) -> None:
                nonlocal now
                now += STEP
                clock.set(now + 1_000)
                if wait:
                    wait_until(lambda: streamed(feed, store, clock.now_ms()), "the stream to prove the bar")
                engine.tick(clock.now_ms())

            def sources() -> tuple[int, int]:
                return engine.data.served["stream"], engine.data.served["fetch"]

            for _ in range(8):
                bar()
            assert sources()[0] >= 8 * len(SYMBOLS)
            assert feed.closed_bars("BTC", "1h", now - 2 * STEP, now - STEP) is None  # only the strategy's timeframe

            # A dropped socket: the new connection has proven nothing (the last closed bar is forgotten),
            # and the candle streams are subscribed again.
            proven = feed.closed_bars("BTC", "5m", now - 2 * STEP, now - STEP)
            assert proven is not None
            assert sim.drop_websockets() >= 1
            wait_until(lambda: feed.reconnects >= 1 and feed.connected, "the reconnect")
            assert feed.closed_bars("BTC", "5m", now - 2 * STEP, now - STEP) is None
            before = sources()
            for _ in range(3):
                bar()
            assert sources()[0] - before[0] >= 3 * len(SYMBOLS) - len(SYMBOLS)  # the first bar may be fetched

            # A stalled socket (open, silent): the prices go stale and every symbol is fetched.
            before = sources()
            sim.faults.ws_stall = True
            for _ in range(3):
                bar(wait=False)
            assert sources() == (before[0], before[1] + 3 * len(SYMBOLS))
            sim.faults.ws_stall = False
            wait_until(lambda: not feed.is_stale(), "fresh prices after the stall")

            for i in range(12):  # every other tick races the push: whatever was not proven is fetched
                bar(wait=i % 2 == 0)
            stream_n, fetch_n = sources()
            assert stream_n > 0 and fetch_n > 0
        finally:
            engine.close()

        # The same bars fetched by REST alone, into a store of their own.
        ws_store, rest_store = Store(tmp_path / "ws.db"), Store(tmp_path / "rest.db")
        with HyperliquidClient(sim.url) as client:
            for symbol in SYMBOLS:
                first = ws_store.first_candle_time(symbol, "5m")
                DataIngestor(client, rest_store, clock).backfill_series(symbol, "5m", first, clock.now_ms())
        ws_store.close()
        rest_store.close()
        streamed_rows, fetched_rows = candle_bits(tmp_path / "ws.db"), candle_bits(tmp_path / "rest.db")
        assert len(streamed_rows) > 30 * len(SYMBOLS)
        assert streamed_rows == fetched_rows
