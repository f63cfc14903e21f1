"""Shared helpers for the engine tests: settings against a simulator, and a FakeClock driver."""

from __future__ import annotations

from typing import Any

from perpbot.clock import FakeClock, floor_ms, interval_ms
from perpbot.config import Settings, build_settings
from perpbot.cli.compose import build_engine
from perpbot.execution.engine import TradingEngine
from perpbot.data.rest_feed import RestPriceFeed

START_MS = 1_704_067_200_000 + 3 * 86_400_000  # 2024-01-04T00:00Z


def engine_settings(url: str, db_path: Any, **sections: dict[str, Any]) -> Settings:
    raw: dict[str, Any] = {
        "exchange": {"base_url": url, "timeout_s": 2.0, "retry_backoff_s": 0.01, "max_retries": 8},
        "data": {"db_path": str(db_path), "symbols": ["BTC", "ETH", "SOL"], "timeframes": ["5m"]},
        "strategy": {"timeframe": "5m", "entry_z": 1.6, "exit_z": 0.3, "use_adx": False, "use_hurst": False,
                     "use_rsi": False},
        "risk": {"sizing": "fixed", "notional_usd": 1000, "stop_loss_pct": 0.004, "cooldown_minutes": 30},
        "execution": {"tick_seconds": 20, "slippage_bps": 2.0},
        "alerts": {"heartbeat_minutes": 0},
        "logging": {"file": False},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return build_settings(raw, source="test")


def make_engine(settings: Settings, clock: FakeClock, events: list | None = None, **kw: Any) -> TradingEngine:
    from perpbot.data.client import HyperliquidClient

    hook = (lambda e, f: events.append((e, f))) if events is not None else None
    feed = RestPriceFeed(HyperliquidClient.from_settings(settings, clock), clock, settings.data.symbols, max_age_s=1.0)
    return build_engine(settings, clock=clock, events=hook, feed=feed, **kw)


def drive(engine: TradingEngine, clock: FakeClock, until_ms: int, poll_s: float | None = None) -> int:
    """Tick at every bar close and poll every poll_s (clock time) until `until_ms`; returns ticks."""
    step = interval_ms(engine.settings.strategy.timeframe)
    poll_ms = int((poll_s or engine.settings.execution.tick_seconds) * 1000)
    next_tick = floor_ms(clock.now_ms(), step) + step
    ticks = 0
    while clock.now_ms() < until_ms:
        now = clock.now_ms()
        if now >= next_tick:
            engine.tick(now)
            ticks += 1
            next_tick = floor_ms(now, step) + step
        else:
            engine.poll(now)
        clock.set(min(next_tick, clock.now_ms() + poll_ms))
    return ticks


def drive_until(engine: TradingEngine, clock: FakeClock, done: Any, limit_ms: int, poll_s: float = 120) -> None:
    """Drive bar by bar until done() is true or the clock reaches limit_ms."""
    step = interval_ms(engine.settings.strategy.timeframe)
    while not done() and clock.now_ms() < limit_ms:
        drive(engine, clock, floor_ms(clock.now_ms(), step) + step + 1, poll_s)
