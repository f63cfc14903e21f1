"""TradingEngine against the in-process simulator on a shared FakeClock: ticks, exits, entries,
commands, snapshot fields, restart recovery, delayed entries, the startup halt."""

from __future__ import annotations

import pytest

from perpbot.clock import DAY_MS, FakeClock
from perpbot.errors import PerpbotError
from perpbot.execution.state import SNAPSHOT_FIELDS
from perpbot.models import Side, Trade
from perpbot.sim.server import SimOptions, SimServer
from perpbot.ipc.commands import answer

from engine_harness import START_MS, drive, drive_until, engine_settings, make_engine


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=3, history_days=2, start_ms=START_MS), port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def test_a_day_of_paper_trading(sim, tmp_path):
    clock, events = sim.fake_clock, []
    engine = make_engine(engine_settings(sim.url, tmp_path / "e.db"), clock, events)
    try:
        ticks = drive(engine, clock, START_MS + DAY_MS // 2, poll_s=60)
        assert ticks == 143  # the boundary at START_MS + 12 h is not reached (until is exclusive)
        trades = engine.store.recent_trades(1000, mode="paper")
        closed = [t for t in trades if not t.is_open]
        assert len(closed) >= 5
        assert {t.exit_reason for t in closed} <= {"signal", "stop_loss", "timeout"}
        assert len({t.entry_cloid for t in trades}) == len(trades)
        # Entries happen only at bar closes; one position per symbol at a time.
        assert all(t.entry_time % 300_000 == 0 for t in trades)
        kinds = {e for e, _ in events}
        assert "trade_open" in kinds and kinds & {"trade_close", "stop_loss"}
        snap = answer(engine, "snapshot", {})["data"]
        assert set(SNAPSHOT_FIELDS) <= set(snap)
        assert snap["last_tick"] == START_MS + DAY_MS // 2 - 300_000
        realized = sum(t.pnl for t in closed)
        unrealized = sum(p["unrealized_pnl"] for p in snap["positions"])
        assert snap["equity"] == pytest.approx(10_000 + realized + unrealized)
        assert snap["pnl_today"] == pytest.approx(realized)
        for p in snap["positions"]:
            assert set(p) == {"symbol", "side", "size", "entry_price", "mark", "unrealized_pnl", "stop",
                              "opened_at", "timeout_at", "liquidation_px", "margin_used"}
            assert p["side"] in ("long", "short")
    finally:
        engine.close()


def test_commands_pause_resume_close_flatten(sim, tmp_path):
    clock = sim.fake_clock
    engine = make_engine(engine_settings(sim.url, tmp_path / "c.db"), clock)
    try:
        assert answer(engine, "ping", {})["ok"]
        assert answer(engine, "bogus", {})["ok"] is False
        assert answer(engine, "close", {})["ok"] is False
        assert answer(engine, "close", {"symbol": "BTC"})["error"].startswith("no open position")
        assert answer(engine, "pause", {})["data"]["paused"] is True
        drive(engine, clock, START_MS + 6 * 3_600_000, poll_s=120)
        assert engine.store.recent_trades(10) == []  # paused: no entries
        assert answer(engine, "snapshot", {})["data"]["paused"] is True
        assert "paused by operator" in answer(engine, "snapshot", {})["data"]["risk_blocks"]
        answer(engine, "resume", {})
        until = clock.now_ms() + DAY_MS // 2
        drive_until(engine, clock, engine.executor.open_trades, until)
        trade = engine.executor.open_trades()[0]
        reply = answer(engine, "close", {"symbol": trade.symbol.lower()})
        assert reply["ok"] and reply["data"]["closed"][0]["symbol"] == trade.symbol
        assert engine.store.trade_by_cloid(trade.entry_cloid).exit_reason == "manual"
        drive_until(engine, clock, engine.executor.open_trades, until + DAY_MS // 2)
        assert engine.executor.open_trades()
        reply = answer(engine, "flatten", {})
        assert reply["ok"] and reply["data"]["still_open"] == []
        assert engine.executor.open_trades() == []
        assert all(t.exit_reason == "flatten" for t in engine.store.recent_trades(1) if t.exit_reason != "manual")
    finally:
        engine.close()


def test_restart_recovers_positions_and_never_repeats_a_decision(sim, tmp_path):
    clock = sim.fake_clock
    settings = engine_settings(sim.url, tmp_path / "r.db")
    engine = make_engine(settings, clock)
    drive_until(engine, clock, engine.executor.open_trades, START_MS + DAY_MS)
    boundary = engine.state.get("last_tick")
    before = {t.entry_cloid for t in engine.executor.open_trades()}
    assert before
    pnl_today = engine.risk.pnl_today(clock.now_ms())
    count = len(engine.store.recent_trades(1000))
    engine.close()  # as if killed after the tick (the DB is the only memory)
    again = make_engine(settings, clock)
    try:
        assert {t.entry_cloid for t in again.executor.open_trades()} == before
        assert again.risk.pnl_today(clock.now_ms()) == pytest.approx(pnl_today)
        again.tick(boundary)  # the same bar again: nothing new may open
        assert len(again.store.recent_trades(1000)) == count
        cloids = [t.entry_cloid for t in again.store.recent_trades(1000)]
        assert len(cloids) == len(set(cloids))
    finally:
        again.close()


def test_risk_ledger_repaired_from_trades_after_a_crash(sim, tmp_path):
    clock = sim.fake_clock
    settings = engine_settings(sim.url, tmp_path / "k.db")
    from perpbot.data.db import Store

    store = Store(settings.db_path)
    clock.set(START_MS + 3_600_000)
    now = clock.now_ms()
    # A stop loss whose booking into the risk ledger was lost (kill -9 between the two writes).
    store.insert_trade(Trade("ETH", Side.LONG, 1.0, now - 600_000, 100.0, mode="paper", exit_time=now - 60_000,
                             exit_price=98.0, pnl=-2.5, exit_reason="stop_loss", entry_cloid="0xlost"))
    store.close()
    engine = make_engine(settings, clock)
    try:
        assert engine.risk.pnl_today(clock.now_ms()) == pytest.approx(-2.5)
        assert "ETH" in engine.risk.cooldowns(clock.now_ms())
        snap = answer(engine, "snapshot", {})["data"]
        assert snap["pnl_today"] == pytest.approx(-2.5) and "ETH" in snap["cooldowns"]
    finally:
        engine.close()


def test_entry_delay_keeps_a_pending_entry_and_fills_a_bar_later(sim, tmp_path):
    clock = sim.fake_clock
    engine = make_engine(engine_settings(sim.url, tmp_path / "d.db", execution={"entry_delay_bars": 1}), clock)
    try:
        drive(engine, clock, START_MS + DAY_MS // 2, poll_s=120)
        signals = engine.state.snapshot()["recent_signals"]
        trades = engine.store.recent_trades(1000)
        assert trades or any(s["action"] == "CANCEL" for s in signals)
        for t in trades:
            assert t.entry_time % 300_000 == 0
    finally:
        engine.close()


def test_losing_weeks_refuse_to_start_unless_forced(sim, tmp_path):
    clock = sim.fake_clock
    settings = engine_settings(sim.url, tmp_path / "h.db")
    from perpbot.data.db import Store

    store = Store(settings.db_path)
    for week in range(1, 4):
        t = START_MS - week * 7 * DAY_MS
        store.insert_trade(Trade("BTC", Side.LONG, 1.0, t, 100.0, mode="paper", exit_time=t + 1000, exit_price=99.0,
                                 pnl=-1.0, exit_reason="signal", entry_cloid=f"0xw{week}"))
    store.close()
    with pytest.raises(PerpbotError, match="losing UTC weeks"):
        make_engine(settings, clock)
    make_engine(settings, clock, force=True).close()
