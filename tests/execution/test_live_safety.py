"""Issue 14's reproductions, live against the simulator: no doubled position, no daemon killed by one
answer, flatten that stays flat, a close by hand that starts the cooldown."""

from __future__ import annotations

from collections import Counter

from perpbot.clock import HOUR_MS, MINUTE_MS
from perpbot.execution.live.book import Intent
from perpbot.models import Side
from perpbot.ipc.commands import answer

from engine_harness import START_MS
from live_engine_harness import (
    assert_protected,
    drive_checked,
    info_failing,
    live_engine,
    live_settings,
    positions_on_exchange,
    stops_on_exchange,
)


def entry_orders_by_coin(sim) -> Counter:
    """Orders that could open a position (not reduce-only), per coin, as the exchange received them."""
    return Counter(o.coin for o in sim.ledger.orders.values() if not o.reduce_only)


def test_an_entry_whose_fills_cannot_be_read_counts_as_a_position_until_resolved(sim, tmp_path):
    """Reproduction 1: the entry fills, every look-up of its fills fails; the next bars must not open
    a second position on that coin (nor count it out of risk.max_positions)."""
    settings = live_settings(sim, tmp_path, risk={"max_positions": 1})
    engine = live_engine(sim, settings)
    try:
        with info_failing(sim, "userFillsByTime", when=lambda: bool(entry_orders_by_coin(sim))):  # once it entered
            drive_checked(engine, sim, START_MS + 4 * HOUR_MS, failures_ok=True, check=None,
                          done=lambda: bool(positions_on_exchange(sim)))
            [coin] = positions_on_exchange(sim)
            assert engine.executor.open_trades() == [] and engine.state.get("unresolved") == [coin]
            assert stops_on_exchange(sim)[coin]["reduceOnly"]  # protected all along: the stop came attached
            drive_checked(engine, sim, sim.now_ms() + 3 * HOUR_MS, failures_ok=True, check=None)
            assert entry_orders_by_coin(sim) == Counter({coin: 1})  # max_positions 1: no entry anywhere
            assert any(b.startswith("reconciliation failed") for b in engine.state.get("risk_blocks"))
        # The look-ups succeed again: the next look-up (backoff, at most reconcile_minutes) resolves it.
        drive_checked(engine, sim, sim.now_ms() + 10 * MINUTE_MS, check=None,
                      done=lambda: not engine.state.get("unresolved"))
        [trade] = engine.store.recent_trades(10, mode="live")
        assert trade.symbol == coin and engine.state.get("unresolved") == []
        assert_protected(engine, sim)
        assert all(n == 1 for n in entry_orders_by_coin(sim).values())
    finally:
        engine.close()


def test_an_unresolved_entry_counts_against_max_positions(sim, tmp_path):
    """The same rule at the engine's level: an entry intent of unknown outcome is an open position."""
    engine = live_engine(sim, live_settings(sim, tmp_path, risk={"max_positions": 1}))
    try:
        now = sim.now_ms()
        engine.executor.trader.book.remember("0x" + "7062" + "ab" * 14, Intent("entry", "ETH", "long", 1.0, 2000.0,
                                                                               "z=-2", now))
        assert engine._open_symbols() == ["ETH"]
        regime = engine.regime.update(now)
        assert engine.risk.check_entry("ETH", engine._open_symbols(), regime, now).reason == "already_open"
        assert engine.risk.check_entry("BTC", engine._open_symbols(), regime, now).reason == "max_positions"
        assert engine.executor.open("ETH", Side.SHORT, 1.0, "z=2", key=now, now_ms=now) is None
        assert entry_orders_by_coin(sim) == Counter()
    finally:
        engine.close()


def test_a_malformed_answer_fails_the_pass_not_the_daemon(sim, tmp_path):
    """Reproduction 3: clearinghouseState answered with a list; the loop, the alerts and the stop stay."""
    events: list = []
    engine = live_engine(sim, live_settings(sim, tmp_path), events)
    try:
        drive_checked(engine, sim, START_MS + 4 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        [trade] = engine.executor.open_trades()[:1]
        with info_failing(sim, "clearinghouseState", answer="[]"):
            drive_checked(engine, sim, sim.now_ms() + HOUR_MS, failures_ok=True, check=None)
            assert engine.failures.streak >= 5
        errors = [f["text"] for e, f in events if e == "error"]
        assert any(t.startswith("ENGINE FAILING") for t in errors)
        assert len([t for t in errors if t.startswith("engine pass failed")]) <= 1 + HOUR_MS // (10 * MINUTE_MS)
        if trade.symbol in positions_on_exchange(sim):  # still open: its stop never left the exchange
            assert stops_on_exchange(sim)[trade.symbol]["cloid"] == engine.executor.trader.book.stop_cloid(
                trade.entry_cloid)
        drive_checked(engine, sim, sim.now_ms() + 10 * MINUTE_MS)
        assert engine.failures.streak == 0 and any(t.startswith("engine recovered") for _, f in events
                                                    for t in [f.get("text", "")])
    finally:
        engine.close()


def test_flatten_pauses_entries_and_close_starts_the_cooldown(sim, tmp_path):
    """Reproduction 7: after `flatten` no entry opens until `resume`; `close SYMBOL` starts a cooldown."""
    engine = live_engine(sim, live_settings(sim, tmp_path))
    try:
        drive_checked(engine, sim, START_MS + 4 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        symbol = engine.executor.open_trades()[0].symbol
        reply = answer(engine, "close", {"symbol": symbol})
        assert reply["ok"] and reply["data"]["cooldown_until"] == sim.now_ms() + 30 * MINUTE_MS
        assert engine.risk.cooldown_until(symbol, sim.now_ms()) is not None
        drive_checked(engine, sim, sim.now_ms() + 6 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        reply = answer(engine, "flatten", {})
        assert reply["ok"] and reply["data"]["paused"] is True and reply["data"]["still_open"] == []
        assert answer(engine, "snapshot", {})["data"]["paused"] is True
        flat_at, trades = sim.now_ms(), len(engine.store.recent_trades(1000, mode="live"))
        drive_checked(engine, sim, flat_at + 6 * HOUR_MS)
        assert len(engine.store.recent_trades(1000, mode="live")) == trades and positions_on_exchange(sim) == {}
        answer(engine, "resume", {})
        drive_checked(engine, sim, sim.now_ms() + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        assert engine.executor.open_trades()
    finally:
        engine.close()


def test_a_reconciliation_failing_at_startup_blocks_entries_not_the_start(sim, tmp_path):
    """Reproduction 2's other half: the start never fails on reconciliation; entries wait for one to succeed."""
    events: list = []
    with info_failing(sim, "frontendOpenOrders"):
        engine = live_engine(sim, live_settings(sim, tmp_path), events)  # starts
        try:
            assert engine.executor.entry_blocks()[0].startswith("reconciliation failed")
            assert any("no new entries until it succeeds" in f["text"] for e, f in events if e == "error")
            drive_checked(engine, sim, START_MS + 3 * HOUR_MS, failures_ok=True, check=None)
            assert entry_orders_by_coin(sim) == Counter()  # signals came; no entry went out
            assert any(s["reason"] == "blocked:account" for s in engine.state.snapshot()["recent_signals"])
        except BaseException:
            engine.close()
            raise
    try:
        drive_checked(engine, sim, sim.now_ms() + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        assert engine.executor.entry_blocks() == [] and engine.executor.open_trades()
        assert any("succeeded again" in f["text"] for e, f in events if e == "reconciliation")
    finally:
        engine.close()


def test_a_stop_that_fires_between_reading_fills_and_positions_is_booked_as_the_stop(sim, tmp_path):
    """Found running against `perpbot sim` in real time: the stop fired after reconciliation read the
    fills and before it read the positions, and the trade was closed as gone (at the mark, no pnl)."""
    engine = live_engine(sim, live_settings(sim, tmp_path))
    try:
        drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        [trade] = engine.executor.open_trades()[:1]
        market, t = sim.universe[trade.symbol], sim.now_ms()
        crossed = (lambda px: px <= trade.stop_price) if trade.side is Side.LONG else (lambda px: px >= trade.stop_price)
        while not crossed(market.mid(t)):
            t += 60_000
            market.ensure(t)
        original = sim.info._handlers["clearinghouseState"]

        def stop_fires_now(body, now):  # the market reaches the stop just as the positions are read
            sim.info._handlers["clearinghouseState"] = original
            sim.fake_clock.set(t + 60_000)
            return original(body, sim.now_ms())

        sim.info._handlers["clearinghouseState"] = stop_fires_now
        engine.executor.sync(sim.now_ms(), force=True)
        closed = engine.store.trade_by_id(trade.id)
        assert closed.exit_reason == "stop_loss"
        assert engine.store.close_legs(trade.id).size == closed.size  # closed by its fill, not at the mark
    finally:
        engine.close()
