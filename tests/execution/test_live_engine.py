"""The TradingEngine in live mode against the simulator on loopback, tick by tick on a shared FakeClock.

Issue 9's end-to-end list, driven through the engine (not the executor alone): entry with its stop on
the exchange, the stop triggered by the market, a signal exit, a timeout exit, a partial fill, a
rejection, a reply lost after the order reached the exchange, and a daemon killed between the order
and the DB write, then restarted on the same DB. The simulator is the exchange: every assertion about
orders, fills and positions reads its /info answers or its ledger. After every pass of the engine,
`drive_checked` asserts that no position is without its stop and no order without its trade.
"""

from __future__ import annotations

import logging

import pytest

from perpbot.clock import HOUR_MS, MINUTE_MS, FakeClock, floor_ms
from perpbot.execution.live.exchange_api import ExchangeTransport
from perpbot.execution.live.signing import NonceManager, Signer, update_leverage_action
from perpbot.models import Side
from perpbot.risk.state import MemoryState

from engine_harness import START_MS
from live_engine_harness import (
    ACCOUNT,
    LIVE_KEY,
    assert_protected,
    drive_checked,
    fills,
    info,
    live_engine,
    live_settings,
    live_sim,
    order_status,
    orders_with_cloid,
    positions_on_exchange,
    stops_on_exchange,
)

BAR_MS = 5 * MINUTE_MS


def _opened(engine):
    return lambda: bool(engine.executor.open_trades())


def test_entries_carry_stops_that_fire_and_signal_exits_cancel_them(sim, tmp_path):
    events: list = []
    engine = live_engine(sim, live_settings(sim, tmp_path), events)
    try:
        drive_checked(engine, sim, START_MS + 2 * HOUR_MS, done=_opened(engine))
        first = engine.executor.open_trades()[0]
        # The entry: one IOC fill inside the slippage cap, recorded from the exchange's fill.
        [entry_fill] = [f for f in fills(sim) if f["cloid"] == first.entry_cloid]
        assert first.entry_price == float(entry_fill["px"]) and first.fees == pytest.approx(float(entry_fill["fee"]))
        assert first.size == float(entry_fill["sz"]) and first.mode == "live"
        assert abs(first.entry_price / first.expected_entry_price - 1) <= 0.005
        assert first.entry_time == int(entry_fill["time"]) and first.entry_reason.startswith("entry:z")
        # ... and its stop resting on the exchange: openOrders and frontendOpenOrders both show it.
        trader = engine.executor.trader
        stop_cloid = trader.cloid("stop", first.entry_cloid, 0)  # attached to the entry, moved to the fill's distance
        [resting] = [o for o in info(sim, "openOrders") if o["coin"] == first.symbol]
        assert resting["cloid"] == stop_cloid and float(resting["sz"]) == first.size
        stop = stops_on_exchange(sim)[first.symbol]
        assert stop["orderType"] == "Stop Market" and stop["reduceOnly"] and stop["isTrigger"]
        assert float(stop["triggerPx"]) == first.stop_price == pytest.approx(
            first.entry_price * (1.004 if first.side is Side.SHORT else 0.996), rel=2e-4)

        closed = drive_checked(engine, sim, START_MS + 6 * HOUR_MS)
        reasons = {trade.exit_reason for _, trade, _ in closed}
        assert {"stop_loss", "signal"} <= reasons, reasons
        for booked_at, trade, cooldowns in closed:
            stop_cloid = trader.cloid("stop", trade.entry_cloid, 0)
            [exit_fill] = [f for f in fills(sim) if f["cloid"] == trade.exit_cloid]
            assert trade.exit_price == pytest.approx(float(exit_fill["px"]))
            assert len([f for f in fills(sim) if f["cloid"] == trade.entry_cloid]) >= 1
            if trade.exit_reason == "stop_loss":
                # Fired by the market on the exchange, booked at the next reconciliation, cooldown set.
                assert trade.exit_cloid == stop_cloid and order_status(sim, stop_cloid) == "filled"
                assert trade.pnl < 0 and booked_at - trade.exit_time <= 5 * MINUTE_MS + BAR_MS
                until = floor_ms(trade.exit_time, BAR_MS) + 30 * MINUTE_MS
                assert cooldowns.get(trade.symbol) == until
                later = [t for t in engine.store.recent_trades(100, mode="live")
                         if t.symbol == trade.symbol and t.entry_time > trade.exit_time]
                assert all(t.entry_time >= until for t in later)
            elif trade.exit_reason == "signal":
                # Closed by a reduce-only IOC at the bar close; its stop is gone from the exchange (the
                # exchange drops a reduce-only order once the position is flat, else the bot cancels it).
                [exit_order] = orders_with_cloid(sim, trade.exit_cloid)
                assert exit_order.reduce_only and exit_order.tif == "Ioc" and trader.guard.is_mine(trade.exit_cloid)
                assert order_status(sim, stop_cloid) in ("canceled", "reduceOnlyCanceled") and booked_at % BAR_MS == 0
                assert trade.exit_time == int(exit_fill["time"])
                assert trade.symbol not in cooldowns
            assert trade.pnl == pytest.approx(float(exit_fill["closedPnl"]) - trade.fees - trade.funding, abs=1e-6)
        kinds = [e for e, _ in events]
        assert "stop_loss" in kinds and "trade_close" in kinds and "reconciliation" in kinds
        cloids = [t.entry_cloid for t in engine.store.recent_trades(1000, mode="live")]
        assert len(cloids) == len(set(cloids)) == len([f for f in fills(sim) if f["dir"].startswith("Open")])
    finally:
        engine.close()


def test_a_position_held_too_long_is_closed_as_timeout_and_its_stop_goes(sim, tmp_path):
    settings = live_settings(sim, tmp_path, risk={"position_timeout_hours": 0.25})
    engine = live_engine(sim, settings)
    try:
        def timed_out():
            return any(t.exit_reason == "timeout" for t in engine.store.closed_trades(mode="live"))

        drive_checked(engine, sim, START_MS + 6 * HOUR_MS, done=timed_out)
        [trade] = [t for t in engine.store.closed_trades(mode="live") if t.exit_reason == "timeout"]
        # Closed at the first bar close at or after entry + 15 min, by the bot's reduce-only IOC.
        due = trade.entry_time + 15 * MINUTE_MS
        assert due <= trade.exit_time < floor_ms(due, BAR_MS) + BAR_MS + MINUTE_MS
        [exit_order] = orders_with_cloid(sim, trade.exit_cloid)
        assert exit_order.reduce_only and exit_order.tif == "Ioc"
        [exit_fill] = [f for f in fills(sim) if f["cloid"] == trade.exit_cloid]
        assert exit_fill["dir"].startswith("Close") and float(exit_fill["sz"]) == trade.size
        stop_cloid = engine.executor.trader.cloid("stop", trade.entry_cloid, 0)
        assert order_status(sim, stop_cloid) in ("canceled", "reduceOnlyCanceled")
        assert trade.symbol not in positions_on_exchange(sim) or any(
            t.symbol == trade.symbol for t in engine.executor.open_trades())
        assert trade.symbol not in engine.risk.cooldowns(sim.now_ms())
    finally:
        engine.close()


def test_an_entry_larger_than_the_book_fills_in_part_and_its_stop_matches_the_fill(tmp_path):
    with live_sim(seed=3, funds_usd=20_000_000.0) as sim:
        settings = live_settings(sim, tmp_path, risk={"notional_usd": 10_000_000})
        engine = live_engine(sim, settings)
        try:
            drive_checked(engine, sim, START_MS + 2 * HOUR_MS, done=_opened(engine))
            trades = engine.executor.open_trades()
            assert trades
            for trade in trades:  # every entry of that tick wanted $10M; the book within the cap is thinner
                assert 0 < trade.size < 10_000_000 / trade.expected_entry_price * 0.5
                entry_fills = [f for f in fills(sim) if f["cloid"] == trade.entry_cloid]
                assert sum(float(f["sz"]) for f in entry_fills) == pytest.approx(trade.size, abs=1e-9)
                [order] = orders_with_cloid(sim, trade.entry_cloid)
                assert order.status == "canceled" and order.sz > 0  # an IOC: the rest was canceled, not resting
                vwap = sum(float(f["px"]) * float(f["sz"]) for f in entry_fills) / trade.size
                assert trade.entry_price == pytest.approx(vwap) and trade.fees == pytest.approx(
                    sum(float(f["fee"]) for f in entry_fills))
                assert abs(positions_on_exchange(sim)[trade.symbol]) == trade.size
                assert float(stops_on_exchange(sim)[trade.symbol]["sz"]) == trade.size
            # A reconciliation pass finds the partial trades exactly as the exchange holds them.
            assert engine.executor.reconcile(sim.now_ms()) == []
        finally:
            engine.close()


def _set_leverage_behind_the_bots_back(sim, leverage: int) -> None:
    """The owner lowers leverage in the exchange's app (same key, its own nonces)."""
    nonces = NonceManager(MemoryState(), FakeClock(sim.now_ms() - 1000), ACCOUNT)
    with ExchangeTransport(sim.url, Signer(LIVE_KEY), nonces, False, 5.0) as transport:
        for asset in range(3):
            assert transport.send(update_leverage_action(asset, leverage, is_cross=True))["type"] == "default"


def test_a_rejected_entry_books_nothing_alerts_and_is_not_resent(sim, tmp_path):
    events: list = []
    settings = live_settings(sim, tmp_path, risk={"notional_usd": 1_000_000})
    engine = live_engine(sim, settings, events)
    try:
        _set_leverage_behind_the_bots_back(sim, 1)  # 3x sizing, 1x on the exchange: not enough margin
        drive_checked(engine, sim, START_MS + 2 * HOUR_MS)
        errors = [f["text"] for e, f in events if e == "error" and "refused for margin" in f["text"]]
        assert errors and all("Insufficient margin" in text for text in errors)
        ours = [o for o in sim.ledger.orders.values() if o.cloid and not o.is_trigger]
        assert len(ours) == len(errors) and {o.status for o in ours} == {"perpMarginRejected"}
        # The first refusal holds the coin until its free margin grows: not sent again at every bar.
        assert len({o.coin for o in ours}) == len(ours)
        assert len({o.cloid for o in ours}) == len(ours)  # each decision sent once: a refusal is final
        assert engine.store.recent_trades(100, mode="live") == [] and fills(sim) == []
        assert engine.executor.trader.book.intents() == {} and positions_on_exchange(sim) == {}
    finally:
        engine.close()


def test_a_reply_lost_after_the_order_reached_the_exchange_is_looked_up_not_resent(sim, tmp_path, caplog):
    engine = live_engine(sim, live_settings(sim, tmp_path))  # exchange.timeout_s: 1.0
    try:
        sim.exchange.reply_delay_ms = 1500  # every /exchange action runs, then its answer comes too late
        drive_checked(engine, sim, START_MS + 2 * HOUR_MS, done=_opened(engine))
        sim.exchange.reply_delay_ms = 0
        lost = [r for r in caplog.records if r.getMessage() == "order_outcome_unknown"]
        trades = engine.executor.open_trades()
        assert trades and len(lost) == len(trades)  # each entry's answer was lost (and each stop move's)
        for trade in trades:
            stop_cloid = engine.executor.trader.cloid("stop", trade.entry_cloid, 0)
            assert len(orders_with_cloid(sim, trade.entry_cloid)) == 1  # sent once, then found by its cloid
            assert len([o for o in orders_with_cloid(sim, stop_cloid) if o.status == "open"]) == 1
            [entry_fill] = [f for f in fills(sim) if f["coin"] == trade.symbol]
            assert entry_fill["cloid"] == trade.entry_cloid and float(entry_fill["sz"]) == trade.size
            assert trade.entry_price == float(entry_fill["px"])
        assert len(fills(sim)) == len(trades)
        assert engine.executor.trader.book.intents() == {}
        assert engine.executor.reconcile(sim.now_ms()) == []  # the DB already is what the exchange holds
    finally:
        engine.close()


class Killed(BaseException):
    """The daemon process died here: nothing after this line ran."""


def test_killed_between_order_and_db_write_then_restarted(sim, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    settings = live_settings(sim, tmp_path)
    dying = live_engine(sim, settings)

    def die(fill, link, changed):
        raise Killed

    monkeypatch.setattr(dying.store, "book_fill", die)  # the order is filled; its row is never written
    with pytest.raises(Killed):
        drive_checked(dying, sim, START_MS + 2 * HOUR_MS)
    [entry_fill] = fills(sim)
    cloid = entry_fill["cloid"]
    [(intent_cloid, intent)] = dying.executor.trader.book.intents().items()  # the write-ahead intent survived
    assert intent_cloid == cloid and intent.kind == "entry" and intent.reason.startswith("entry:z")
    dying.close()
    # Filled, and protected already: its stop went out attached to the entry.
    [coin] = positions_on_exchange(sim)
    assert float(stops_on_exchange(sim)[coin]["sz"]) == float(entry_fill["sz"])

    sim.fake_clock.advance(45)  # the watchdog restarts it
    events: list = []
    again = live_engine(sim, settings, events)
    try:
        # Startup reconciliation finished the intent: the trade is recorded as filled and protected.
        [trade] = again.executor.open_trades()
        assert trade.entry_cloid == cloid and trade.size == float(entry_fill["sz"])
        assert trade.entry_price == float(entry_fill["px"]) and trade.entry_reason == intent.reason
        assert trade.entry_time == int(entry_fill["time"])
        assert any(e == "reconciliation" and "trade recorded" in f["text"] for e, f in events)
        assert_protected(again, sim)
        assert again.executor.trader.book.intents() == {}
        # The same bar decided again (a symbol the dead daemon never reached may enter now), then
        # more bars: no second order for the decision it died on, no duplicate of any other.
        again.tick(floor_ms(sim.now_ms(), BAR_MS))
        assert len(orders_with_cloid(sim, cloid)) == 1
        assert [f for f in fills(sim) if f["cloid"] == cloid] == [entry_fill]
        assert trade.symbol not in {f["coin"] for f in fills(sim) if f["cloid"] != cloid}
        drive_checked(again, sim, sim.now_ms() + HOUR_MS)
        trades = again.store.recent_trades(100, mode="live")
        opens = [f for f in fills(sim) if f["dir"].startswith("Open")]
        assert len(trades) == len(opens) == len({t.entry_cloid for t in trades})
        assert {f["cloid"] for f in opens} == {t.entry_cloid for t in trades}
    finally:
        again.close()
    # HL_PRIVATE_KEY came from the environment; it is in no log record, event or the DB.
    secret = LIVE_KEY[2:]
    assert not any(secret in repr(vars(r)) for r in caplog.records) and secret not in repr(events)
    assert all(secret.encode() not in p.read_bytes() for p in tmp_path.glob("live.db*"))
