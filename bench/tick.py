"""Benchmark the trading engine: tick latency (bar close to decision) for 10 symbols, and memory
after 7 simulated days vs after 1 day.

Runs the engine against the in-process simulator on a shared FakeClock (no wall-time waits):
every tick happens exactly at a bar close, so the tick's wall time is the latency from the close
to the last decision (candle fetch, funding, window load, indicators, exits, entries, state).
Memory is what tracemalloc attributes to everything except the simulator and its web server.

    python bench/tick.py [--days 7] [--symbols 10] [--timeframe 15m]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from perpbot.clock import DAY_MS, FakeClock, floor_ms, interval_ms
from perpbot.config import build_settings
from perpbot.data.client import HyperliquidClient
from perpbot.execution.engine import build_engine
from perpbot.execution.rest_feed import RestPriceFeed
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000 + 7 * DAY_MS
COINS = ["BTC", "ETH", "SOL", "ARB", "AVAX", "DOGE", "LINK", "OP", "SUI", "APT", "LTC", "XRP"]
MEM_DAYS = (1, 7)
_EXCLUDE = ("*/perpbot/sim/*", "*/uvicorn/*", "*/starlette/*", "*/asyncio/*", "*/websockets/*", "*/h11/*",
            "*tracemalloc*", "<frozen*", "<unknown>")


def engine_bytes() -> int:
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, p) for p in _EXCLUDE])
    return sum(s.size for s in snap.statistics("filename"))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--timeframe", default="15m")
    ap.add_argument("--poll-s", type=float, default=300.0, help="clock seconds between polls")
    ap.add_argument("--latency-days", type=float, default=1.0, help="untraced run for the latency figures")
    args = ap.parse_args()
    symbols = COINS[: args.symbols]
    print("latency run (no tracing):", flush=True)
    lat, _ = run(symbols, args.timeframe, args.latency_days, args.poll_s, traced=False)
    print(f"tick latency ({len(symbols)} symbols, {args.timeframe}): median {statistics.median(lat):.1f} ms, "
          f"p90 {lat[int(len(lat) * 0.9)]:.1f} ms, max {lat[-1]:.1f} ms (target: median <= 50 ms)", flush=True)
    print("memory run (tracemalloc; slower):", flush=True)
    _, mem = run(symbols, args.timeframe, args.days, args.poll_s, traced=True)
    if 1 in mem and 7 in mem:
        growth = mem[7] / mem[1] - 1
        print(f"memory after 7 days vs 1 day: {mem[1] / 1e6:.2f} MB -> {mem[7] / 1e6:.2f} MB ({growth:+.1%}; "
              f"target within 10%)")
    return 0


def run(symbols: list[str], timeframe: str, days: float, poll_s: float, traced: bool) -> tuple[list[float], dict]:
    if traced:
        tracemalloc.start()
    clock = FakeClock(START_MS)
    tmp = Path(tempfile.mkdtemp(prefix="perpbot-bench-"))
    t0 = time.perf_counter()
    with SimServer(SimOptions(seed=1, symbols=symbols, history_days=6, start_ms=START_MS), port=0, clock=clock) as sim:
        settings = build_settings({
            "exchange": {"base_url": sim.url},
            "data": {"db_path": str(tmp / "bench.db"), "symbols": symbols, "timeframes": [timeframe]},
            "strategy": {"timeframe": timeframe},  # the full strategy: bands, RSI, ADX, Hurst
            "risk": {"max_positions": 5, "losing_weeks_halt": 0},
            "alerts": {"heartbeat_minutes": 60},
            "logging": {"file": False},
        }, source="bench")
        feed = RestPriceFeed(HyperliquidClient.from_settings(settings, clock), clock, symbols, max_age_s=1.0)
        engine = build_engine(settings, clock=clock, feed=feed)
        print(f"setup (history backfill of {len(symbols)} symbols): {time.perf_counter() - t0:.1f} s", flush=True)
        step = interval_ms(timeframe)
        mem: dict[int, int] = {}
        next_tick = floor_ms(clock.now_ms(), step) + step
        end = START_MS + int(days * DAY_MS) + 1  # include the tick at the last day boundary
        wall = time.perf_counter()
        while clock.now_ms() < end:
            now = clock.now_ms()
            if now >= next_tick:
                engine.tick(now)
                next_tick += step
                day = (now - START_MS) // DAY_MS
                if traced and (now - START_MS) % DAY_MS == 0 and day in MEM_DAYS:
                    mem[day] = engine_bytes()
                    print(f"day {day}: engine memory {mem[day] / 1e6:.2f} MB, process RSS {rss_mb():.0f} MB", flush=True)
            else:
                engine.poll(now)
            clock.set(min(next_tick, now + int(poll_s * 1000)))
        ticks = engine.tick_ms
        trades = len(engine.store.recent_trades(100_000))
        engine.close()
    print(f"  {len(ticks)} ticks, {trades} paper trades, {time.perf_counter() - wall:.1f} s wall for {days:g} days",
          flush=True)
    if traced:
        tracemalloc.stop()
    return sorted(ticks), mem

if __name__ == "__main__":
    sys.exit(main())
