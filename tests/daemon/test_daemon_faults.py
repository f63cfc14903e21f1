"""Faults from the simulator's knobs (429 and 5xx bursts, latency, malformed bodies, dropped and
stalled websockets): the engine keeps trading and loses no trade."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from perpbot.clock import DAY_MS, FakeClock
from perpbot.sim.server import SimOptions, SimServer

sys.path.insert(0, str(Path(__file__).parent.parent / "execution"))
from engine_harness import START_MS, drive, engine_settings, make_engine  # noqa: E402


def _ledger_ok(engine) -> None:
    trades = engine.store.recent_trades(10_000)
    assert len({t.entry_cloid for t in trades}) == len(trades)
    open_db = {t.entry_cloid for t in engine.store.open_trades(mode="paper")}
    assert open_db == {t.entry_cloid for t in engine.executor.open_trades()}
    for t in trades:
        if not t.is_open:
            assert t.exit_reason and t.pnl is not None and t.exit_cloid


def test_http_fault_bursts_keep_trading_and_lose_nothing(tmp_path):
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=3, history_days=2, start_ms=START_MS), port=0, clock=clock) as sim:
        engine = make_engine(engine_settings(sim.url, tmp_path / "f.db"), clock)
        try:
            drive(engine, clock, START_MS + DAY_MS // 8, poll_s=120)
            before = len(engine.store.recent_trades(10_000))
            for knob, value in (("error_rate", 0.3), ("rate_limit_rate", 0.3), ("malformed_rate", 0.3),
                                ("latency_ms", 30)):
                setattr(sim.faults, knob, value)
                drive(engine, clock, clock.now_ms() + 2 * 3_600_000, poll_s=120)
                setattr(sim.faults, knob, 0 if knob == "latency_ms" else 0.0)
                _ledger_ok(engine)
            sim.faults.error_rate = 1.0  # a full outage: ticks fail softly, nothing is booked twice
            drive(engine, clock, clock.now_ms() + 1_800_000, poll_s=300)
            sim.faults.error_rate = 0.0
            during = len(engine.store.recent_trades(10_000))
            drive(engine, clock, clock.now_ms() + DAY_MS // 4, poll_s=120)
            _ledger_ok(engine)
            after = len(engine.store.recent_trades(10_000))
            assert after > during >= before  # still trading after the faults
            assert engine.state.get("last_tick") >= clock.now_ms() - 300_000
        finally:
            engine.close()


def test_websocket_dropped_and_stalled_feed_recovers(tmp_path):
    """The WebSocket feed on wall time: drops and stalls fall back to REST, then reconnect."""
    from perpbot.config import build_settings
    from perpbot.data.client import HyperliquidClient
    from perpbot.cli.compose import make_feed
    from perpbot.clock import WallClock

    with SimServer(SimOptions(seed=3, history_days=0.1), port=0) as sim:
        settings = build_settings({"exchange": {"base_url": sim.url}, "data": {"db_path": str(tmp_path / "w.db")}},
                                  source="test")
        client = HyperliquidClient.from_settings(settings, WallClock())
        feed, _ = make_feed(settings, client, WallClock())
        feed.start()
        try:
            deadline = time.monotonic() + 10
            while feed.mid("BTC") is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert feed.mid("BTC") is not None
            assert sim.drop_websockets() >= 1
            sim.faults.ws_stall = True
            feed.refresh_rest()  # what the engine does when the feed goes stale
            assert feed.mid("BTC") is not None
            sim.faults.ws_stall = False
            feed.reconnect()
            deadline = time.monotonic() + 10
            while not feed.connected and time.monotonic() < deadline:
                time.sleep(0.05)
            assert feed.connected
        finally:
            feed.stop()
            client.close()
