"""Maker orders in the backtest (issue 19): hand-built bars with hand-computed fills and counts.

Strategy: 1h bars, window 8, entry |z| >= 1.1, exit at |z| <= 0.5, filters off. Eight flat bars at
100 then a bar closing at 90 give z = -2.65 at bar 8 (a LONG); closes of 90.5 and 91 after it keep
z at -1.67 and -1.18 (the signal stands), a close back at 100 ends it. BTC's stored szDecimals is 4,
so prices near 90 carry 2 decimals: one tick is 0.01, and a resting buy at 90 fills only when a bar's
low reaches 89.99 (`maker_fill_ticks: 1`). Fees: taker 0.1 %, maker 0.02 %, taker slippage 10 bps.
"""

from __future__ import annotations

import pytest
from bt_data import START_MS, insert_bars

from perpbot.backtest.engine import run_backtest
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.models import Side

F = (100.0, 100.0, 100.0, 100.0)
SIGNAL = (100.0, 100.0, 90.0, 90.0)  # bar 8: LONG decided at its close, a buy rests at 90
UP = (90.5, 100.0, 90.5, 100.0)  # back at 100: the entry signal is gone, a long's exit signal comes
TAKER, MAKER, SLIP = 0.001, 0.0002, 0.001


def run(tmp_path, bars, **execution):
    raw = {
        "data": {"db_path": str(tmp_path / "bt.db"), "symbols": ["BTC"]},
        "strategy": {"timeframe": "1h", "window": 8, "entry_z": 1.1, "exit_z": 0.5, "use_bollinger": False,
                     "use_rsi": False, "use_adx": False, "use_hurst": False},
        "risk": {"sizing": "fixed", "notional_usd": 1000.0, "stop_loss_pct": 0.02, "cooldown_minutes": 0,
                 "daily_loss_limit_pct": 0.5, "max_positions": 1},
        "execution": {"slippage_bps": 10.0, "taker_fee": TAKER, "maker_fee": MAKER, "entry_order": "maker",
                      **execution},
    }
    settings = build_settings(raw, source="test")
    store = Store(settings.db_path)
    store.save_sz_decimals({"BTC": 4})
    times = insert_bars(store, "BTC", bars)
    result = run_backtest(settings, store, ["BTC"], START_MS, None, loop="events")
    compiled = run_backtest(settings, store, ["BTC"], START_MS, None, loop="compiled")  # the same, compiled
    store.close()
    assert compiled.trades == result.trades and compiled.metrics == result.metrics
    assert (compiled.values == result.values).all()
    return result, times


def orders(result) -> tuple:
    m = result.metrics["maker_orders"]
    return m["placed"], m["filled"], m["cancelled"], m["expired"], m["reprices"]


def test_a_resting_entry_fills_when_a_bar_trades_through_it(tmp_path):
    bars = [F] * 8 + [SIGNAL, (90.0, 91.0, 89.9, 90.5), UP, F, F]
    result, t = run(tmp_path, bars)
    (trade,) = result.trades
    size = 1000.0 / 90.0
    exit_ = 100.0 * (1 - SLIP)  # the exit decided at bar 10's close is a taker at bar 11's open
    fees = MAKER * size * 90.0 + TAKER * size * exit_
    assert trade.side is Side.LONG and trade.entry_price == 90.0 and trade.expected_entry_price == 90.0
    assert (trade.entry_time, trade.exit_time, trade.exit_reason) == (t[9], t[11], "signal")
    assert trade.size == pytest.approx(size) and trade.fees == pytest.approx(fees)
    assert trade.pnl == pytest.approx(size * (exit_ - 90.0) - fees)
    assert orders(result) == (1, 1, 0, 0, 0)
    assert result.metrics["maker_orders"]["fill_rate"] == 1.0
    assert result.metrics["fees_maker"] == pytest.approx(MAKER * size * 90.0)
    assert result.metrics["fees_taker"] == pytest.approx(TAKER * size * exit_)


def test_a_touch_is_not_a_fill_and_the_order_goes_with_its_signal(tmp_path):
    # Bar 9's low touches 90 (no fill), the signal stands: re-priced to 90.5; bar 10 touches 90.5 and
    # closes at 100, where the signal is gone: cancelled, no trade.
    bars = [F] * 8 + [SIGNAL, (90.0, 91.0, 90.0, 90.5), UP, F, F]
    result, _ = run(tmp_path, bars)
    assert result.trades == []
    assert orders(result) == (1, 0, 1, 0, 1)
    assert result.metrics["maker_orders"]["fill_rate"] == 0.0
    # Where a touch counts as a fill (maker_fill_ticks 0) the same bars fill at 90 in bar 9.
    touched, t = run(tmp_path / "touch", bars, maker_fill_ticks=0)
    assert [(x.entry_time, x.entry_price) for x in touched.trades] == [(t[9], 90.0)]


def test_re_priced_twice_then_filled(tmp_path):
    # 90 at bar 8's close, touched in bar 9 -> 90.5, touched in bar 10 -> 91, traded through in bar 11
    # (low 90.99 is one tick under 91).
    bars = [F] * 8 + [SIGNAL, (90.0, 90.6, 90.0, 90.5), (90.5, 91.2, 90.5, 91.0), (91.0, 91.5, 90.99, 91.2),
                      UP, F, F]
    result, t = run(tmp_path, bars, maker_timeout_bars=5)
    (trade,) = result.trades
    assert (trade.entry_time, trade.entry_price) == (t[11], 91.0)
    assert trade.fees == pytest.approx(MAKER * 1000.0 + TAKER * 1000.0 / 91.0 * 100.0 * (1 - SLIP))
    assert orders(result) == (1, 1, 0, 0, 2)


@pytest.mark.parametrize("fallback", ["cancel", "taker"])
def test_expiry_drops_the_entry_or_crosses_as_a_taker(tmp_path, fallback):
    # Two bars of touches without a fill: the order expires at bar 10's close.
    bars = [F] * 8 + [SIGNAL, (90.0, 90.6, 90.0, 90.5), (90.5, 91.2, 90.5, 91.0), (91.0, 91.5, 91.0, 91.2),
                      UP, F, F]
    result, t = run(tmp_path, bars, maker_timeout_bars=2, maker_fallback=fallback)
    assert orders(result) == (1, 0, 0, 1, 1)
    if fallback == "cancel":
        assert result.trades == []
        return
    (trade,) = result.trades  # crossed at bar 11's open, a taker with slippage
    entry = 91.0 * (1 + SLIP)
    assert (trade.entry_time, trade.entry_price, trade.expected_entry_price) == (t[11], pytest.approx(entry), 91.0)
    assert trade.fees == pytest.approx(TAKER * 1000.0 + TAKER * 1000.0 / entry * 100.0 * (1 - SLIP))
    assert result.metrics["fees_maker"] == 0.0


def test_a_maker_exit_fills_at_its_limit(tmp_path):
    # Entry filled at 90 in bar 9; the exit decided at bar 10's close rests as a sell at 100 and bar
    # 11's high of 100.5 trades through it: out at 100 in bar 11, maker fee, no slippage.
    bars = [F] * 8 + [SIGNAL, (90.0, 91.0, 89.9, 90.5), UP, (100.0, 100.5, 99.5, 100.2), F]
    result, t = run(tmp_path, bars, exit_order="maker")
    (trade,) = result.trades
    size = 1000.0 / 90.0
    assert (trade.exit_time, trade.exit_price, trade.exit_reason) == (t[11], 100.0, "signal")
    assert trade.fees == pytest.approx(MAKER * size * 90.0 + MAKER * size * 100.0)
    assert trade.pnl == pytest.approx(size * 10.0 - trade.fees)
    assert orders(result) == (2, 2, 0, 0, 0)
    assert result.metrics["maker_orders"]["exit_fill_rate"] == 1.0


def test_a_stop_while_the_exit_rests_cancels_the_exit(tmp_path):
    # The exit rests at 100 from bar 10's close; bar 11 only touches 100 and falls through the stop at
    # 90 x 0.98 = 88.2: one close, by the stop (taker, slippage), and the exit order is cancelled.
    bars = [F] * 8 + [SIGNAL, (90.0, 91.0, 89.9, 90.5), UP, (100.0, 100.0, 85.0, 86.0), F]
    result, t = run(tmp_path, bars, exit_order="maker")
    (trade,) = result.trades
    size = 1000.0 / 90.0
    exit_ = 88.2 * (1 - SLIP)
    assert (trade.exit_time, trade.exit_reason) == (t[11], "stop_loss")
    assert trade.exit_price == pytest.approx(exit_)
    assert trade.fees == pytest.approx(MAKER * size * 90.0 + TAKER * size * exit_)
    # The entry filled, the exit was cancelled by the stop; bar 11's close at 86 is a new LONG signal,
    # whose buy at 86 goes when bar 12 closes back at 100: three orders, one filled, two cancelled.
    assert orders(result) == (3, 1, 2, 0, 0)
    assert result.metrics["maker_orders"]["exit_fill_rate"] == 0.0


def test_an_expired_exit_always_crosses(tmp_path):
    # The exit at 100 is only touched for maker_timeout_bars (1) bar: crossed at bar 12's open.
    bars = [F] * 8 + [SIGNAL, (90.0, 91.0, 89.9, 90.5), UP, (100.0, 100.0, 99.5, 100.0), (101.0, 101, 101, 101), F]
    result, t = run(tmp_path, bars, exit_order="maker", maker_timeout_bars=1)
    (trade,) = result.trades
    assert (trade.exit_time, trade.exit_reason) == (t[12], "signal")
    assert trade.exit_price == pytest.approx(101.0 * (1 - SLIP))
    assert orders(result) == (2, 1, 0, 1, 0)


def test_the_decision_table_shows_a_resting_entry_as_pending(tmp_path):
    from perpbot.backtest.decisions import backtest_with_decisions

    bars = [F] * 8 + [SIGNAL, (90.0, 90.6, 90.0, 90.5), (90.5, 91.2, 90.5, 91.0), (91.0, 91.5, 90.99, 91.2), UP, F]
    raw_settings = build_settings({
        "data": {"db_path": str(tmp_path / "bt.db"), "symbols": ["BTC"]},
        "strategy": {"timeframe": "1h", "window": 8, "entry_z": 1.1, "exit_z": 0.5, "use_bollinger": False,
                     "use_rsi": False, "use_adx": False, "use_hurst": False},
        "risk": {"sizing": "fixed", "notional_usd": 1000.0, "cooldown_minutes": 0, "max_positions": 1},
        "execution": {"entry_order": "maker", "maker_timeout_bars": 5}}, source="test")
    store = Store(raw_settings.db_path)
    store.save_sz_decimals({"BTC": 4})
    t = insert_bars(store, "BTC", bars)
    result, rows = backtest_with_decisions(raw_settings, store, ["BTC"], START_MS, None)
    store.close()
    assert result.trades[0].entry_time == t[11]
    by_time = {r.bar_time: r for r in rows}
    assert by_time[t[8]].risk is None  # the accepted decision
    assert [by_time[t[i]].risk for i in (9, 10)] == ["pending_order", "pending_order"]  # resting, signal stands
