"""The engine at an operator's edges: a database that stops taking writes mid-run, a regime that
blocks entries from the start, and a stop that the exchange's liquidation would beat."""

from __future__ import annotations

import threading

import pytest

from fakes.storage_faults import DiskFull
from perpbot.clock import DAY_MS, HOUR_MS, FakeClock
from perpbot.config import PredictionConfig
from perpbot.errors import ConfigError
from perpbot.execution.engine_parts import regime_effect
from perpbot.signals.prediction import Regime, RegimeState, fixed_regime
from perpbot.sim.server import SimOptions, SimServer
from perpbot.ipc.commands import answer

from engine_harness import START_MS, drive, drive_until, engine_settings, make_engine


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=3, history_days=2, start_ms=START_MS), port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def run_until(engine, clock: FakeClock, until_ms: int) -> None:
    """The engine's own loop (`run`, which is where a failed pass is caught) on the fake clock until `until_ms`."""
    stop = threading.Event()
    sleep = clock.sleep

    def sleep_then_check(seconds: float) -> None:
        sleep(seconds)
        if clock.now_ms() >= until_ms:
            stop.set()

    clock.sleep = sleep_then_check
    try:
        engine.run(stop)
    finally:
        del clock.sleep


def _storage_alerts(events: list) -> list[str]:
    return [f["text"] for e, f in events if e == "error" and "database" in f["text"]]


def test_a_full_disk_holds_entries_keeps_open_positions_alerts_once_and_recovers(sim, tmp_path, monkeypatch):
    clock, events = sim.fake_clock, []
    engine = make_engine(engine_settings(sim.url, tmp_path / "e.db", execution={"tick_seconds": 120}), clock, events)
    disk = DiskFull(monkeypatch)
    try:
        drive_until(engine, clock, engine.executor.open_trades, START_MS + DAY_MS)
        held = {t.id for t in engine.executor.open_trades()}
        assert held
        trades_before = len(engine.store.recent_trades(1000))
        disk.full = True
        run_until(engine, clock, clock.now_ms() + 3 * HOUR_MS)
        snap = answer(engine, "snapshot", {})["data"]
        blocks = snap["risk_blocks"]
        assert any(b.startswith("storage fault: the disk holding") and b.endswith("retrying") for b in blocks)
        assert 10 < disk.writes_refused < 1000  # it kept trying every pass, without a busy loop, and kept running
        assert len(engine.store.recent_trades(1000)) == trades_before  # no entry while the disk was full
        # No bar could be stored, so no decision came up; one that did would be held (the hold, not luck):
        assert engine.risk.check_entry("ETH", [], fixed_regime("NORMAL", PredictionConfig()), clock.now_ms()).reason \
            == "storage"
        assert _storage_alerts(events) == [
            f"cannot write the database: the disk holding {tmp_path / 'e.db'} is full (database or disk is full). "
            "New entries are stopped, open positions keep their stops; retrying every pass"]
        # A position whose stop or exit came while the disk was full is still open in memory and in the
        # store (nothing half-written), and is booked exactly once when writes work again.
        disk.full = False
        run_until(engine, clock, clock.now_ms() + HOUR_MS)
        snap = answer(engine, "snapshot", {})["data"]
        assert not any(b.startswith("storage fault") for b in snap["risk_blocks"])
        assert _storage_alerts(events)[-1] == "the database takes writes again: entries resume"
        rows = {t.id: t for t in engine.store.recent_trades(1000)}
        for trade_id in held:
            closed = rows[trade_id]
            gross = closed.side.sign * closed.size * ((closed.exit_price or 0.0) - closed.entry_price)
            assert closed.is_open or closed.pnl == pytest.approx(gross - closed.fees - closed.funding)
        drive_until(engine, clock, lambda: len(engine.store.recent_trades(1000)) > trades_before,
                    clock.now_ms() + DAY_MS)
        assert len(engine.store.recent_trades(1000)) > trades_before  # entries resumed
    finally:
        engine.close()


class _ScriptedRegime:
    """The engine's regime port, stepping through given states (one per update)."""

    def __init__(self, states: list[RegimeState]) -> None:
        self.states = list(states)
        self.state = self.states[0]

    def update(self, now_ms: int) -> RegimeState:
        if len(self.states) > 1:
            self.states.pop(0)
        self.state = self.states[0]
        return self.state

    def close(self) -> None:
        pass


def _regime_alerts(events: list) -> list[str]:
    return [f["text"] for e, f in events if e == "regime_change"]


def test_starting_in_crisis_alerts_once_and_lists_the_block(sim, tmp_path):
    clock, events = sim.fake_clock, []
    settings = engine_settings(sim.url, tmp_path / "r.db", prediction={"default_regime": "CRISIS"})
    engine = make_engine(settings, clock, events)
    try:
        assert _regime_alerts(events) == ["regime CRISIS at start: no new entries"]
        drive(engine, clock, START_MS + 4 * HOUR_MS, poll_s=120)
        assert _regime_alerts(events) == ["regime CRISIS at start: no new entries"]  # once, not per tick
        snap = answer(engine, "snapshot", {})["data"]
        assert snap["regime"] == "CRISIS" and "regime CRISIS: no new entries" in snap["risk_blocks"]
        assert engine.store.recent_trades(10) == []
    finally:
        engine.close()


def test_entering_elevated_and_crisis_alerts_each_once(sim, tmp_path):
    clock, events = sim.fake_clock, []
    engine = make_engine(engine_settings(sim.url, tmp_path / "s.db"), clock, events)
    cfg = PredictionConfig()
    normal, elevated = fixed_regime("NORMAL", cfg), fixed_regime("ELEVATED", cfg)
    crisis = RegimeState(Regime.CRISIS, 0.83, 0.0, False, "score above the crisis threshold")
    engine.regime = _ScriptedRegime([normal, elevated, elevated, crisis, crisis, crisis, normal, normal])
    try:
        drive(engine, clock, START_MS + 9 * 5 * 60_000, poll_s=120)
        assert _regime_alerts(events) == ["regime NORMAL -> ELEVATED: sizes x0.5",
                                          "regime ELEVATED -> CRISIS: no new entries",
                                          "regime CRISIS -> NORMAL: normal sizes"]
        assert not any(b.startswith("regime") for b in answer(engine, "snapshot", {})["data"]["risk_blocks"])
    finally:
        engine.close()


def test_regime_blocks_are_listed_while_they_hold():
    cfg = PredictionConfig(elevated_size_factor=0.0)
    assert regime_effect(fixed_regime("ELEVATED", cfg)) == "no new entries"
    assert regime_effect(fixed_regime("ELEVATED", PredictionConfig())) == "sizes x0.5"


def test_a_stop_beyond_an_assets_liquidation_distance_is_refused_at_startup(sim, tmp_path):
    # SOL's maximum leverage on the simulator is 20x: maintenance margin 2.5 %, so at 10x a position is
    # liquidated (0.1 - 0.025) / 1.025 = 7.32 % away; a stop at 8 % would never act. BTC (40x) allows it.
    settings = engine_settings(sim.url, tmp_path / "l.db", data={"symbols": ["BTC", "SOL"]},
                               risk={"leverage": 10, "stop_loss_pct": 0.08})
    with pytest.raises(ConfigError, match=r"risk.stop_loss_pct 0.08 is at or beyond SOL's liquidation distance "
                                          r"0.07317 at risk.leverage 10 \(maintenance margin 0.025") as info:
        make_engine(settings, sim.fake_clock)
    assert "below 0.07317" in info.value.hint
    ok = engine_settings(sim.url, tmp_path / "m.db", data={"symbols": ["BTC"]},
                         risk={"leverage": 10, "stop_loss_pct": 0.08})
    make_engine(ok, sim.fake_clock).close()
    over = engine_settings(sim.url, tmp_path / "n.db", data={"symbols": ["BTC", "SOL"]},
                           risk={"leverage": 30, "stop_loss_pct": 0.01})
    with pytest.raises(ConfigError, match="risk.leverage 30 is above SOL's maximum leverage 20x"):
        make_engine(over, sim.fake_clock)
