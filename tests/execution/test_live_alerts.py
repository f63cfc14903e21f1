"""What a live engine tells the operator when the exchange will not do what it asks (QA finding 3): an
entry the account lacks the margin for, an exit on a halted coin; each is a log line (and an alert)."""

from __future__ import annotations

import logging

import pytest

from perpbot.clock import HOUR_MS
from perpbot.execution import commands

from engine_harness import START_MS
from live_engine_harness import drive_checked, live_engine, live_settings, live_sim



def test_an_entry_beyond_the_free_margin_is_skipped_with_one_alert_not_sent_every_bar(tmp_path, caplog):
    with live_sim(seed=3, funds_usd=2_000) as sim:
        settings = live_settings(sim, tmp_path, risk={"notional_usd": 20_000})
        events: list = []
        engine = live_engine(sim, settings, events)
        try:
            with caplog.at_level(logging.WARNING):
                drive_checked(engine, sim, START_MS + 12 * HOUR_MS)
            assert not [o for o in sim.ledger.orders.values() if o.status == "perpMarginRejected"]  # never sent
            refused = [r for r in caplog.records if r.msg == "entry_refused_margin"]
            assert len(refused) >= 2 and refused[0].margin_needed > refused[0].margin_free
            skipped = [f["text"] for e, f in events if e == "error" and "entry skipped" in f["text"]]
            # Alerted once per coin and spell (until an entry on it fits again), not at every bar it is refused.
            assert 1 <= len(skipped) and 4 * len(skipped) <= len(refused)
            assert "needs" in skipped[0] and "risk.notional_usd" in skipped[0]
        finally:
            engine.close()


def test_an_exit_the_exchange_refuses_is_in_the_log_the_close_command_points_to(tmp_path, caplog):
    with live_sim(seed=3) as sim:
        engine = live_engine(sim, live_settings(sim, tmp_path))  # no alert hook: alerts are log lines
        try:
            drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
            coin = engine.executor.open_trades()[0].symbol
            answer = sim.http.post("/sim/scenario", json={"kind": "halt", "coin": coin, "at": "1s", "for": "1h"})
            assert answer.status_code == 200, answer.text
            sim.fake_clock.advance(2)
            with caplog.at_level(logging.WARNING), pytest.raises(commands.CommandRefused, match="see the log"):
                engine.execute(commands.ClosePosition(coin))
            [line] = [r for r in caplog.records if "exit not done" in str(getattr(r, "text", ""))]
            assert coin in line.text and "stays open under its stop" in line.text
        finally:
            engine.close()
