"""Shared helpers for the live-mode engine tests: a funded simulator, a live config with the key from
the environment, and look-ups of what the exchange itself holds (orders, fills, positions)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import eth_account
import httpx
import yaml

from perpbot.clock import FakeClock, floor_ms, interval_ms
from perpbot.config import Settings, load_settings
from perpbot.execution.engine import TradingEngine
from perpbot.models import Side, Trade
from perpbot.sim.info import InfoError
from perpbot.sim.server import SimOptions, SimServer

from engine_harness import START_MS, make_engine

LIVE_KEY = "0x" + "71" * 32
ACCOUNT = eth_account.Account.from_key(LIVE_KEY).address.lower()
AGENT_KEY = "0x" + "72" * 32  # an API wallet the account approved: the bot's key when the owner trades by hand
AGENT = eth_account.Account.from_key(AGENT_KEY).address.lower()
FUNDS_USD = 100_000.0


@contextmanager
def live_sim(seed: int, funds_usd: float = FUNDS_USD, history_days: float = 1.0,
             start_ms: int = START_MS) -> Iterator[SimServer]:
    """A simulator on loopback, on a FakeClock it shares with the engine, with ACCOUNT funded;
    `sim.http` is a plain HTTP client for the tests' own look-ups."""
    clock = FakeClock(start_ms)
    opts = SimOptions(seed=seed, history_days=history_days, start_ms=start_ms, funds={ACCOUNT: funds_usd},
                      agents={AGENT: ACCOUNT})
    with SimServer(opts, port=0, clock=clock) as server, httpx.Client(base_url=server.url, timeout=5.0) as http:
        server.fake_clock = clock
        server.http = http
        yield server


def live_settings(sim: SimServer, tmp_path: Path, agent: bool = False, db: str = "live.db",
                  **sections: dict[str, Any]) -> Settings:
    """config.yaml in tmp_path (execution.mode: live, exchange.base_url: the simulator); the key comes
    from the environment passed to load_settings, as HL_PRIVATE_KEY does in production. With `agent` the bot
    signs with the account's API wallet (so the owner can trade by hand with the account's own key)."""
    raw: dict[str, Any] = {
        "exchange": {"base_url": sim.url, "timeout_s": 1.0, "retry_backoff_s": 0.01, "max_retries": 8},
        "data": {"db_path": str(tmp_path / db), "symbols": ["BTC", "ETH", "SOL"], "timeframes": ["5m"]},
        "strategy": {"timeframe": "5m", "entry_z": 1.6, "exit_z": 0.3, "use_adx": False, "use_hurst": False,
                     "use_rsi": False},
        "risk": {"sizing": "fixed", "notional_usd": 1000, "stop_loss_pct": 0.004, "cooldown_minutes": 30,
                 "leverage": 3},
        "execution": {"mode": "live", "tick_seconds": 20, "max_slippage_bps": 50, "reconcile_minutes": 5},
        "alerts": {"heartbeat_minutes": 0},
        "logging": {"file": False},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path = tmp_path / f"{db}.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {"HL_PRIVATE_KEY": AGENT_KEY, "HL_ACCOUNT_ADDRESS": ACCOUNT} if agent else {"HL_PRIVATE_KEY": LIVE_KEY}
    return load_settings(path, env=env)


def live_engine(sim: SimServer, settings: Settings, events: list | None = None, **kw: Any) -> TradingEngine:
    engine = make_engine(settings, sim.fake_clock, events, **kw)
    assert engine.executor.mode == "live"
    return engine


# --- what the exchange holds -------------------------------------------------------------------


def fills(sim: SimServer) -> list[dict[str, Any]]:
    """The account's fills as the exchange booked them, oldest first."""
    return list(sim.ledger.accounts[ACCOUNT].fills)


def info(sim: SimServer, kind: str) -> Any:
    """An /info answer for the account (openOrders, frontendOpenOrders, clearinghouseState, ...)."""
    return sim.http.post("/info", json={"type": kind, "user": ACCOUNT}).json()


def stops_on_exchange(sim: SimServer) -> dict[str, dict[str, Any]]:
    """The account's open stop-loss trigger orders by coin, from /info frontendOpenOrders."""
    return {o["coin"]: o for o in info(sim, "frontendOpenOrders") if o.get("isTrigger") and o.get("reduceOnly")}


def positions_on_exchange(sim: SimServer) -> dict[str, float]:
    """Signed position size by coin, from /info clearinghouseState."""
    state = info(sim, "clearinghouseState")
    return {p["position"]["coin"]: float(p["position"]["szi"]) for p in state["assetPositions"]
            if float(p["position"]["szi"]) != 0}


def orders_with_cloid(sim: SimServer, cloid: str) -> list[Any]:
    """Every order the exchange ever accepted or refused under `cloid` (the simulator never deduplicates)."""
    return [o for o in sim.ledger.orders.values() if o.cloid == cloid]


def order_status(sim: SimServer, cloid: str) -> str | None:
    """orderStatus by cloid: open, filled, canceled, triggered, ... or None if never seen."""
    answer = sim.http.post("/info", json={"type": "orderStatus", "user": ACCOUNT, "oid": cloid}).json()
    return answer["order"]["status"] if answer.get("status") == "order" else None


def assert_protected(engine: TradingEngine, sim: SimServer) -> None:
    """The live invariant: every exchange position is a DB trade with its stop resting on the exchange,
    every open order on the exchange is such a stop, and a DB trade the exchange no longer holds was
    closed by its own stop (filled on the exchange; booked at the next reconciliation)."""
    book = engine.executor.trader.book
    trades = {t.symbol: t for t in engine.executor.open_trades()}
    positions = positions_on_exchange(sim)
    stops = stops_on_exchange(sim)
    assert len(info(sim, "openOrders")) == len(stops), "an open order that is not a stop"
    for symbol, szi in positions.items():
        trade = trades.get(symbol)
        assert trade is not None, f"{symbol} position {szi} unknown to the DB"
        assert trade.size == abs(szi) and (szi > 0) == (trade.side is Side.LONG)
        stop = stops.get(symbol)
        assert stop is not None, f"{symbol} position without a stop"
        assert stop["cloid"] == book.stop_cloid(trade.entry_cloid)
        assert float(stop["sz"]) == trade.size and float(stop["triggerPx"]) == trade.stop_price
        assert stop["side"] == ("A" if trade.side is Side.LONG else "B")
    for symbol, trade in trades.items():
        if symbol not in positions:
            assert symbol not in stops and order_status(sim, book.stop_cloid(trade.entry_cloid)) == "filled"
    assert set(stops) <= set(positions)


def drive_checked(engine: TradingEngine, sim: SimServer, until_ms: int, poll_s: float = 60,
                  done: Any = None, failures_ok: bool = False,
                  check: Any = assert_protected) -> list[tuple[int, Trade, dict[str, int]]]:
    """Run the daemon's passes (engine.pass_once: a tick at bar closes, polls between, clock time)
    until `until_ms` or done(); after every pass check the live invariant. A pass that failed fails
    the test unless `failures_ok`. Returns (pass time, trade, cooldowns then) for each trade closed."""
    clock: FakeClock = sim.fake_clock
    step = interval_ms(engine.settings.strategy.timeframe)
    next_tick = floor_ms(clock.now_ms(), step) + step
    seen = {t.id for t in engine.store.closed_trades(mode="live")}
    closed: list[tuple[int, Trade, dict[str, int]]] = []
    while clock.now_ms() < until_ms and not (done and done()):
        now = clock.now_ms()
        next_tick, _ = engine.pass_once(next_tick)
        if engine.failures.streak and not failures_ok:
            raise AssertionError("an engine pass failed") from engine.failures.last
        if check is not None and not engine.failures.streak:
            check(engine, sim)
        for trade in engine.store.closed_trades(mode="live"):
            if trade.id not in seen:
                seen.add(trade.id)
                closed.append((now, trade, engine.risk.cooldowns(now)))
        target = min(next_tick, now + int(poll_s * 1000))
        clock.set(target if target > now else now + int(poll_s * 1000))  # a failed tick is retried a poll later
    return closed


@contextmanager
def info_failing(sim, kind: str, answer: str | None = None, when: Callable[[], bool] = lambda: True,
                 ) -> Iterator[None]:
    """/info `kind` answers HTTP 500 (or 200 with `answer`, a malformed body) whenever `when()` holds,
    until the block ends."""
    original = sim.info._handlers[kind]

    def broken(body, now):
        if not when():
            return original(body, now)
        if answer is None:
            raise InfoError(500, "null", "application/json")
        return answer

    sim.info._handlers[kind] = broken
    try:
        yield
    finally:
        sim.info._handlers[kind] = original
