"""PaperExecutor's maker orders (issue 19): trade-through fills on closed bars, the limit and the maker
fee, a stop cancelling a resting exit, re-pricing, and resting orders kept across a restart."""

from __future__ import annotations

import pytest

from perpbot.clock import FakeClock
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.execution.paper import PaperExecutor
from perpbot.execution.resting import ENTRY, EXIT, MakerOrder
from perpbot.models import Candle, Side
from perpbot.risk.manager import RiskManager

T0 = 1_704_067_200_000
M5 = 300_000


@pytest.fixture
def env(tmp_path):
    settings = build_settings({
        "data": {"db_path": str(tmp_path / "p.db")},
        "strategy": {"timeframe": "5m"},
        "risk": {"stop_loss_pct": 0.02},
        "execution": {"slippage_bps": 10, "taker_fee": 0.001, "maker_fee": 0.0002, "paper_equity": 5000,
                      "entry_order": "maker", "exit_order": "maker"},
    }, source="test")
    store = Store(settings.db_path)
    prices = {"BTC": 100.0}
    risk = RiskManager(settings.risk, store, FakeClock(T0))
    ex = PaperExecutor(settings, store, prices.get, risk.stop_price)
    ex.sz_decimals = {"BTC": 4}  # prices near 100 carry 2 decimals: a tick is 0.01
    ex.start(T0)
    yield settings, store, prices, risk, ex
    store.close()


def bar(store, i, o, h, lo, c):
    store.insert_candles([Candle("BTC", "5m", T0 + i * M5, o, h, lo, c, 1.0, 1)])


def entry(limit=100.0, size=2.0) -> MakerOrder:
    return MakerOrder(ENTRY, "BTC", "long", size, limit, T0, "entry:z", "0x7062" + "ab" * 14, checked_ms=T0)


def test_an_entry_fills_only_when_a_closed_bar_trades_through_it(env):
    _, store, _, _, ex = env
    ex.rest(entry(), T0)
    bar(store, 0, 100.5, 101.0, 100.0, 100.5)  # touches 100.00: not a fill
    ex.sync(T0 + M5)
    assert ex.open_trades() == [] and len(ex.resting()) == 1
    bar(store, 1, 100.5, 101.0, 99.99, 100.2)  # one tick through
    ex.sync(T0 + 2 * M5)
    (trade,) = ex.open_trades()
    assert (trade.entry_time, trade.entry_price, trade.size) == (T0 + M5, 100.0, 2.0)
    assert trade.fees == pytest.approx(2 * 100.0 * 0.0002)
    assert trade.stop_price == pytest.approx(98.0) and trade.entry_cloid == entry().cloid
    assert ex.resting() == []


def test_a_repriced_order_judges_later_bars_by_its_new_limit(env):
    _, store, _, _, ex = env
    order = ex.rest(entry(), T0)
    bar(store, 0, 100.5, 101.0, 100.0, 100.5)
    ex.sync(T0 + M5)
    ex.reprice(order, 100.5, T0 + M5)
    bar(store, 1, 100.5, 101.0, 100.49, 100.8)
    ex.sync(T0 + 2 * M5)
    assert [t.entry_price for t in ex.open_trades()] == [100.5]


def test_a_stop_in_the_bar_cancels_the_resting_exit(env):
    _, store, prices, _, ex = env
    trade = ex.open("BTC", Side.LONG, 1.0, "r", key=T0, now_ms=T0)  # taker at 100.1, stop 98.098
    ex.rest(MakerOrder(EXIT, "BTC", "long", 1.0, 101.0, T0, "signal", ex.exit_cloid(trade), trade_id=trade.id,
                       checked_ms=T0), T0)
    bar(store, 0, 100.0, 101.0, 97.0, 97.5)  # touches the exit's 101 (no fill) and the stop
    prices["BTC"] = 97.5
    (closed,) = ex.sync(T0 + M5)
    assert closed.exit_reason == "stop_loss" and ex.resting() == []


def test_a_maker_exit_fills_at_its_limit_with_the_maker_fee(env):
    _, store, _, _, ex = env
    trade = ex.open("BTC", Side.LONG, 1.0, "r", key=T0, now_ms=T0)
    ex.rest(MakerOrder(EXIT, "BTC", "long", 1.0, 101.0, T0, "signal", ex.exit_cloid(trade), trade_id=trade.id,
                       checked_ms=T0), T0)
    bar(store, 0, 100.0, 101.01, 99.5, 101.0)
    (closed,) = ex.sync(T0 + M5)
    assert (closed.exit_reason, closed.exit_price, closed.exit_time) == ("signal", 101.0, T0)
    assert closed.fees == pytest.approx(100.1 * 0.001 + 101.0 * 0.0002)
    assert closed.exit_cloid == ex.exit_cloid(trade) and ex.resting() == []


def test_resting_orders_survive_a_restart_and_a_cancel_removes_them(env):
    settings, store, prices, risk, ex = env
    order = ex.rest(entry(), T0)
    again = PaperExecutor(settings, store, prices.get, risk.stop_price)
    again.start(T0 + 1)
    assert again.resting() == [order]
    assert again.cancel_resting(order, T0 + 2) and not again.cancel_resting(order, T0 + 2)
    third = PaperExecutor(settings, store, prices.get, risk.stop_price)
    third.start(T0 + 3)
    assert third.resting() == []


def test_every_maker_order_is_booked_with_its_outcome_and_fee(env):
    _, store, _, _, ex = env
    filled = ex.rest(entry(), T0)
    gone = ex.rest(MakerOrder(ENTRY, "ETH", "short", 1.0, 2000.0, T0, "entry:z", "0x7062" + "cd" * 14,
                              checked_ms=T0), T0)
    bar(store, 0, 100.5, 101.0, 99.9, 100.2)
    ex.sync(T0 + M5)
    ex.cancel_resting(gone, T0 + M5, "expired")
    rows = {r["cloid"]: r for r in store.maker_orders("paper")}
    assert (rows[filled.cloid]["outcome"], rows[filled.cloid]["ended_ms"]) == ("filled", T0)
    assert rows[filled.cloid]["fee"] == pytest.approx(2 * 100.0 * 0.0002)
    assert (rows[gone.cloid]["outcome"], rows[gone.cloid]["fee"]) == ("expired", 0.0)
