"""Hand-built candle series with hand-computed fills, costs and risk decisions.

Strategy for all scenarios: 1h bars, window 4, entry |z| >= 1.5, exit at |z| <= 0.5, every
filter off. Flat bars at 100 then one bar closing at 90 give z = -sqrt(3) = -1.73 (a LONG at
that close, filled at the next open); a close back at 100 gives z = +0.58 (CLOSE).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from bt_data import START_MS, insert_bars

from perpbot.backtest.engine import run_backtest
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.models import FundingRate, Side

H = 3_600_000
FLAT = (100.0, 100.0, 100.0, 100.0)
DROP = (100.0, 100.0, 90.0, 90.0)  # bar 6 in most scenarios: the LONG signal


def make_settings(tmp_path, **sections) -> object:
    raw = {
        "data": {"db_path": str(tmp_path / "bt.db"), "symbols": ["BTC"]},
        "strategy": {"timeframe": "1h", "window": 4, "entry_z": 1.5, "exit_z": 0.5, "use_bollinger": False,
                     "use_rsi": False, "use_adx": False, "use_hurst": False},
        "risk": {"sizing": "fixed", "notional_usd": 1000.0, "stop_loss_pct": 0.02, "cooldown_minutes": 0,
                 "daily_loss_limit_pct": 0.5, "max_positions": 1},
        "execution": {"slippage_bps": 10.0, "taker_fee": 0.001},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return build_settings(raw, source="test")


def run(tmp_path, bars, funding: float | None = None, **sections):
    settings = make_settings(tmp_path, **sections)
    store = Store(settings.db_path)
    store.migrate()
    times = insert_bars(store, "BTC", bars)
    if funding is not None:
        store.insert_funding(FundingRate("BTC", t, funding) for t in times)
    result = run_backtest(settings, store, ["BTC"], START_MS, None, loop="events")
    # Every scenario holds for both loops (the compiled one is the default for long one-symbol runs).
    compiled = run_backtest(settings, store, ["BTC"], START_MS, None, loop="compiled")
    store.close()
    assert compiled.trades == result.trades and compiled.metrics == result.metrics
    assert np.array_equal(compiled.values, result.values)
    return result, times


def test_fees_and_slippage_on_entry_and_exit(tmp_path):
    bars = [FLAT] * 6 + [DROP, (95.0, 101.0, 95.0, 100.0), FLAT, FLAT]
    result, t = run(tmp_path, bars)
    (trade,) = result.trades
    entry, exit_ = 95.0 * 1.001, 100.0 * 0.999
    size = 1000.0 / entry
    fees = 0.001 * size * (entry + exit_)
    assert trade.side is Side.LONG and trade.exit_reason == "signal"
    assert (trade.entry_time, trade.exit_time) == (t[7], t[8])
    assert trade.entry_price == pytest.approx(entry) and trade.exit_price == pytest.approx(exit_)
    assert trade.size == pytest.approx(size)
    assert trade.fees == pytest.approx(fees)
    assert trade.funding == 0.0
    assert trade.pnl == pytest.approx(size * (exit_ - entry) - fees)
    assert result.metrics["final_equity"] == pytest.approx(10_000 + trade.pnl)
    assert result.to_dict()["trades"][0]["slippage"] == pytest.approx(size * (entry - 95.0 + 100.0 - exit_))


@pytest.mark.parametrize("rate", [0.0005, -0.0005])
def test_funding_is_paid_by_longs_on_a_positive_rate_and_received_on_a_negative_one(tmp_path, rate):
    # Entered at bar 7's open (the payment at 7 came first), out at bar 9's open: pays at 8 and 9.
    bars = [FLAT] * 6 + [DROP, (95.0, 96.0, 94.0, 88.0), (88.0, 101.0, 88.0, 100.0), (102.0, 102.0, 100.0, 100.0)]
    result, t = run(tmp_path, bars, funding=rate, risk={"stop_loss_pct": 0.1})
    (trade,) = result.trades
    assert (trade.entry_time, trade.exit_time) == (t[7], t[9])
    expected = trade.size * rate * (88.0 + 102.0)
    assert trade.funding == pytest.approx(expected)
    gross = trade.size * (trade.exit_price - trade.entry_price)
    assert trade.pnl == pytest.approx(gross - trade.fees - expected)


def test_a_short_receives_funding_on_a_positive_rate(tmp_path):
    spike = (100.0, 110.0, 100.0, 110.0)
    bars = [FLAT] * 6 + [spike, (105.0, 105.0, 99.0, 100.0), FLAT, FLAT]
    result, t = run(tmp_path, bars, funding=0.001)
    (trade,) = result.trades
    assert trade.side is Side.SHORT
    assert trade.funding == pytest.approx(-trade.size * 0.001 * 100.0)  # paid at bar 8's open, to the short


def test_an_intrabar_stop_fills_at_the_stop_price(tmp_path):
    bars = [FLAT] * 6 + [DROP, (95.0, 96.0, 90.0, 92.0), FLAT, FLAT]
    result, t = run(tmp_path, bars)
    (trade,) = result.trades
    stop = 95.0 * 1.001 * 0.98
    assert trade.exit_reason == "stop_loss"
    assert trade.stop_price == pytest.approx(stop)
    assert trade.exit_time == t[7]  # the entry bar itself: stops are live from the fill on
    assert trade.exit_price == pytest.approx(stop * 0.999)


def test_a_gap_through_the_stop_fills_at_the_open(tmp_path):
    bars = [FLAT] * 6 + [DROP, (95.0, 95.0, 88.0, 88.0), (80.0, 82.0, 79.0, 81.0), FLAT]
    result, t = run(tmp_path, bars, risk={"stop_loss_pct": 0.1})
    (trade,) = result.trades
    assert trade.exit_reason == "stop_loss" and trade.exit_time == t[8]
    assert trade.exit_price == pytest.approx(80.0 * 0.999)


def test_a_delayed_entry_is_cancelled_when_the_signal_is_gone(tmp_path):
    bars = [FLAT] * 6 + [DROP, (95.0, 101.0, 95.0, 100.0), FLAT, FLAT]
    result, _ = run(tmp_path, bars, execution={"entry_delay_bars": 1})
    assert result.trades == []
    assert result.metrics["entries_blocked"] == {"signal_gone": 1}


def test_a_delayed_entry_fills_one_bar_later_when_the_signal_holds(tmp_path):
    # Bar 7 closes at 80: z = -1.51, still a LONG, so the entry fills at bar 8's open.
    bars = [FLAT] * 6 + [DROP, (90.0, 90.0, 80.0, 80.0), (81.0, 100.0, 81.0, 100.0), FLAT, FLAT]
    result, t = run(tmp_path, bars, execution={"entry_delay_bars": 1}, risk={"stop_loss_pct": 0.1})
    (trade,) = result.trades
    assert trade.entry_time == t[8] and trade.entry_price == pytest.approx(81.0 * 1.001)


def test_a_position_times_out_at_the_next_open(tmp_path):
    # z stays below -0.5 (no signal exit); 2 h old at bar 8's close -> out at bar 9's open.
    bars = [FLAT] * 6 + [DROP, (95.0, 95.0, 88.0, 88.0), (88.0, 88.0, 87.0, 87.0), (87.5, 88.0, 87.0, 87.0), FLAT]
    result, t = run(tmp_path, bars, risk={"stop_loss_pct": 0.1, "position_timeout_hours": 2})
    (trade,) = result.trades
    assert trade.exit_reason == "timeout"
    assert trade.exit_time == t[9] and trade.exit_price == pytest.approx(87.5 * 0.999)


def test_a_position_still_open_at_the_end_closes_at_the_last_close(tmp_path):
    bars = [FLAT] * 6 + [DROP, (95.0, 95.0, 88.0, 88.0)]
    result, t = run(tmp_path, bars, risk={"stop_loss_pct": 0.1})
    (trade,) = result.trades
    assert trade.exit_reason == "end" and trade.exit_time == t[7] + H
    assert trade.exit_price == pytest.approx(88.0 * 0.999)


def _stop_then_signals(later: list[int], total: int) -> list[tuple[float, float, float, float]]:
    """A stop loss on bar 7, then a fresh LONG signal at each bar in `later`."""
    bars = [FLAT] * 6 + [DROP, (95.0, 96.0, 90.0, 92.0)] + [FLAT] * (total - 8)
    for i in later:
        bars[i] = DROP
    return bars


def test_the_daily_loss_cap_blocks_the_next_entry_until_the_next_day(tmp_path):
    # The stop loses ~21 on 10,000: over a 0.1 % cap. Bar 12's signal is refused; bar 30's
    # (06:00 the next day) trades.
    bars = _stop_then_signals([12, 30], 36)
    result, t = run(tmp_path, bars, risk={"daily_loss_limit_pct": 0.001})
    assert [tr.exit_reason for tr in result.trades][0] == "stop_loss"
    assert result.metrics["entries_blocked"] == {"daily_loss_cap": 1}
    assert [tr.entry_time for tr in result.trades] == [t[7], t[31]]


def test_a_cooldown_after_a_stop_loss_blocks_entries_until_it_ends(tmp_path):
    # Stop at 07:00, 6 h cooldown until 13:00: bar 11's signal (at 12:00) is refused, bar 16's trades.
    bars = _stop_then_signals([11, 16], 20)
    result, t = run(tmp_path, bars, risk={"cooldown_minutes": 360})
    assert result.metrics["entries_blocked"] == {"cooldown": 1}
    assert [tr.entry_time for tr in result.trades] == [t[7], t[17]]


def test_a_stop_does_not_use_up_the_bar_decision(tmp_path):
    # Bar 7 is stopped intrabar and closes at 80 (z <= -1.5): the same close opens a new long.
    bars = [FLAT] * 6 + [DROP, (95.0, 96.0, 80.0, 80.0), FLAT, FLAT]
    result, t = run(tmp_path, bars)
    assert [(tr.entry_time, tr.exit_reason) for tr in result.trades] == [(t[7], "stop_loss"), (t[8], "signal")]


def test_metrics_are_finite_and_consistent(tmp_path):
    bars = [FLAT] * 6 + [DROP, (95.0, 101.0, 95.0, 100.0), FLAT, FLAT]
    result, _ = run(tmp_path, bars)
    m = result.metrics
    assert m["trades"] == 1 and m["win_rate"] == 1.0 and m["profit_factor"] is None
    assert m["by_exit_reason"]["signal"]["trades"] == 1
    assert math.isclose(m["net_pnl"], m["final_equity"] - m["initial_equity"])
