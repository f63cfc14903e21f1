"""A live engine restarted after time away: what happened while it was down is booked once, and a start
that meets a failing exchange carries on with entries held (QA findings 1 and 10), on the simulator."""

from __future__ import annotations

import pytest

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS, floor_ms
from perpbot.models import Side

from engine_harness import START_MS
from live_engine_harness import assert_protected, drive_checked, live_engine, live_settings, live_sim


@pytest.fixture
def sim():
    with live_sim(seed=3) as server:
        yield server


def _day_sum(engine, now_ms: int) -> float:
    day = floor_ms(now_ms, DAY_MS)
    return sum(t.pnl or 0.0 for t in engine.store.closed_trades(start=day, mode="live"))


def test_a_stop_that_fired_while_the_bot_was_down_counts_once_in_the_days_ledger(sim, tmp_path):
    settings = live_settings(sim, tmp_path)
    first = live_engine(sim, settings)
    drive_checked(first, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(first.executor.open_trades()))
    held = first.executor.open_trades()
    before = first.risk.pnl_today(sim.now_ms())
    first.close()  # the daemon is down; the market runs through the stops
    for trade in held:
        pct = -3 if trade.side is Side.LONG else 3
        answer = sim.http.post("/sim/scenario", json={"kind": "price_move", "coin": trade.symbol, "pct": pct,
                                                      "at": "1m", "over": "1m"})
        assert answer.status_code == 200, answer.text
    sim.fake_clock.advance(10 * 60)
    events: list = []
    again = live_engine(sim, settings, events)
    try:
        again.start()
        closed = [again.store.trade_by_id(t.id) for t in held]
        assert all(t is not None and t.exit_reason == "stop_loss" and t.pnl < 0 for t in closed)
        drive_checked(again, sim, sim.now_ms() + 2 * again.step_ms)  # ticks and polls: no second booking
        now = sim.now_ms()
        assert again.risk.pnl_today(now) == pytest.approx(_day_sum(again, now), abs=1e-9)
        assert again.risk.pnl_today(now) == pytest.approx(before + sum(t.pnl for t in closed), abs=1e-9)
        assert {t.symbol for t in closed} <= set(again.risk.cooldowns(now))
        assert_protected(again, sim)
    finally:
        again.close()
