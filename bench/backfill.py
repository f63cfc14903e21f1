"""Provides the backfill benchmark: a year of 1m candles from the simulator into a fresh DB.

Prints candles/s and the total time (target <= 15 s), the median time to load the latest
1,000-candle window (target <= 5 ms) and to apply one incremental update (target <= 25 ms).
Run: python bench/backfill.py [--days 365]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from perpbot.clock import FakeClock, floor_ms
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.data.ingest import DataIngestor
from perpbot.sim.server import SimOptions, SimServer

TARGET_TOTAL_S = 15.0
TARGET_WINDOW_MS = 5.0
TARGET_UPDATE_MS = 25.0


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER TARGET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of 1m history to backfill")
    parser.add_argument("--window-runs", type=int, default=500)
    parser.add_argument("--update-runs", type=int, default=50)
    args = parser.parse_args()

    t_start = time.perf_counter()
    opts = SimOptions(seed=1, symbols=["BTC"], history_days=args.days + 1, candle_limit=0)
    with SimServer(opts, host="127.0.0.1", port=0) as sim, tempfile.TemporaryDirectory() as tmp:
        t_ready = time.perf_counter()
        print(f"simulator ready in {t_ready - t_start:.2f} s ({args.days + 1} days of history)")
        store = Store(Path(tmp) / "bench.db")
        # The ingestor's "now" is the exchange's clock, frozen so every figure measures the same range.
        clock = FakeClock(sim.now_ms())
        client = HyperliquidClient(sim.url, timeout_s=60, weight_per_minute=10**9, clock=clock)
        ingestor = DataIngestor(client, store, clock)

        t0 = time.perf_counter()
        report = ingestor.backfill(["BTC"], ["1m"], days=args.days, funding=False)
        backfill_s = time.perf_counter() - t0
        rows = report.candles[0].total_rows
        print(f"backfill: {rows:,} candles in {backfill_s:.2f} s = {rows / backfill_s:,.0f} candles/s "
              f"over {client.requests_sent} requests (target <= {TARGET_TOTAL_S:.0f} s: {_verdict(backfill_s, TARGET_TOTAL_S)})")

        samples = []
        for _ in range(args.window_runs):
            t = time.perf_counter()
            window = store.latest_candles("BTC", "1m", 1000)
            samples.append((time.perf_counter() - t) * 1000)
        assert len(window) == 1000
        window_ms = statistics.median(samples)
        print(f"latest 1,000-candle window: median {window_ms:.3f} ms over {len(samples)} loads "
              f"(target <= {TARGET_WINDOW_MS:.0f} ms: {_verdict(window_ms, TARGET_WINDOW_MS)})")

        # One incremental update = one request for the bars since the newest stored one plus
        # their insert. Drop the newest bar first so every sample has exactly one bar to add.
        samples = []
        latest = floor_ms(clock.now_ms(), 60_000) - 60_000
        for _ in range(args.update_runs):
            with store.conn:
                store.conn.execute("DELETE FROM candles WHERE symbol='BTC' AND interval='1m' AND t=?", (latest,))
            t = time.perf_counter()
            added = ingestor.update("BTC", "1m")
            samples.append((time.perf_counter() - t) * 1000)
            assert added == 1, added
        update_ms = statistics.median(samples)
        print(f"incremental update (1 bar): median {update_ms:.2f} ms over {len(samples)} updates "
              f"(target <= {TARGET_UPDATE_MS:.0f} ms: {_verdict(update_ms, TARGET_UPDATE_MS)})")
        client.close()
        store.close()
    print(f"total wall time {time.perf_counter() - t_start:.2f} s")


if __name__ == "__main__":
    main()
