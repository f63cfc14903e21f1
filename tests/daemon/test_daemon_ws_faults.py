"""WebSocket faults for the whole engine: build_engine's own WebSocket feed, the engine's
run() loop on a thread, the simulator's accelerated clock. The simulator drops every socket, then
stalls them (open, but silent); the engine keeps ticking and trading on REST prices meanwhile,
the snapshot's feed health shows the stale stretch and its recovery, and no trade is lost or
booked twice."""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

from perpbot.data.ws_client import WsPriceFeed
from perpbot.cli.compose import build_engine
from perpbot.sim.server import SimOptions, SimServer

sys.path.insert(0, str(Path(__file__).parent.parent / "execution"))
from engine_harness import START_MS, engine_settings  # noqa: E402

SPEED = 2400  # a 5m bar every 125 ms of wall time; the feed calls a mid stale after ~5 wall seconds
SYMBOLS = {"BTC", "ETH", "SOL"}


def _wait(predicate: Any, timeout_s: float, what: str, runner: threading.Thread) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        assert runner.is_alive(), f"the engine loop died waiting for {what}"
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _sources(engine) -> set[str]:
    feed = engine.state.get("feed") or {}
    assert set(feed) == SYMBOLS
    return {h["source"] for h in feed.values()}


def test_engine_trades_through_dropped_and_stalled_websockets(tmp_path):
    events: list[tuple[float, str, dict[str, Any]]] = []
    with SimServer(SimOptions(seed=3, history_days=2, start_ms=START_MS, speed=SPEED), port=0) as sim:
        settings = engine_settings(sim.url, tmp_path / "ws.db", strategy={"entry_z": 1.4},
                                   execution={"tick_seconds": 60, "slippage_bps": 2.0})
        engine = build_engine(settings, clock=sim.clock,
                              events=lambda e, f: events.append((time.monotonic(), e, dict(f))))
        assert isinstance(engine.feed, WsPriceFeed)  # the real WebSocket feed, not RestPriceFeed
        stop = threading.Event()
        failures: list[BaseException] = []

        def loop() -> None:
            try:
                engine.run(stop)
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assertions below
                failures.append(exc)

        runner = threading.Thread(target=loop, name="engine-under-test", daemon=True)
        runner.start()
        store = engine.store
        try:
            _wait(lambda: _sources(engine) == {"ws"} and len(store.recent_trades(10_000)) >= 3, 20,
                  "ws mids and the first trades", runner)

            # 1. Dropped: the exchange closes every socket; the feed dials again on its own.
            dropped_at = time.monotonic()
            assert sim.drop_websockets() >= 1
            _wait(lambda: engine.feed.reconnects >= 1 and engine.feed.connected, 10, "the feed to reconnect", runner)
            _wait(lambda: _sources(engine) == {"ws"}, 5, "ws mids after the reconnect", runner)
            n_after_drop = len(store.recent_trades(10_000))

            # 2. Stalled: sockets stay open but nothing arrives. The ws mids age until the engine
            # calls them stale and falls back to REST prices, and it keeps ticking meanwhile.
            stalled_at = time.monotonic()
            sim.faults.ws_stall = True
            oldest_ws = [0.0]

            def on_rest() -> bool:
                feed = engine.state.get("feed")
                ages = [h["age_s"] or 0.0 for h in feed.values() if h["source"] == "ws"]
                oldest_ws[0] = max([oldest_ws[0], *ages])
                return {h["source"] for h in feed.values()} == {"rest"}

            _wait(on_rest, 15, "REST prices during the stall", runner)
            assert oldest_ws[0] > 3 * SPEED  # the snapshot showed the ws mids going silent (> 3 wall s)
            rest_tick = engine.state.get("last_tick")
            _wait(lambda: engine.state.get("last_tick") >= rest_tick + 2 * engine.step_ms, 10,
                  "ticks on REST prices", runner)
            assert _sources(engine) == {"rest"}  # still the fallback while stalled
            assert all(h["healthy"] for h in engine.state.get("feed").values())

            # 3. Recovered: the exchange speaks again; ws mids replace the REST ones.
            sim.faults.ws_stall = False
            _wait(lambda: _sources(engine) == {"ws"}, 10, "ws mids after the stall", runner)
            recovered_at, recovered_ms = time.monotonic(), sim.clock.now_ms()
            feed = engine.state.get("feed")
            assert all(h["healthy"] and h["age_s"] < 2 * SPEED for h in feed.values())

            # 4. Still trading afterwards: new positions opened after the recovery.
            _wait(lambda: sum(t.entry_time >= recovered_ms for t in store.recent_trades(10_000)) >= 2, 20,
                  "trades after the faults", runner)
            assert engine.state.get("last_tick") >= recovered_ms
        finally:
            stop.set()
            runner.join(timeout=15)
            assert not runner.is_alive(), "the engine loop did not stop"
        try:
            assert not failures, failures
            trades = store.recent_trades(10_000)
            assert len(trades) > n_after_drop
            # Nothing lost or booked twice: one row per entry order, every event has its row.
            assert len({t.entry_cloid for t in trades}) == len(trades)
            assert all(t.entry_cloid for t in trades)
            closed = [t for t in trades if not t.is_open]
            assert len({t.exit_cloid for t in closed}) == len(closed)
            for t in trades:
                assert t.symbol in SYMBOLS and t.size > 0 and t.entry_price > 0 and t.mode == "paper"
                if not t.is_open:
                    assert t.exit_reason and t.exit_cloid and t.exit_price and t.exit_price > 0
                    assert t.exit_time >= t.entry_time and t.pnl is not None and math.isfinite(t.pnl)
            open_db = {t.entry_cloid for t in store.open_trades(mode="paper")}
            assert open_db == {t.entry_cloid for t in engine.executor.open_trades()}
            assert len(open_db) <= len(SYMBOLS)
            names = [e for _, e, _ in events]
            assert names.count("trade_open") == len(trades)
            assert names.count("trade_close") + names.count("stop_loss") == len(closed)
            # At most one stale-feed alert per outage (the drop, the stall), none outside them.
            stale = [at for at, e, _ in events if e == "stale_feed"]
            assert sum(dropped_at <= at < stalled_at for at in stale) <= 1
            assert sum(stalled_at <= at <= recovered_at for at in stale) <= 1
            assert all(dropped_at <= at <= recovered_at for at in stale), stale
        finally:
            engine.close()
