"""Tests for matching bot trades to backtest trades and splitting the pnl gap, with hand-checked figures.

Backtest: B1 BTC long 1.0 @100->110 (+9.7), B2 ETH short 2.0 @50->48 (+3.9), B3 SOL long 10 @20->19
(-10.05, stop), B4 BTC long 1.0 @105->107 (+1.8). Bot: A1 twin of B1 (late 15 min, smaller, worse
prices), A2 twin of B2 (worse prices, stopped out), A3 BTC *short* and A4 a second ETH short 10 min
after B2 (both extra), A5 twin of B4 still open. B3 was missed.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpbot.clock import HOUR_MS, MINUTE_MS
from perpbot.models import Side, Trade
from perpbot.reporting.compare import CAUSES, MatchedTrade, compare_trades, match_trades

T = 1_704_067_200_000
TOL = 30 * MINUTE_MS


def bt(symbol, side, size, entry_at, entry, exit_at, exit_, fees, funding, reason="signal") -> Trade:
    pnl = side.sign * (exit_ - entry) * size - fees - funding
    return Trade(symbol, side, size, T + entry_at, entry, mode="backtest", exit_time=T + exit_at, exit_price=exit_,
                 fees=fees, funding=funding, pnl=pnl, exit_reason=reason)


def paper(symbol, side, size, entry_at, entry, exit_at=None, exit_=None, fees=0.0, funding=0.0, reason="signal",
          expected=(None, None)) -> Trade:
    pnl = None if exit_ is None else side.sign * (exit_ - entry) * size - fees - funding
    return Trade(symbol, side, size, T + entry_at, entry, mode="paper", exit_time=None if exit_at is None else T + exit_at,
                 exit_price=exit_, fees=fees, funding=funding, pnl=pnl, exit_reason=reason if exit_ else None,
                 expected_entry_price=expected[0], expected_exit_price=expected[1])


BACKTEST = [
    bt("BTC", Side.LONG, 1.0, 0, 100.0, 2 * HOUR_MS, 110.0, 0.2, 0.1),
    bt("ETH", Side.SHORT, 2.0, HOUR_MS, 50.0, 3 * HOUR_MS, 48.0, 0.1, 0.0),
    bt("SOL", Side.LONG, 10.0, 5 * HOUR_MS, 20.0, 6 * HOUR_MS, 19.0, 0.05, 0.0, "stop_loss"),
    bt("BTC", Side.LONG, 1.0, 10 * HOUR_MS, 105.0, 12 * HOUR_MS, 107.0, 0.2, 0.0),
]
ACTUAL = [
    paper("BTC", Side.LONG, 0.9, 15 * MINUTE_MS, 100.5, 135 * MINUTE_MS, 109.5, 0.25, 0.1, expected=(100.0, 110.0)),
    paper("BTC", Side.SHORT, 1.0, 20 * MINUTE_MS, 100.0, HOUR_MS, 99.0, 0.1),
    paper("ETH", Side.SHORT, 2.0, HOUR_MS, 49.9, 3 * HOUR_MS, 48.2, 0.12, 0.02, "stop_loss", expected=(50.0, 48.0)),
    paper("ETH", Side.SHORT, 1.0, 70 * MINUTE_MS, 50.0, 2 * HOUR_MS, 49.0, 0.05),
    paper("BTC", Side.LONG, 1.0, 10 * HOUR_MS + 5 * MINUTE_MS, 105.2),
]


@pytest.fixture
def comparison():
    return compare_trades(ACTUAL, BACKTEST, tolerance_ms=TOL)


def test_trades_are_matched_one_to_one(comparison):
    assert [(m.actual, m.backtest) for m in comparison.matched] == [
        (ACTUAL[0], BACKTEST[0]), (ACTUAL[2], BACKTEST[1]), (ACTUAL[4], BACKTEST[3])]
    assert comparison.missed == (BACKTEST[2],)
    assert comparison.extra == (ACTUAL[1], ACTUAL[3])  # wrong side; a second ETH short beaten to B2 by A2
    assert comparison.match_rate == 0.75
    assert comparison.exit_reason_mismatches == 1


def test_pair_timing_and_price_differences(comparison):
    a1, a2, a5 = comparison.matched
    assert (a1.entry_delay_ms, a1.exit_delay_ms) == (15 * MINUTE_MS, 15 * MINUTE_MS)
    assert a1.entry_diff_bps == pytest.approx(50.0)  # paid 100.5 for a long the backtest got at 100
    assert a1.exit_diff_bps == pytest.approx(0.5 / 110 * 10_000)
    assert a2.entry_diff_bps == pytest.approx(20.0)  # a short sold 49.9 instead of 50
    assert a2.exit_diff_bps == pytest.approx(0.2 / 48 * 10_000)  # and bought back higher
    assert a5.is_open and a5.exit_delay_ms is None and a5.exit_diff_bps is None and a5.pnl_gap is None
    assert a5.entry_diff_bps == pytest.approx(0.2 / 105 * 10_000)


def test_pair_gap_split_by_cause(comparison):
    a1, a2, a5 = comparison.matched
    c1 = a1.causes
    assert a1.pnl_gap == pytest.approx(7.75 - 9.7)
    assert (c1.size, c1.entry_price, c1.exit_price, c1.fees, c1.funding) == pytest.approx((-1.0, -0.45, -0.45, -0.05, 0.0))
    assert c1.other == pytest.approx(0.0, abs=1e-9)
    c2 = a2.causes
    assert a2.pnl_gap == pytest.approx(3.26 - 3.9)
    assert (c2.size, c2.entry_price, c2.exit_price, c2.fees, c2.funding) == pytest.approx((0.0, -0.2, -0.4, -0.02, -0.02))
    assert a5.causes.total == 0.0


def test_period_gap_and_its_causes_add_up(comparison):
    assert comparison.actual_pnl == pytest.approx(7.75 + 0.9 + 3.26 + 0.95)
    assert comparison.backtest_pnl == pytest.approx(9.7 + 3.9 - 10.05)  # B4's twin is open: left out
    assert comparison.pnl_gap == pytest.approx(9.31)
    c = comparison.causes
    assert (c.missed_trades, c.extra_trades) == pytest.approx((10.05, 1.85))
    assert (c.entry_price, c.exit_price, c.size, c.fees, c.funding) == pytest.approx((-0.65, -0.85, -1.0, -0.07, -0.02))
    assert c.total == pytest.approx(comparison.pnl_gap)


def test_slippage_against_expected_prices(comparison):
    s = comparison.actual_slippage
    assert (s.entries, s.exits) == (2, 2)
    assert s.entry_bps == pytest.approx((50.0 + 20.0) / 2)
    assert s.exit_bps == pytest.approx((0.5 / 110 + 0.2 / 48) / 2 * 10_000)
    assert comparison.backtest_slippage.entry_bps is None  # the seeded backtest recorded none


def test_closest_entries_pair_first_and_ties_go_to_the_earlier_bot_trade():
    actual = [paper("BTC", Side.LONG, 1, 0, 100.0), paper("BTC", Side.LONG, 1, 10 * MINUTE_MS, 100.0)]
    backtest = [bt("BTC", Side.LONG, 1, 5 * MINUTE_MS, 100, HOUR_MS, 101, 0, 0),
                bt("BTC", Side.LONG, 1, 60 * MINUTE_MS, 100, 2 * HOUR_MS, 101, 0, 0)]
    assert match_trades(actual, backtest, TOL) == [(0, 0)]  # 10 min -> 60 min is beyond the tolerance
    assert match_trades(actual, backtest, 50 * MINUTE_MS) == [(0, 0), (1, 1)]


def test_to_dict_is_plain_json(comparison):
    data = json.loads(json.dumps(comparison.to_dict()))
    assert (data["matched"], data["missed"], data["extra"]) == (3, 1, 2)
    assert data["pnl_gap"] == pytest.approx(9.31)
    assert set(data["causes"]) == set(CAUSES)
    assert data["mean_entry_delay_ms"] == pytest.approx((15 + 0 + 5) * MINUTE_MS / 3)
    assert data["pairs"][2]["open"] is True and data["missed_trades"][0]["symbol"] == "SOL"


def test_nothing_to_compare():
    empty = compare_trades([], [])
    assert (empty.matched, empty.missed, empty.extra, empty.match_rate, empty.pnl_gap) == ((), (), (), None, 0.0)


prices = st.floats(min_value=1.0, max_value=1e5)


@settings(max_examples=60, deadline=None)
@given(side=st.sampled_from(list(Side)), ea=prices, eb=prices, xa=prices, xb=prices,
       qa=st.floats(0.001, 100), qb=st.floats(0.001, 100), fa=st.floats(0, 50), fb=st.floats(0, 50),
       ua=st.floats(-20, 20), ub=st.floats(-20, 20))
def test_pair_causes_always_sum_to_the_gap(side, ea, eb, xa, xb, qa, qb, fa, fb, ua, ub):
    pair = MatchedTrade(paper("BTC", side, qa, 0, ea, HOUR_MS, xa, fa, ua), bt("BTC", side, qb, 0, eb, HOUR_MS, xb, fb, ub))
    assert pair.causes.total == pytest.approx(pair.pnl_gap, rel=1e-9, abs=1e-6)
    assert pair.causes.other == pytest.approx(0.0, abs=1e-6 * max(1.0, abs(pair.pnl_gap or 0.0)))


def test_maker_fill_rate_counts_only_orders_that_ended():
    from perpbot.reporting.compare import maker_fill

    rows = [{"outcome": o} for o in ("filled", "filled", "cancelled", "expired", "resting")]
    assert maker_fill(rows) == {"placed": 5, "filled": 2, "cancelled": 1, "expired": 1, "fill_rate": 0.5}
    assert maker_fill([])["fill_rate"] is None
