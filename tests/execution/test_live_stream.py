"""The live trader on the account's user streams (issue 17 item 7): a stop that fires is booked from
userFills as it arrives, within a second of simulated time, with no engine pass in between; REST
reconciliation stays the fallback. A live-mode engine on the simulator's WebSocket feed, on a FakeClock."""

from __future__ import annotations

import time

import pytest

from perpbot.cli.compose import build_engine
from perpbot.clock import HOUR_MS
from perpbot.data.client import HyperliquidClient
from perpbot.data.ws_client import WsPriceFeed
from perpbot.execution.live.inbox import StreamInbox
from perpbot.models import Side

from engine_harness import START_MS
from hand_trader import HandTrader
from live_engine_harness import LIVE_KEY, drive_checked, fills, live_settings, live_sim, order_status

STEP_MS = 250  # the simulated clock moves in quarter seconds through the crash


def _until(condition, what: str, timeout_s: float = 10.0) -> None:
    """Wait (wall time) for the feed's and the account watch's threads to deliver."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def streamed(tmp_path):
    with live_sim(seed=3) as sim:
        settings = live_settings(sim, tmp_path)
        clock = sim.fake_clock
        with HyperliquidClient.from_settings(settings, clock) as rest:
            feed = WsPriceFeed(sim.ws_url, settings.data.symbols, clock, rest_mids=rest.all_mids, stale_after_s=3600)
            events: list = []
            engine = build_engine(settings, clock=clock, feed=feed, events=lambda e, f: events.append((e, f)))
            try:
                yield sim, engine, events
            finally:
                engine.close()


def test_a_stop_fired_by_a_flash_crash_is_booked_from_user_fills_within_a_second(streamed):
    sim, engine, events = streamed
    executor = engine.executor
    _until(lambda: engine.feed.connected, "the feed's socket")
    drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(executor.open_trades()), check=None)
    trade = executor.open_trades()[0]
    stop_cloid = executor.trader.book.stop_cloid(trade.entry_cloid)
    crash = sim.http.post("/sim/scenario", json={"kind": "price_move", "coin": trade.symbol, "at": "30s", "over": "1s",
                                                 "pct": -6 if trade.side is Side.LONG else 6})
    assert crash.status_code == 200, crash.text
    clock = sim.fake_clock
    streamed_before = executor.stream.received
    while order_status(sim, stop_cloid) != "filled":  # no engine pass from here on: only the streams can book
        assert clock.now_ms() < START_MS + 13 * HOUR_MS, "the stop never fired"
        clock.advance(STEP_MS / 1000)
    fired = next(int(f["time"]) for f in fills(sim) if f["cloid"] == stop_cloid)
    _until(lambda: not engine.store.trade_by_id(trade.id).is_open, "the stop's fill to be booked")
    booked_at = clock.now_ms()  # the clock has not moved since the fill
    closed = engine.store.trade_by_id(trade.id)
    assert closed.exit_reason == "stop_loss" and closed.exit_time == fired and closed.exit_cloid == stop_cloid
    assert booked_at - fired <= 1_000 and executor.stream.received > streamed_before
    _until(lambda: any(e == "stop_loss" for e, _ in events), "the stop_loss event")
    assert engine.risk.pnl_today(booked_at) == pytest.approx(closed.pnl) and trade.symbol in engine.risk.cooldowns(booked_at)


def test_a_reconnect_and_a_stop_canceled_by_hand_each_bring_a_reconciliation(streamed):
    """Order updates and fills missed while disconnected are not replayed: the trader reconciles over REST after
    every reconnect, and at once when an order is canceled behind its back (a stop is put back)."""
    sim, engine, _ = streamed
    executor = engine.executor
    drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(executor.open_trades()), check=None)
    _until(lambda: engine.feed.connected, "the feed's socket")
    before = executor.last_reconcile_ms
    sim.fake_clock.advance(1)
    assert sim.hub.drop_all() >= 1
    # The new connection's userFills subscription opens with a snapshot: that asks for the reconciliation.
    _until(lambda: executor.last_reconcile_ms != before, "a reconciliation after the reconnect")

    trade = executor.open_trades()[0]
    stop_cloid = executor.trader.book.stop_cloid(trade.entry_cloid)
    before = executor.last_reconcile_ms
    sim.fake_clock.advance(1)
    with HandTrader(sim, LIVE_KEY) as hand:
        assert hand.cancel_stops(trade.symbol) == 1
        _until(lambda: executor.last_reconcile_ms != before, "a reconciliation after the cancel")
        _until(lambda: len(hand.stops(trade.symbol)) == 1, "the stop put back")
        assert hand.stops(trade.symbol)[0]["cloid"] != stop_cloid  # a fresh version of the bot's stop


def test_the_inbox_books_live_fills_and_turns_snapshots_and_garbage_into_a_reconciliation():
    inbox = StreamInbox()
    woken: list[int] = []
    inbox.wake = lambda: woken.append(1)
    fill = {"coin": "BTC", "px": "97000.0", "sz": "0.01", "side": "A", "time": 1, "startPosition": "0.01",
            "dir": "Close Long", "closedPnl": "-3.1", "hash": "0xab", "oid": 7, "crossed": True, "fee": "0.4",
            "tid": 10**14 + 5, "cloid": None, "feeToken": "USDC", "twapId": None}
    inbox.receive("userFills", {"isSnapshot": True, "user": "0x1", "fills": [fill]})
    assert inbox.take() == ([], True)  # an old history is not booked from the stream: REST reads from the cursor
    inbox.receive("userFills", {"user": "0x1", "fills": [fill]})
    [booked], due = inbox.take()
    assert booked.tid == 10**14 + 5 and booked.closed_pnl == -3.1 and not due
    inbox.receive("userFills", {"user": "0x1", "fills": [{"coin": "BTC"}]})
    inbox.receive("orderUpdates", [{"order": {"coin": "BTC", "oid": 7}, "status": "filled", "statusTimestamp": 1}])
    assert inbox.take() == ([], True)
    inbox.receive("orderUpdates", [{"order": {"coin": "BTC", "oid": 7}, "status": "open", "statusTimestamp": 1}])
    assert inbox.take() == ([], False) and len(woken) == 3


def test_the_owners_stop_kept_as_the_positions_stop_fires_as_its_stop_loss(streamed):
    """A stop the owner moved with the SDK's default modify (no cloid) is kept as the position's stop; when
    it fires, the trade closes as `stop_loss` (its cooldown starts), not as a close by hand."""
    sim, engine, events = streamed
    executor = engine.executor
    _until(lambda: engine.feed.connected, "the feed's socket")
    drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(executor.open_trades()), check=None)
    trade = executor.open_trades()[0]
    with HandTrader(sim, LIVE_KEY) as hand:
        moved = hand.move_stop(trade.symbol, 0.99 if trade.side is Side.LONG else 1.01, keep_cloid=False)
        executor.sync(sim.now_ms(), force=True)
        [stop] = hand.stops(trade.symbol)
        assert stop["cloid"] is None and float(stop["triggerPx"]) == moved
    crash = sim.http.post("/sim/scenario", json={"kind": "price_move", "coin": trade.symbol, "at": "30s", "over": "1s",
                                                 "pct": -6 if trade.side is Side.LONG else 6})
    assert crash.status_code == 200, crash.text
    clock = sim.fake_clock
    while engine.store.trade_by_id(trade.id).is_open:
        assert clock.now_ms() < START_MS + 13 * HOUR_MS, "the owner's stop was never booked"
        clock.advance(STEP_MS / 1000)
        time.sleep(0.005)  # the stream's thread books it
    closed = engine.store.trade_by_id(trade.id)
    assert closed.exit_reason == "stop_loss" and closed.exit_cloid is None
    _until(lambda: any(e == "stop_loss" for e, _ in events), "the stop_loss event")  # the engine's ledger next
    assert trade.symbol in engine.risk.cooldowns(clock.now_ms())
    assert any("by its stop (the owner's)" in str(f.get("text")) for e, f in events if e == "reconciliation")
