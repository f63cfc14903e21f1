"""Benchmark the engine's tick latency with Telegram control off, idle, busy and facing a hung Bot API.

In-process: the simulator on a shared FakeClock, a paper engine on 5 symbols (15m bars), and the
loopback fake Bot API from tests/fakes. Each phase ticks the same engine N times and prints the
median, p95 and max of `engine.tick()`'s wall time:
* off: no controller (the reference);
* idle: the controller long-polling an idle Bot API;
* busy: a user sending /status, /positions, /pause and /resume as fast as they are answered;
* hung: /pause went through, then every Bot API method hangs (the poller sits in a reply).
The poller shares the engine's lock only for the moment a command takes, so every phase should
read like `off`; a difference of a few ms is the GIL, a difference of seconds would be a bug.

    python bench/telegram.py [--ticks 60] [--symbols 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.telegram_bot_api import FakeBotApi  # noqa: E402

from perpbot.clock import DAY_MS, FakeClock  # noqa: E402
from perpbot.config import Secrets, build_settings  # noqa: E402
from perpbot.data.client import HyperliquidClient  # noqa: E402
from perpbot.cli.compose import build_engine  # noqa: E402
from perpbot.ipc.commands import handler  # noqa: E402
from perpbot.data.rest_feed import RestPriceFeed  # noqa: E402
from perpbot.ops.telegram import telegram_control  # noqa: E402
from perpbot.sim.server import SimOptions, SimServer  # noqa: E402

START_MS = 1_704_067_200_000 + 7 * DAY_MS
COINS = ["BTC", "ETH", "SOL", "ARB", "AVAX", "DOGE", "LINK", "OP"]


def tick_times(engine: Any, clock: FakeClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        clock.advance(900)
        began = time.perf_counter()
        engine.tick(clock.now_ms())
        out.append((time.perf_counter() - began) * 1000)
    return out


def report(name: str, times: list[float], reference: list[float] | None) -> None:
    times = sorted(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    versus = "" if reference is None else f"  ({statistics.median(times) - statistics.median(reference):+.1f} ms vs off)"
    print(f"  {name:<5} median {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  max {times[-1]:6.1f} ms{versus}",
          flush=True)


def chatter(bot_api: FakeBotApi, stop: threading.Event) -> None:
    """A user who sends the next command as soon as the last one is answered."""
    commands = ["/status", "/positions", "/pause", "/resume"]
    i = 0
    while not stop.is_set():
        update_id = bot_api.push_message(commands[i % len(commands)])
        while not bot_api.confirmed(update_id) and not stop.is_set():
            stop.wait(0.005)
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--symbols", type=int, default=5)
    args = parser.parse_args()
    symbols = COINS[: args.symbols]
    clock = FakeClock(START_MS)
    tmp = Path(tempfile.mkdtemp(prefix="perpbot-bench-tg-"))
    with SimServer(SimOptions(seed=1, symbols=symbols, history_days=6, start_ms=START_MS), port=0, clock=clock) as sim, \
            FakeBotApi() as bot_api:
        settings = build_settings({
            "exchange": {"base_url": sim.url}, "logging": {"file": False},
            "data": {"db_path": str(tmp / "bench.db"), "symbols": symbols, "timeframes": ["15m"]},
            "alerts": {"heartbeat_minutes": 0, "telegram_commands": True, "telegram_api_url": bot_api.url,
                       "timeout_s": 5.0},
        }, source="bench")
        settings.secrets = Secrets(telegram_bot_token=bot_api.token, telegram_chat_id=bot_api.chat_id)
        feed = RestPriceFeed(HyperliquidClient.from_settings(settings, clock), clock, symbols, max_age_s=1.0)
        engine = build_engine(settings, clock=clock, feed=feed)
        print(f"tick latency, {len(symbols)} symbols, 15m bars, {args.ticks} ticks per phase (in-process simulator)")
        tick_times(engine, clock, 5)  # warm-up
        off = tick_times(engine, clock, args.ticks)
        report("off", off, None)
        control = telegram_control(settings, handler(engine), engine.state.snapshot, clock.now_ms, engine.store)
        control.start()
        try:
            report("idle", tick_times(engine, clock, args.ticks), off)
            stop = threading.Event()
            user = threading.Thread(target=chatter, args=(bot_api, stop), daemon=True)
            user.start()
            busy = tick_times(engine, clock, args.ticks)
            stop.set()
            user.join(5)
            report("busy", busy, off)
            answered = len(bot_api.sent(bot_api.chat_id))
            print(f"        ({answered} replies sent while busy ticked)")
            bot_api.hang("sendMessage", "editMessageText", "answerCallbackQuery")
            update_id = bot_api.push_message("/pause")
            while not engine.state.snapshot()["paused"]:
                time.sleep(0.01)
            bot_api.hang("getUpdates")
            report("hung", tick_times(engine, clock, args.ticks), off)
            print(f"        (the /pause update confirmed to Telegram: {bot_api.confirmed(update_id)})")
            bot_api.release()
        finally:
            control.stop()
            engine.close()


if __name__ == "__main__":
    main()
