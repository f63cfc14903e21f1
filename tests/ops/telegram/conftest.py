"""Fixtures for the Telegram control tests: a fake Bot API, a paper engine on the simulator with two
open positions, a wall FakeClock, and a controller wired as the daemon wires it.

The engine runs on the simulator's FakeClock (2024); the controller's wall clock is another
FakeClock (2026), which the fake Bot API also stamps messages with, so freshness and the 60 s
confirmation limit are decided on a clock the test moves. Retry waits go through a recorder
that advances the wall clock instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.telegram_bot_api import FakeBotApi

from perpbot.clock import FakeClock
from perpbot.config import Settings
from perpbot.data.client import HyperliquidClient
from perpbot.cli.compose import build_engine
from perpbot.execution.engine import TradingEngine
from perpbot.data.rest_feed import RestPriceFeed
from perpbot.models import Side
from perpbot.ops.telegram import TelegramController, telegram_control
from perpbot.sim.server import SimOptions, SimServer
from perpbot.ipc.commands import handler

from telegram_harness import START_MS, WALL_MS, Waits, nonces, telegram_settings, wait_for


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(WALL_MS)


@pytest.fixture
def bot_api(wall) -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        server.now_s = lambda: wall.now_ms() // 1000
        yield server


@pytest.fixture
def sim() -> Iterator[SimServer]:
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=3, history_days=2, start_ms=START_MS), port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


@pytest.fixture
def engine(sim, tmp_path, bot_api) -> Iterator[TradingEngine]:
    """A paper engine after one tick, long BTC and short ETH."""
    settings = telegram_settings(sim.url, tmp_path / "tg.db", bot_api)
    clock = sim.fake_clock
    feed = RestPriceFeed(HyperliquidClient.from_settings(settings, clock), clock, settings.data.symbols, max_age_s=1.0)
    engine = build_engine(settings, clock=clock, feed=feed)
    try:
        engine.tick(clock.now_ms())
        now = clock.now_ms()
        engine.executor.open("BTC", Side.LONG, 0.02, "test", "k1", now)
        engine.executor.open("ETH", Side.SHORT, 0.5, "test", "k2", now)
        clock.advance(600)
        engine.poll(clock.now_ms())
        yield engine
    finally:
        engine.close()


@pytest.fixture
def alerts() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def start(engine, bot_api, wall, alerts) -> Iterator[Callable[..., TelegramController]]:
    """Start a controller for the engine as the daemon does; stopped at the end of the test."""
    started: list[TelegramController] = []

    def make(settings: Settings | None = None, store: Any = None, snapshot: Any = None,
             waits: Waits | None = None, poll_s: float = 1.0) -> TelegramController:
        control = telegram_control(settings or engine.settings, handler(engine), snapshot or engine.state.snapshot,
                                   engine.clock.now_ms, store or engine.store, lambda e, f: alerts.append((e, f)),
                                   wall=wall, poll_s=poll_s, sleep=waits or Waits(wall), nonce=nonces())
        assert isinstance(control, TelegramController)
        control.start()
        started.append(control)
        wait_for(lambda: control.username is not None)
        return control

    yield make
    for control in started:
        control.poller.stop(timeout_s=0)  # no new request after the open long poll...
    bot_api.end_polls()  # ...which ends now
    for control in started:
        control.stop()
