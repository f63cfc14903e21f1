"""One coin's market: mids along the bar path, forming and aggregated candles, lazy growth, funding slices."""

from __future__ import annotations

import numpy as np
import pytest

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS
from perpbot.sim.market import bucket_end, bucket_start
from perpbot.sim.options import SimOptions
from perpbot.sim.universe import build_universe

START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z, a Monday


@pytest.fixture(scope="module")
def btc():
    return build_universe(SimOptions(seed=8, symbols=["BTC"], history_days=3), START_MS)["BTC"]


def test_mids_follow_each_bar_from_open_through_its_range_to_close(btc):
    b = btc.bars
    for i in range(100, 160):
        t = int(b.t[i])
        mids = [btc.mid(t + ms) for ms in range(0, MINUTE_MS, 1_000)]
        assert mids[0] == b.o[i]
        assert all(b.l[i] <= m <= b.h[i] for m in mids)
        assert btc.mid(t + MINUTE_MS - 1) == pytest.approx(b.c[i], abs=2.0)
        assert btc.mid(t + MINUTE_MS) == b.o[i + 1] == b.c[i]
    # A bar's extremes are really reached by its path, so a stop inside the range is hit by a mid.
    i = 200
    path = [btc.mid(int(b.t[i]) + ms) for ms in range(0, MINUTE_MS, 50)]
    assert min(path) == b.l[i] and max(path) == b.h[i]


def test_forming_candle_is_the_bar_so_far(btc):
    b = btc.bars
    i = 500
    now = int(b.t[i]) + 45_000
    t, close_t, o, h, lo, c, v, n = btc.forming("1m", now)
    assert (t, close_t, o) == (b.t[i], b.t[i] + MINUTE_MS - 1, b.o[i])
    assert c == btc.mid(now) and lo <= min(o, c) <= max(o, c) <= h and b.l[i] <= lo and h <= b.h[i]
    assert 0 < v < b.v[i] and 0 <= n <= b.n[i]
    # The quarter-hour holds the closed minutes plus this partial one.
    q = btc.forming("15m", now)
    first = int(np.searchsorted(b.t, q[0]))
    assert q[0] == now - now % (15 * MINUTE_MS) and q[2] == b.o[first] and q[5] == c
    assert q[3] == max(b.h[first:i].max(), h) and q[4] == min(b.l[first:i].min(), lo)


@pytest.mark.parametrize("interval", ["5m", "15m", "1h", "4h", "1d"])
def test_aggregated_candles_reduce_the_minute_bars(btc, interval):
    b, agg = btc.bars, btc.candles(interval)
    j = len(agg.t) // 2
    inside = (b.t >= agg.t[j]) & (b.t <= agg.close_t[j])
    assert agg.o[j] == b.o[inside][0] and agg.c[j] == b.c[inside][-1]
    assert agg.h[j] == b.h[inside].max() and agg.l[j] == b.l[inside].min()
    assert agg.v[j] == pytest.approx(b.v[inside].sum()) and agg.n[j] == b.n[inside].sum()
    assert np.all(np.diff(agg.t) > 0) and np.all(agg.close_t < b.t[-1] + MINUTE_MS)


def test_bucket_edges_for_weeks_and_months():
    t = np.array([START_MS + 3 * DAY_MS + 5 * HOUR_MS, START_MS + 40 * DAY_MS], dtype=np.int64)
    assert bucket_start(t, "1w").tolist() == [START_MS, START_MS + 35 * DAY_MS]  # Mondays
    months = bucket_start(t, "1M")
    assert months.tolist() == [START_MS, START_MS + 31 * DAY_MS]  # Jan 1, Feb 1
    assert bucket_end(months, "1M").tolist() == [START_MS + 31 * DAY_MS, START_MS + 60 * DAY_MS]  # 2024 is a leap year
    assert bucket_start(t, "4h").tolist() == [START_MS + 3 * DAY_MS + 4 * HOUR_MS, START_MS + 40 * DAY_MS]


def test_growth_on_demand_matches_a_universe_generated_up_front():
    lazy = build_universe(SimOptions(seed=3, symbols=["ETH"], history_days=1), START_MS)["ETH"]
    lazy.ensure(START_MS + 10 * DAY_MS)
    lazy.ensure(START_MS + 30 * DAY_MS)
    # The same history start (START_MS - 1 day), all generated at construction.
    eager = build_universe(SimOptions(seed=3, symbols=["ETH"], history_days=32), START_MS + 31 * DAY_MS)["ETH"]
    n = len(lazy.bars)
    assert lazy.bars.t[-1] >= START_MS + 30 * DAY_MS
    assert np.array_equal(lazy.bars.c, eager.bars.c[:n]) and np.array_equal(lazy.bars.t, eager.bars.t[:n])
    k = len(lazy.funding_t)
    assert np.array_equal(lazy.funding_rate, eager.funding_rate[:k])


def test_funding_slices_and_daily_stats(btc):
    now = START_MS + 2 * HOUR_MS + 30 * MINUTE_MS
    s = btc.funding_slice(START_MS - DAY_MS, now, 10)
    # Each rate lands a few ms after its hour (the exchange's jitter): bucket by hour, never compare exactly.
    hours = btc.funding_t // HOUR_MS * HOUR_MS
    assert s.stop - s.start == 10 and hours[s.start] == START_MS - DAY_MS
    assert np.all(np.diff(hours) == HOUR_MS) and 0 < int((btc.funding_t - hours).min()) and (btc.funding_t - hours).max() < 2_000
    assert len(set((btc.funding_t - hours).tolist())) > 50
    rate, premium = btc.current_funding(now)
    i = int(np.searchsorted(btc.funding_t, START_MS + 2 * HOUR_MS))
    assert rate == btc.funding_rate[i] and premium == btc.funding_premium[i]
    prev, ntl, base = btc.day_stats(now)
    day = (btc.bars.t > now - DAY_MS) & (btc.bars.t < now)
    assert base == pytest.approx(btc.bars.v[day].sum()) and ntl > base * 10_000 and prev > 0
