"""Provides the live chaos sequence: seeded random ticks under /info and /exchange faults, kills at named
crash points, and the owner trading by hand between restarts, with the live invariants checked after
every restart and at the end.

A kill is a BaseException raised at a crash point (perpbot.crashpoints); the engine is then dropped
with only its sockets and threads closed (no trading code runs), which is what kill -9 leaves of a
process whose every SQLite write has committed.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perpbot import crashpoints
from perpbot.clock import HOUR_MS, MINUTE_MS, floor_ms, interval_ms
from perpbot.data import schema
from perpbot.execution.engine import TradingEngine
from perpbot.execution.cloids import is_own_cloid
from perpbot.sim.server import SimServer

from hand_trader import HandTrader
from live_engine_harness import LIVE_KEY, fills, info, live_engine, live_settings, live_sim

CRASH_POINTS = ("entry_sent", "order_sent", "fill_booked", "stop_sent")
HAND_ACTIONS = ("open", "increase", "reduce", "close", "flip", "cancel_stop", "move_stop", "none")


class Killed(BaseException):
    """kill -9: nothing after this line of the daemon ran."""


@dataclass
class Report:
    seed: int
    restarts: int = 0
    kills: Counter = field(default_factory=Counter)
    hand: Counter = field(default_factory=Counter)
    trades: int = 0
    fills: int = 0
    wall_s: float = 0.0


def _faults(sim: SimServer, rng: random.Random, on: bool) -> None:
    """One /info incident at a time (5xx, 429 or malformed bodies, maybe with latency) and /exchange
    failures before or after the action ran; all off when not `on`."""
    f = sim.faults
    f.error_rate = f.rate_limit_rate = f.malformed_rate = 0.0
    f.latency_ms = 0
    f.exchange_error_rate = f.exchange_lost_rate = 0.0
    if not on:
        return
    setattr(f, rng.choice(("error_rate", "rate_limit_rate", "malformed_rate")), rng.choice((0.0, 0.1, 0.3)))
    f.latency_ms = rng.choice((0, 2))
    f.exchange_error_rate = rng.choice((0.0, 0.1, 0.3))
    f.exchange_lost_rate = rng.choice((0.0, 0.1, 0.3))


def _arm(rng: random.Random, report: Report) -> None:
    """Maybe die at the n-th time one crash point is reached in the coming segment."""
    if rng.random() < 0.35:
        crashpoints.arm(None)
        return
    point, left = rng.choice(CRASH_POINTS), [rng.randint(1, 3)]

    def hook(name: str) -> None:
        if name == point:
            left[0] -= 1
            if left[0] == 0:
                report.kills[point] += 1
                raise Killed(point)

    crashpoints.arm(hook)


def _drive(engine: TradingEngine, sim: SimServer, until_ms: int, poll_s: float) -> None:
    """The daemon's loop on the shared FakeClock (engine.pass_once; failures count, never end it)."""
    clock = sim.fake_clock
    step = interval_ms(engine.settings.strategy.timeframe)
    next_tick = floor_ms(clock.now_ms(), step) + step
    while clock.now_ms() < until_ms:
        now = clock.now_ms()
        next_tick, _ = engine.pass_once(next_tick)
        target = min(next_tick, now + int(poll_s * 1000))
        clock.set(target if target > now else now + int(poll_s * 1000))


def _settle(engine: TradingEngine, sim: SimServer) -> None:
    """Faults off: passes until a reconciliation succeeded with nothing left unknown."""
    for _ in range(40):
        engine.executor.sync(sim.now_ms(), force=True)
        if engine.executor.failed is None and not engine.executor.trader.book.intents():
            return
        sim.fake_clock.advance(5)
    raise AssertionError(f"never settled: failed={engine.executor.failed} "
                         f"intents={engine.executor.trader.book.intents()}")


def _hand(sim: SimServer, rng: random.Random, report: Report) -> None:
    """The owner does something by hand with the SDK while the bot is down."""
    action = rng.choice(HAND_ACTIONS)
    report.hand[action] += 1
    with HandTrader(sim, LIVE_KEY) as hand:
        held = {c: s for c in ("BTC", "ETH", "SOL") if (s := hand.size(c))}
        if action == "open" or not held:
            if action != "open" or len(held) == 3:
                return
            coin = rng.choice([c for c in ("BTC", "ETH", "SOL") if c not in held])
            hand.market(coin, rng.random() < 0.5, 1500 / sim.universe[coin].mid(sim.now_ms()))
            return
        coin = rng.choice(sorted(held))
        szi = held[coin]
        if action == "increase":
            hand.market(coin, szi > 0, abs(szi) * 0.5)
        elif action == "reduce":
            hand.market(coin, szi < 0, abs(szi) * 0.4)
        elif action == "close":
            hand.close_all(coin)
        elif action == "flip":
            hand.flip(coin)
        elif action == "cancel_stop":
            hand.cancel_stops(coin)
        elif action == "move_stop" and hand.stops(coin):
            hand.move_stop(coin, 0.995 if szi > 0 else 1.005)


def check_invariants(engine: TradingEngine, sim: SimServer) -> None:
    """The live invariants, as the issue states them."""
    positions = {p["position"]["coin"]: float(p["position"]["szi"])
                 for p in info(sim, "clearinghouseState")["assetPositions"]}
    orders = info(sim, "frontendOpenOrders")
    for coin, szi in positions.items():
        stops = [o for o in orders if o["coin"] == coin and o["isTrigger"] and o["reduceOnly"]
                 and o["orderType"].startswith("Stop")]
        assert len(stops) == 1, f"{coin} {szi}: {len(stops)} stops {stops}"
        assert float(stops[0]["sz"]) == abs(szi) and (stops[0]["side"] == "A") == (szi > 0), (coin, szi, stops)
    trades = {t.symbol: (t.side.value, t.size) for t in engine.executor.open_trades()}
    held = {c: ("long" if s > 0 else "short", abs(s)) for c, s in positions.items()}
    assert trades == held, f"open trades {trades} != positions {held}"
    entries = Counter(o.cloid for o in sim.ledger.orders.values()
                      if is_own_cloid(o.cloid) and not o.reduce_only and not o.is_trigger)
    assert all(n == 1 for n in entries.values()), f"an entry sent twice: {entries}"
    doubled = [f for f in fills(sim) if f.get("cloid") in entries and float(f["startPosition"]) != 0]
    assert not doubled, f"an entry on a coin already held: {doubled}"
    exchange = fills(sim)
    ledger = engine.store.recent_trades(100_000, mode="live")
    gross = sum(t.pnl + t.fees + t.funding for t in ledger if not t.is_open)
    gross += sum(engine.store.close_legs(t.id).closed_pnl for t in ledger if t.is_open)
    want_pnl, want_fees = sum(float(f["closedPnl"]) for f in exchange), sum(float(f["fee"]) for f in exchange)
    assert abs(gross - want_pnl) < 1e-6, f"realized pnl {gross} != the exchange's {want_pnl}"
    assert abs(sum(t.fees for t in ledger) - want_fees) < 1e-6, "fees differ from the exchange's"


def _legacy_database(path: Path) -> None:
    """A v1 database (as before fill identity), so the first start migrates it."""
    conn = sqlite3.connect(path)
    for statement in schema.MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def _start(sim: SimServer, settings: Any, report: Report) -> TradingEngine:
    """Start the daemon (maybe killed mid-migration first, then started again)."""
    report.restarts += 1
    while True:
        try:
            return live_engine(sim, settings)
        except Killed:
            crashpoints.arm(None)  # the half-started engine is gone with its process; start again
            sim.fake_clock.advance(5)


def run_sequence(seed: int, tmp_path: Path, segments: int = 5) -> Report:
    """One seeded chaos sequence; raises AssertionError naming what broke."""
    started = time.perf_counter()
    rng = random.Random(seed)
    report = Report(seed)
    with live_sim(seed=seed % 7 + 1) as sim:
        # 12 retries: a start under a 30% /info failure rate must get through (0.3^13 per request)
        settings = live_settings(sim, tmp_path, agent=True, strategy={"entry_z": 1.2}, exchange={"max_retries": 12},
                                 risk={"max_positions": 3, "stop_loss_pct": 0.004, "cooldown_minutes": 10},
                                 execution={"reconcile_minutes": 5})
        if rng.random() < 0.3:
            _legacy_database(Path(settings.db_path))
            if rng.random() < 0.5:
                crashpoints.arm(lambda name: (_ for _ in ()).throw(Killed(name)) if name == "migration" else None)
                report.kills["migration"] += 1
        try:
            engine = _start(sim, settings, report)
            for _ in range(segments):
                _faults(sim, rng, on=True)
                _arm(rng, report)
                killed = False
                try:
                    _drive(engine, sim, sim.now_ms() + rng.randint(20, 90) * MINUTE_MS, rng.choice((120, 300)))
                except Killed:
                    killed = True
                finally:
                    crashpoints.arm(None)
                if killed or rng.random() < 0.5:
                    engine.close()  # sockets and threads only: no trading code runs
                    _faults(sim, rng, on=False)
                    _hand(sim, rng, report)
                    sim.fake_clock.advance(rng.choice((5, 60, 600)))
                    _faults(sim, rng, on=rng.random() < 0.5)
                    engine = _start(sim, settings, report)  # startup must succeed, faults or not
                _faults(sim, rng, on=False)
                _settle(engine, sim)
                check_invariants(engine, sim)
            _drive(engine, sim, sim.now_ms() + HOUR_MS // 2, 300)
            _settle(engine, sim)
            check_invariants(engine, sim)
            report.trades = len(engine.store.recent_trades(100_000, mode="live"))
            report.fills = len(fills(sim))
            engine.close()
        finally:
            crashpoints.arm(None)
    report.wall_s = time.perf_counter() - started
    return report
