"""The synthetic market generator: determinism, chunk consistency, candle sanity, stylised facts, funding."""

from __future__ import annotations

import numpy as np
import pytest

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS
from perpbot.sim.assets import profile
from perpbot.sim.model import CHUNK_BARS, BarGenerator, Bars, funding_rates

ORIGIN_MS = 1_704_067_200_000


def _gen(seed=1, coin="BTC", chunks=10):
    return BarGenerator(coin, profile(coin), seed, ORIGIN_MS).generate(chunks)


def _same(a: Bars, b: Bars) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("t", "o", "h", "l", "c", "v", "n", "low_first", "f1", "f2"))


def test_same_seed_same_bars_and_other_seeds_differ():
    assert _same(_gen(seed=5), _gen(seed=5))
    assert not np.array_equal(_gen(seed=5).c, _gen(seed=6).c)
    assert not np.array_equal(_gen(coin="BTC").c / 60_000, _gen(coin="ETH").c / 3_000)


def test_bars_are_identical_whether_generated_at_once_or_day_by_day():
    gen = BarGenerator("ETH", profile("ETH"), 9, ORIGIN_MS)
    daily = Bars.concat([gen.generate(1) for _ in range(6)])
    at_once = BarGenerator("ETH", profile("ETH"), 9, ORIGIN_MS)
    assert _same(daily, at_once.generate(6))
    assert np.array_equal(gen.funding_noise, at_once.funding_noise) and len(gen.funding_noise) == 6 * 24


def test_bars_are_consistent_candles():
    b = _gen(chunks=5)
    assert len(b) == 5 * CHUNK_BARS and np.all(np.diff(b.t) == MINUTE_MS) and b.t[0] == ORIGIN_MS
    assert np.all(b.l <= np.minimum(b.o, b.c)) and np.all(np.maximum(b.o, b.c) <= b.h) and np.all(b.l > 0)
    assert np.array_equal(b.o[1:], b.c[:-1])  # continuous: each bar opens at the last close
    assert b.o[0] == 60_000.0 and np.all(b.v > 0) and np.all(b.n >= 1)
    assert np.all(b.c == np.round(b.c))  # BTC: 5 significant figures at ~60k are whole dollars
    sol = _gen(coin="SOL", chunks=1)
    assert np.allclose(sol.c * 100, np.round(sol.c * 100))  # SOL ~150: cents
    assert np.all((b.f1 > 0) & (b.f1 < b.f2) & (b.f2 < 1))


def _autocorr(log_close: np.ndarray, k: int) -> float:
    rk = log_close[k::k] - log_close[:-k:k]
    return float(np.corrcoef(rk[:-1], rk[1:])[0, 1])


def test_market_has_volatility_clustering_ranges_and_trends():
    b = _gen(seed=2, chunks=60)
    lc = np.log(b.c)
    r = np.diff(lc)
    hourly = lc[60::60] - lc[:-60:60]
    assert 0.01 < hourly.std() * np.sqrt(24) < 0.05  # BTC-like: a few percent a day
    # Volatility clustering: absolute returns stay correlated an hour apart.
    a = np.abs(r) - np.abs(r).mean()
    assert np.dot(a[:-60], a[60:]) / np.dot(a, a) > 0.05
    # Intraday moves mostly revert: hourly variance is well below 60 one-minute variances ...
    assert hourly.var() / (60 * r.var()) < 0.85 and _autocorr(lc, 60) < -0.1
    # ... while trending stretches make 4-hour moves far less mean-reverting.
    assert _autocorr(lc, 240) > _autocorr(lc, 60) + 0.05


def test_funding_is_small_sign_varying_and_follows_the_premium():
    b = _gen(seed=4, chunks=30)
    hours = ORIGIN_MS + HOUR_MS * np.arange(1, 30 * 24, dtype=np.int64)
    noise = np.random.default_rng(0).standard_normal(len(hours))
    rate, premium = funding_rates(b.t, b.c, hours, noise, profile("BTC").daily_vol)
    assert np.all(np.abs(rate) <= 0.04) and np.abs(rate).max() < 0.001
    assert (rate > 0).any() and (rate < 0).any()
    assert np.corrcoef(rate, premium)[0, 1] > 0.5
    calm = np.abs(premium - 0.0001) <= 0.0005
    assert np.allclose(rate[calm], 0.0000125)  # the interest rate when the premium sits inside the clamp


@pytest.mark.parametrize("coin", ["BTC", "ETH", "SOL", "NEWCOIN"])
def test_every_coin_starts_at_its_profile_price(coin):
    b = BarGenerator(coin, profile(coin), 1, ORIGIN_MS + DAY_MS).generate(1)
    assert b.o[0] == profile(coin).price and b.t[0] == ORIGIN_MS + DAY_MS
