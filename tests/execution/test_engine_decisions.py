"""The engine's decision table: `signals` in the snapshot, one row per symbol per bar, risk refusals named."""

from __future__ import annotations

import logging

import pytest

from perpbot.clock import FakeClock
from perpbot.signals.decisions import FIELDS
from perpbot.sim.server import SimOptions, SimServer
from perpbot.ipc.commands import answer

from engine_harness import START_MS, drive, engine_settings, make_engine

STEP = 300_000


def next_bar(engine, clock) -> None:
    drive(engine, clock, clock.now_ms() - clock.now_ms() % STEP + STEP + 1)


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=3, history_days=2, start_ms=START_MS), port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def test_every_symbol_gets_a_row_from_the_first_bar_and_refusals_name_the_control(sim, tmp_path, caplog):
    clock = sim.fake_clock
    engine = make_engine(engine_settings(sim.url, tmp_path / "d.db"), clock)
    try:
        assert answer(engine, "snapshot", {})["data"]["signals"] == []
        answer(engine, "pause", {})
        seen: dict[tuple[str, str], dict] = {}
        with caplog.at_level(logging.INFO, logger="perpbot.signals.decisions"):
            drive(engine, clock, START_MS + STEP + 1)  # one bar close
            rows = answer(engine, "snapshot", {})["data"]["signals"]
            assert [r["symbol"] for r in rows] == ["BTC", "ETH", "SOL"]
            assert all(tuple(r) == FIELDS for r in rows)
            assert all(r["bar_time"] == START_MS for r in rows)  # the bar that closed at START_MS + STEP
            assert all(r["z"] is not None and r["rsi"] is None for r in rows)  # use_rsi is off: null
            for _ in range(24 * 12):
                next_bar(engine, clock)
                for r in answer(engine, "snapshot", {})["data"]["signals"]:
                    seen.setdefault((r["decision"], r["risk"] or ""), r)
                if ("LONG", "paused") in seen or ("SHORT", "paused") in seen:
                    break
        assert {("LONG", "paused"), ("SHORT", "paused")} & set(seen)
        assert ("NONE", "") in seen and seen[("NONE", "")]["reason"] in ("flat", "blocked:bollinger")
        ticks = [r for r in caplog.records if r.getMessage() == "decision"]
        assert len(ticks) % 3 == 0 and {r.symbol for r in ticks} == {"BTC", "ETH", "SOL"}
        assert engine.store.recent_trades(10) == []  # paused: nothing entered
    finally:
        engine.close()


def test_an_open_position_decides_hold_or_close_and_a_timeout_says_so(sim, tmp_path):
    clock = sim.fake_clock
    settings = engine_settings(sim.url, tmp_path / "h.db", risk={"position_timeout_hours": 0.5,
                                                                  "stop_loss_pct": 0.5, "leverage": 1})
    engine = make_engine(settings, clock)
    try:
        reasons: dict[str, set[str]] = {}
        for _ in range(24 * 12):
            next_bar(engine, clock)
            held = {t.symbol for t in engine.executor.open_trades()}
            for r in answer(engine, "snapshot", {})["data"]["signals"]:
                reasons.setdefault(r["decision"], set()).add(r["reason"])
                if r["symbol"] in held and r["decision"] == "NONE":
                    assert r["reason"] == "hold"
            if "timeout" in reasons.get("CLOSE", set()) and "hold" in reasons.get("NONE", set()):
                break
        assert "timeout" in reasons["CLOSE"] and "hold" in reasons["NONE"]
        assert any(r.startswith("entry:z") for r in reasons.get("LONG", set()) | reasons.get("SHORT", set()))
    finally:
        engine.close()


@pytest.mark.parametrize("delay", [0, 1])
def test_an_entry_too_small_to_order_says_size_in_its_row(sim, tmp_path, delay):
    """risk.notional_usd 5 is below the exchange's 10 USD minimum: the row says why nothing opened."""
    clock = sim.fake_clock
    settings = engine_settings(sim.url, tmp_path / "s.db", risk={"sizing": "fixed", "notional_usd": 5},
                               execution={"entry_delay_bars": delay})
    engine = make_engine(settings, clock)
    try:
        sized = []
        for _ in range(24 * 12):
            next_bar(engine, clock)
            rows = answer(engine, "snapshot", {})["data"]["signals"]
            assert not [r for r in rows if r["decision"] in ("LONG", "SHORT") and r["risk"] is None and not delay]
            sized += [r for r in rows if r["risk"] == "size"]
            if sized:
                break
        assert sized and sized[0]["decision"] in ("LONG", "SHORT")
        assert engine.store.recent_trades(10) == []
    finally:
        engine.close()
