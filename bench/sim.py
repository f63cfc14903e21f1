"""Provides the simulator benchmark: market generation, candleSnapshot building and a year over HTTP.

Prints the time to generate a year of 1m bars for one coin (target well under 1 s), the median
time to build one 5000-candle candleSnapshot answer (target a few ms), a small /info round
trip, and a year of 1m candles paged over loopback HTTP (106 requests) with plain httpx,
client JSON decoding included.
Run: python bench/sim.py [--days 365]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from perpbot.clock import DAY_MS, FakeClock
from perpbot.sim.options import SimOptions
from perpbot.sim.server import SimServer
from perpbot.sim.universe import build_universe

START_MS = 1_704_067_200_000
TARGET_GENERATE_S = 1.0
TARGET_BUILD_MS = 5.0


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER TARGET"


def _median_ms(fn, runs: int) -> float:
    times = []
    for i in range(runs):
        began = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of 1m history")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    opts = SimOptions(seed=1, symbols=["BTC"], history_days=args.days, candle_limit=0, start_ms=START_MS)
    build_universe(opts, START_MS)  # warm imports and caches out of the measurement
    began = time.perf_counter()
    universe = build_universe(opts, START_MS)
    gen_s = time.perf_counter() - began
    bars = len(universe["BTC"].bars)
    print(f"generate {bars:,} 1m bars: {gen_s:.3f} s ({bars / gen_s:,.0f} bars/s)  {_verdict(gen_s, TARGET_GENERATE_S)}")

    with SimServer(opts, port=0, clock=FakeClock(START_MS)) as sim:
        market, first = sim.universe["BTC"], START_MS - args.days * DAY_MS

        def build(i: int) -> None:
            sim.info.candles_text(market, "1m", first + (i % 100) * 5000 * 60_000, START_MS, START_MS)

        build_ms = _median_ms(build, args.runs)
        print(f"build one 5000-candle candleSnapshot: {build_ms:.2f} ms  {_verdict(build_ms, TARGET_BUILD_MS)}")
        with httpx.Client(base_url=sim.url, timeout=30) as client:
            small_ms = _median_ms(lambda i: client.post("/info", json={"type": "allMids"}), args.runs)
            print(f"allMids round trip: {small_ms:.2f} ms")
            began, cursor, rows, requests = time.perf_counter(), first, 0, 0
            while True:
                page = client.post("/info", json={"type": "candleSnapshot", "req": {
                    "coin": "BTC", "interval": "1m", "startTime": cursor, "endTime": START_MS}}).json()
                requests += 1
                if not page:
                    break
                rows += len(page)
                cursor = page[-1]["t"] + 1
            total_s = time.perf_counter() - began
            print(f"{rows:,} 1m candles over HTTP in {requests} requests: {total_s:.2f} s ({rows / total_s:,.0f} candles/s)")


if __name__ == "__main__":
    main()
