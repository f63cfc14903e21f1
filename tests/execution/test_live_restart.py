"""A live engine restarted after time away: what happened while it was down is booked once, and a start
that meets a failing exchange carries on with entries held (QA findings 1 and 10), on the simulator."""

from __future__ import annotations

import logging
from contextlib import ExitStack

import pytest

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS, floor_ms
from perpbot.models import Side

from engine_harness import START_MS
from live_engine_harness import assert_protected, drive_checked, info_failing, live_engine, live_settings


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


def _failing_until(sim, kinds: tuple[str, ...], until_ms: int):
    """/info `kinds` answer HTTP 500 while the simulator's clock is before `until_ms`."""
    stack = ExitStack()
    for kind in kinds:
        stack.enter_context(info_failing(sim, kind, when=lambda: sim.now_ms() < until_ms))
    return stack


def test_a_start_during_a_bad_minute_of_the_exchange_waits_it_out(sim, tmp_path, caplog):
    """QA finding 10: meta and userRole failing for 20 s (beyond the client's own retries) delay the start."""
    settings = live_settings(sim, tmp_path)
    with caplog.at_level(logging.WARNING), _failing_until(sim, ("meta", "userRole"), sim.now_ms() + 20_000):
        engine = live_engine(sim, settings)
    try:
        assert [r.what for r in caplog.records if r.msg == "startup_retry"][:1] == ["meta"]
        assert engine.executor.entry_blocks() == [] and sim.now_ms() >= START_MS + 20_000
    finally:
        engine.close()


def test_an_account_unreadable_at_start_holds_entries_instead_of_ending_the_start(sim, tmp_path):
    """QA finding 10: clearinghouseState answering 5xx past the client's retries at start (the engine's first
    publish reads the equity): the engine starts with entries held, and a pass that reads it lifts the hold."""
    events: list = []
    with _failing_until(sim, ("clearinghouseState",), sim.now_ms() + 3 * MINUTE_MS):
        engine = live_engine(sim, live_settings(sim, tmp_path), events)
    try:
        assert any(b.startswith("account state not read yet") for b in engine.risk.blocks())
        assert any("no new entries until it reads" in f["text"] for e, f in events if e == "error")
        with _failing_until(sim, ("clearinghouseState",), START_MS + 3 * MINUTE_MS):
            drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()),
                          failures_ok=True, check=None)
        assert engine.executor.open_trades() and not any("account state" in b for b in engine.risk.blocks())
        assert_protected(engine, sim)
    finally:
        engine.close()


def test_the_exchange_clock_waits_out_a_bad_minute_before_its_first_sample(sim):
    """execution.clock: exchange samples l2Book at construction: a run of 5xx longer than the client's own
    retries is waited out, not a start that ends with "cannot read the time of the exchange"."""
    from perpbot.data.client import HyperliquidClient
    from perpbot.execution.exchange_clock import ExchangeClock

    clock = sim.fake_clock
    with _failing_until(sim, ("l2Book",), START_MS + 40_000), \
            HyperliquidClient(sim.url, clock=clock, max_retries=2, backoff_base_s=0.5) as client:
        following = ExchangeClock(client, "BTC", wall=clock)
    assert clock.now_ms() >= START_MS + 40_000 and following.now_ms() >= START_MS + 40_000
