"""Helpers for the Telegram control tests: conditions to wait on, a recording sleep, settings, nonces."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fakes.telegram_bot_api import FakeBotApi

from perpbot.clock import DAY_MS, FakeClock
from perpbot.config import Secrets, Settings, build_settings

START_MS = 1_704_067_200_000 + 3 * DAY_MS  # the engine's (simulated) time
WALL_MS = 1_767_225_600_000  # 2026-01-01T00:00Z: the controller's wall clock
OWNER = 111111111


def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll a condition another thread makes true (bounded; returns as soon as it holds)."""
    pause = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        got = predicate()
        if got:
            return got
        pause.wait(0.01)
    raise AssertionError("condition not met in time")


class Waits:
    """The poller's sleep: records each wait and advances the wall clock by it (or, with
    `advance=False`, pauses `real_s` of real time instead: for loops that wait on another thread)."""

    def __init__(self, wall: FakeClock, advance: bool = True, real_s: float = 0.0) -> None:
        self.wall = wall
        self.advance = advance
        self.real_s = real_s
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        if self.advance:
            self.wall.advance(seconds)
        if self.real_s:
            threading.Event().wait(self.real_s)


def telegram_settings(sim_url: str, db_path: Any, bot_api: FakeBotApi, **alerts: Any) -> Settings:
    raw: dict[str, Any] = {
        "exchange": {"base_url": sim_url, "timeout_s": 2.0, "retry_backoff_s": 0.01, "max_retries": 8},
        "data": {"db_path": str(db_path), "symbols": ["BTC", "ETH", "SOL"], "timeframes": ["5m"]},
        "strategy": {"timeframe": "5m", "entry_z": 9.0, "use_adx": False, "use_hurst": False, "use_rsi": False},  # no entries of its own
        "risk": {"sizing": "fixed", "notional_usd": 1000},
        "alerts": {"heartbeat_minutes": 0, "telegram_commands": True, "telegram_api_url": bot_api.url,
                   "timeout_s": 2.0, **alerts},
        "logging": {"file": False},
    }
    settings = build_settings(raw, source="test")
    settings.secrets = Secrets(telegram_bot_token=bot_api.token, telegram_chat_id=bot_api.chat_id)
    return settings


def nonces() -> Callable[[], str]:
    counter = iter(range(1, 10_000))
    return lambda: f"n{next(counter):04d}"
