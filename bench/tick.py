"""Benchmark the trading engine: tick latency (bar close to decision) for 10 symbols, and the
daemon's memory after 7 simulated days vs after 1 day.

By default the simulator runs as its own process (`perpbot sim --speed X`), so this process does
only what the daemon does: the engine on `execution.clock: exchange` with its WebSocket feed. At
`--speed 4500` a 15m bar passes in 200 wall ms and 7 days in ~135 s. Figures:
* tick latency: the wall time of `engine.tick()` (ingest the closed bars, funding, windows,
  indicators, exits, entries, state), i.e. the latency from the bar close to the last decision;
  the first simulated day only, untraced. The wake-up delay after the close (the exchange clock's
  deliberate 20 ms lag plus sleep overshoot) is printed apart: it is not engine work.
* memory: the process RSS after day 1 and day 7 (what a user sees). As detail, tracemalloc runs
  from day 1 to day 7 and reports what was allocated since day 1 and is still alive at day 7 (an
  upper bound of the growth), with its largest sites; its own bookkeeping is subtracted from RSS.

`--in-process` runs the old mode instead: the simulator in this process on a shared FakeClock
(no waits, but its HTTP handlers compete with the engine for the GIL, which inflates latency).

    python bench/tick.py [--days 7] [--symbols 10] [--timeframe 15m] [--speed 4500] [--in-process]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from perpbot.clock import DAY_MS, FakeClock, floor_ms, interval_ms
from perpbot.config import build_settings
from perpbot.cli.compose import build_engine
from perpbot.cli.host import preload_in_background
from perpbot.execution.exchange_clock import LAG_WALL_S

START_MS = 1_704_067_200_000 + 7 * DAY_MS
COINS = ["BTC", "ETH", "SOL", "ARB", "AVAX", "DOGE", "LINK", "OP", "SUI", "APT", "LTC", "XRP"]
HISTORY_DAYS = 6
_EXCLUDE = ("*/perpbot/sim/*", "*/uvicorn/*", "*/starlette/*", "*/asyncio/*", "*/websockets/*", "*/h11/*",
            "*tracemalloc*", "<frozen*", "<unknown>")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def traced_bytes() -> int:
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, p) for p in _EXCLUDE])
    return sum(s.size for s in snap.statistics("filename"))


def top_sites(n: int = 4) -> list[str]:
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, p) for p in _EXCLUDE])
    return [f"{s.size / 1e3:.0f} kB {s.traceback[0].filename.split('/perpbot/')[-1]}:{s.traceback[0].lineno}"
            for s in snap.statistics("lineno")[:n]]


def settings_for(url: str, tmp: Path, symbols: list[str], timeframe: str, clock: str) -> Any:
    return build_settings({
        "exchange": {"base_url": url},
        "data": {"db_path": str(tmp / "bench.db"), "symbols": symbols, "timeframes": [timeframe]},
        "strategy": {"timeframe": timeframe},  # the full strategy: bands, RSI, ADX, Hurst
        "risk": {"max_positions": 5, "losing_weeks_halt": 0},
        "execution": {"clock": clock},
        "alerts": {"heartbeat_minutes": 60},
        "logging": {"file": False},
    }, source="bench")


def start_sim(symbols: list[str], speed: float) -> tuple[subprocess.Popen, str]:
    """`perpbot sim` as a child process; returns it and its URL once it answers."""
    cmd = [sys.executable, "-m", "perpbot.cli", "sim", "--port", "0", "--seed", "1", "--symbols", ",".join(symbols),
           "--speed", f"{speed:g}", "--history-days", str(HISTORY_DAYS), "--start", str(START_MS)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once the server accepts connections
    match = re.search(r"serving (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"perpbot sim did not start: {line.strip()}")
    out = proc.stdout
    threading.Thread(target=lambda: [None for _ in out], daemon=True).start()  # drain, never block it
    return proc, match.group(1)


def run_process(symbols: list[str], timeframe: str, days: float, speed: float, poll_s: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="perpbot-bench-"))
    t0 = time.perf_counter()
    sim, url = start_sim(symbols, speed)
    try:
        engine = build_engine(settings_for(url, tmp, symbols, timeframe, "exchange"))
        preload()
        clock = engine.clock
        print(f"setup (sim process at {speed:g}x, exchange clock, backfill of {len(symbols)} symbols): "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        step = interval_ms(timeframe)
        origin = floor_ms(clock.now_ms(), step) + step
        end = origin + int(days * DAY_MS)
        next_tick, prev = origin, None
        ticks, waits, skipped, mem, served = [], [], 0, {}, {}
        wall = time.perf_counter()
        while True:
            now = clock.now_ms()
            if now >= next_tick:
                boundary = floor_ms(now, step)
                skipped += 0 if prev is None else (boundary - prev) // step - 1
                engine.tick(now)
                if boundary < origin + DAY_MS:
                    ticks.append(engine.tick_ms[-1])
                    waits.append((now - boundary) / speed)
                    served = dict(getattr(engine.data, "served", {}))  # (absent from trees before the streams)
                prev, next_tick = boundary, boundary + step
                day = (boundary - origin) // DAY_MS
                if (boundary - origin) % DAY_MS < step and day in (1, 7) and day not in mem:
                    mem[day] = note_memory(day)
                if boundary >= end:
                    break
            else:
                engine.poll(now)
            clock.sleep(max(0.0, min(next_tick - clock.now_ms(), poll_s * 1000) / 1000))
        trades = len(engine.store.recent_trades(100_000))
        engine.close()
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"  {(prev - origin) // step + 1} ticks ({skipped} bars skipped by an overrunning tick), {trades} paper trades, "
          f"{time.perf_counter() - wall:.1f} s wall for {days:g} days", flush=True)
    report_latency(ticks, len(symbols), timeframe)
    if served:
        print(f"  the closed bars of day 1's symbol-ticks: {served['stream']} from the WebSocket's candle streams, "
              f"{served['fetch']} fetched (candleSnapshot); the rest had nothing new", flush=True)
    print(f"  not engine work, after the close and before the tick: the exchange clock's lag "
          f"({LAG_WALL_S * 1000:.0f} ms, by design) + wake-up overshoot (median {statistics.median(waits):.1f} ms)",
          flush=True)
    if 1 in mem and 7 in mem:
        print(f"daemon RSS after 7 days vs 1 day: {mem[1][0]:.1f} MB -> {mem[7][0]:.1f} MB "
              f"({mem[7][0] / mem[1][0] - 1:+.1%}; target within 10%)")
        print(f"  detail: tracemalloc, live at day 7 of what was allocated since day 1: {mem[7][1] / 1e6:.2f} MB; "
              f"largest sites: {'; '.join(mem[7][2])}")


def note_memory(day: int) -> tuple[float, int, list[str]]:
    """RSS (minus tracemalloc's own bookkeeping) and, from day 1 on, the traced bytes."""
    gc.collect()
    traced, sites = (traced_bytes(), top_sites()) if tracemalloc.is_tracing() else (0, [])
    rss = rss_mb() - (tracemalloc.get_tracemalloc_memory() / 1e6 if tracemalloc.is_tracing() else 0.0)
    print(f"day {day}: process RSS {rss:.1f} MB" + (f", traced since day 1: {traced / 1e6:.2f} MB" if day > 1 else ""),
          flush=True)
    if day == 1:
        tracemalloc.start()
    return rss, traced, sites


def report_latency(ticks: list[float], n: int, timeframe: str) -> None:
    lat = sorted(ticks)
    print(f"tick latency ({n} symbols, {timeframe}, {len(lat)} ticks of day 1): median {statistics.median(lat):.1f} ms, "
          f"p90 {lat[int(len(lat) * 0.9)]:.1f} ms, p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.1f} ms, "
          f"max {lat[-1]:.1f} ms (targets: median <= 20 ms, p99 <= 60 ms; before issue 20: median ~44 ms)",
          flush=True)


def preload() -> None:
    """What the daemon's and the dashboard's host do at start (cli/host.py), waited for here so that
    every measured tick runs as a long-lived daemon's do."""
    start = time.perf_counter()
    preload_in_background().join()
    print(f"compiled code loaded (the host does it on a thread at start): {time.perf_counter() - start:.1f} s",
          flush=True)


def run_in_process(symbols: list[str], timeframe: str, days: float, poll_s: float) -> None:
    """The old mode: simulator in this process on a shared FakeClock; tracemalloc from the start."""
    from perpbot.data.client import HyperliquidClient
    from perpbot.data.rest_feed import RestPriceFeed
    from perpbot.sim.server import SimOptions, SimServer

    clock = FakeClock(START_MS)
    tmp = Path(tempfile.mkdtemp(prefix="perpbot-bench-"))
    with SimServer(SimOptions(seed=1, symbols=symbols, history_days=HISTORY_DAYS, start_ms=START_MS), port=0,
                   clock=clock) as sim:
        settings = settings_for(sim.url, tmp, symbols, timeframe, "wall")
        feed = RestPriceFeed(HyperliquidClient.from_settings(settings, clock), clock, symbols, max_age_s=1.0)
        engine = build_engine(settings, clock=clock, feed=feed)
        preload()
        step = interval_ms(timeframe)
        next_tick = floor_ms(clock.now_ms(), step) + step
        end = START_MS + int(days * DAY_MS) + 1
        ticks = []
        while clock.now_ms() < end:
            now = clock.now_ms()
            if now >= next_tick:
                engine.tick(now)
                ticks.append(engine.tick_ms[-1])
                next_tick += step
                if (now - START_MS) % DAY_MS == 0 and (now - START_MS) // DAY_MS in (1, 7):
                    print(f"day {(now - START_MS) // DAY_MS}: RSS {rss_mb():.1f} MB (sim included)", flush=True)
            else:
                engine.poll(now)
            clock.set(min(next_tick, now + int(poll_s * 1000)))
        engine.close()
    report_latency(ticks, len(symbols), timeframe)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--timeframe", default="15m")
    ap.add_argument("--speed", type=float, default=4500.0, help="the simulator's clock speed (process mode)")
    ap.add_argument("--poll-s", type=float, default=300.0, help="clock seconds between polls")
    ap.add_argument("--in-process", action="store_true", help="simulator in this process on a FakeClock")
    args = ap.parse_args()
    symbols = COINS[: args.symbols]
    if args.in_process:
        run_in_process(symbols, args.timeframe, args.days, args.poll_s)
    else:
        run_process(symbols, args.timeframe, args.days, args.speed, args.poll_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
