"""Reconciliation against the simulator: a daemon killed mid-order, unknown positions, lost stops, orphan orders."""

from __future__ import annotations

import pytest
from test_live_executor import MAIN, MAIN_KEY, START_MS, make_settings

from perpbot.clock import FakeClock
from perpbot.data.db import Store
from perpbot.execution.live.exchange_api import ExchangeTransport, frontend_open_orders
from perpbot.cli.compose import connect_live
from perpbot.execution.live.executor import LiveExecutor
from perpbot.execution.live.signing import NonceManager, OrderIntent, Signer, order_action, round_price
from perpbot.models import Side
from perpbot.risk.state import MemoryState
from perpbot.sim.server import SimOptions, SimServer

IOC = {"limit": {"tif": "Ioc"}}


class Killed(BaseException):
    """The process died here (nothing after this line of the daemon ran)."""


class DyingStore(Store):
    """A store whose process dies the first time a fill is about to be booked."""

    def book_fill(self, fill, link, changed):
        raise Killed


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=12, history_days=0.2, start_ms=START_MS, funds={MAIN: 100_000.0})
    with SimServer(opts, port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def _executor(sim, tmp_path, store_cls=Store) -> LiveExecutor:
    store = store_cls(tmp_path / "live.db")
    ex = connect_live(make_settings(sim, tmp_path), store, sim.fake_clock)
    return ex


def _outside_order(sim, coin: str, is_buy: bool, sz: float, cloid: str | None = None) -> None:
    """Trade on the account behind the bot's back (another app with the same key)."""
    nonces = NonceManager(MemoryState(), FakeClock(sim.now_ms() + 500), MAIN)
    asset = {"BTC": 0, "ETH": 1, "SOL": 2}[coin]
    mid = sim.universe[coin].mid(sim.now_ms())
    px = round_price(mid * (1.01 if is_buy else 0.99), sim.universe[coin].meta.sz_decimals)
    with ExchangeTransport(sim.url, Signer(MAIN_KEY), nonces, False, 5.0) as transport:
        answer = transport.send(order_action([OrderIntent(asset, is_buy, sz, px, IOC, False, cloid)]))
    assert "filled" in answer["data"]["statuses"][0], answer


def test_killed_between_order_and_db_write_then_restarted(sim, tmp_path):
    dying = _executor(sim, tmp_path, DyingStore)
    dying.start(sim.now_ms())
    with pytest.raises(Killed):
        dying.open("ETH", Side.LONG, 3, "z=-2.2", key=100, now_ms=sim.now_ms())
    dying.close_connections()
    # Filled, and protected already: the stop went out attached to the entry.
    assert sim.ledger.position(MAIN, "ETH").szi == 3
    [child] = [o for o in sim.ledger.open_orders(MAIN)]
    assert child.is_trigger and child.reduce_only and child.sz == 3
    sim.fake_clock.advance(30)

    restarted = _executor(sim, tmp_path)
    resolutions = restarted.start(sim.now_ms())
    assert {"fill", "intent"} <= {r.rule for r in resolutions} <= {"fill", "intent", "stop"}
    [trade] = restarted.open_trades()
    cloid = restarted.trader.cloid("entry", MAIN, "ETH", "long", 100)
    assert (trade.entry_reason, trade.size, trade.entry_cloid) == ("z=-2.2", 3, cloid)
    [stop] = frontend_open_orders(restarted.trader.client, MAIN)
    assert stop.is_trigger and stop.sz == 3 and stop.trigger_px == trade.stop_price and stop.cloid == child.cloid
    # The engine decides the same bar again after the restart: no second order.
    assert restarted.open("ETH", Side.LONG, 3, "z=-2.2", key=100, now_ms=sim.now_ms()) is None
    assert len(sim.ledger.accounts[MAIN].fills) == 1 and restarted.reconcile(sim.now_ms()) == []
    restarted.close_connections()


def test_an_unknown_position_is_adopted_and_protected_and_orphans_are_canceled(sim, tmp_path):
    ex = _executor(sim, tmp_path)
    ex.start(sim.now_ms())
    _outside_order(sim, "SOL", False, 12)
    orphan = ex.trader.cloid("stop", "a trade long gone", 0)
    nonces = NonceManager(MemoryState(), FakeClock(sim.now_ms() + 900), MAIN)
    with ExchangeTransport(sim.url, Signer(MAIN_KEY), nonces, False, 5.0) as transport:
        trigger = {"trigger": {"triggerPx": 1000.0, "isMarket": True, "tpsl": "sl"}}
        transport.send(order_action([OrderIntent(1, False, 0.01, 900.0, trigger, True, orphan)]))
    resolutions = ex.reconcile(sim.now_ms())
    assert sorted(r.rule for r in resolutions) == ["manual", "orphan", "stop"]
    [trade] = ex.open_trades()
    assert (trade.symbol, trade.side, trade.size, trade.entry_reason) == ("SOL", Side.SHORT, 12, "manual")
    [stop] = frontend_open_orders(ex.trader.client, MAIN)
    assert stop.symbol == "SOL" and stop.side is Side.LONG and stop.trigger_px == trade.stop_price
    assert stop.trigger_px == pytest.approx(trade.entry_price * 1.02, rel=1e-4)
    assert ex.reconcile(sim.now_ms()) == []
    ex.close_connections()


def test_a_lost_stop_is_replaced_and_a_size_change_is_taken_from_the_exchange(sim, tmp_path):
    ex = _executor(sim, tmp_path)
    ex.start(sim.now_ms())
    trade = ex.open("BTC", Side.SHORT, 0.2, "z=2", key=1, now_ms=sim.now_ms())
    first_stop = ex.trader.book.stop_cloid(trade.entry_cloid)
    ex.trader.desk.cancel(0, first_stop)  # someone canceled it in the app
    _outside_order(sim, "BTC", True, 0.05)  # ... and bought some back
    resolutions = ex.reconcile(sim.now_ms())
    assert [r.rule for r in resolutions] == ["manual", "stop"]
    assert "reduced by hand to 0.15" in resolutions[0].detail and "stop placed" in resolutions[1].detail
    [stop] = frontend_open_orders(ex.trader.client, MAIN)
    assert stop.cloid != first_stop and stop.sz == pytest.approx(0.15) and ex.open_trades()[0].size == pytest.approx(0.15)
    ex.close_connections()


def test_a_position_already_past_its_stop_is_closed_at_once(sim, tmp_path):
    ex = _executor(sim, tmp_path)
    ex.start(sim.now_ms())
    _outside_order(sim, "ETH", True, 2)
    entry = sim.ledger.position(MAIN, "ETH").entry_px
    market, t = sim.universe["ETH"], sim.now_ms()
    while market.mid(t) > entry * 0.98:  # the first time the market is 2% below the entry
        t += 60_000
        market.ensure(t)
        assert t < START_MS + 60 * 86_400_000
    sim.fake_clock.set(t)
    resolutions = ex.reconcile(sim.now_ms())
    assert [r.rule for r in resolutions] == ["manual", "stop"] and "closed" in resolutions[1].detail
    [closed] = ex.trader.store.closed_trades(mode="live")
    assert closed.exit_reason == "stop_loss" and closed.pnl < 0 and sim.ledger.position(MAIN, "ETH").szi == 0
    assert [t.id for t in ex.sync(sim.now_ms())] == [closed.id]  # handed to the engine's risk ledger once
    ex.close_connections()
