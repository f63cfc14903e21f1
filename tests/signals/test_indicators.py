"""Tests perpbot.signals.indicators: hand-computed values, TA-Lib and loop references, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import talib

from perpbot.signals import indicators as ind

NAN = math.nan


def ohlc(n: int, seed: int, vol: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded geometric random walk with highs and lows around the closes."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    high = close * (1.0 + np.abs(rng.normal(0.0, vol / 2, n)))
    low = close * (1.0 - np.abs(rng.normal(0.0, vol / 2, n)))
    return high, low, close


# --- independent loop references (Wilder's definitions, TA-Lib's seeding) ------------------


def loop_rsi(close: list[float], p: int) -> list[float]:
    out = [NAN] * len(close)
    if len(close) <= p:
        return out
    changes = [close[i] - close[i - 1] for i in range(1, len(close))]
    up = sum(c for c in changes[:p] if c > 0) / p
    down = sum(-c for c in changes[:p] if c < 0) / p
    out[p] = 100 * up / (up + down) if up + down else 50.0
    for i in range(p + 1, len(close)):
        c = changes[i - 1]
        up = (up * (p - 1) + max(c, 0.0)) / p
        down = (down * (p - 1) + max(-c, 0.0)) / p
        out[i] = 100 * up / (up + down) if up + down else 50.0
    return out


def loop_adx(high: list[float], low: list[float], close: list[float], p: int) -> list[float]:
    n = len(close)
    out = [NAN] * n
    if n < 2 * p:
        return out
    plus_s = minus_s = tr_s = 0.0
    dxs: list[float | None] = []
    for i in range(1, n):
        up, down = high[i] - high[i - 1], low[i - 1] - low[i]
        plus = up if up > down and up > 0 else 0.0
        minus = down if down > up and down > 0 else 0.0
        tr = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        if i < p:  # the first p - 1 moves are summed as they are
            plus_s, minus_s, tr_s = plus_s + plus, minus_s + minus, tr_s + tr
            continue
        plus_s = plus_s - plus_s / p + plus
        minus_s = minus_s - minus_s / p + minus
        tr_s = tr_s - tr_s / p + tr
        pdi, mdi = 100 * plus_s / tr_s if tr_s else 0.0, 100 * minus_s / tr_s if tr_s else 0.0
        dxs.append(100 * abs(pdi - mdi) / (pdi + mdi) if tr_s and pdi + mdi else None)
        if i == 2 * p - 1:
            adx_value = sum(d for d in dxs if d is not None) / p
            out[i] = adx_value
        elif i >= 2 * p:
            if dxs[-1] is not None:
                adx_value = (adx_value * (p - 1) + dxs[-1]) / p
            out[i] = adx_value
    return out


def assert_same(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-9, atol: float = 0.0) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(np.asarray(expected)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


# --- hand-computed values -----------------------------------------------------------------


def test_zscore_and_bands_small_hand_computed() -> None:
    np.testing.assert_allclose(ind.zscore([1.0, 2, 3, 4, 5], 2), [NAN, 1, 1, 1, 1], equal_nan=True)
    std = math.sqrt(2 / 3)
    np.testing.assert_allclose(ind.zscore([1.0, 2, 3, 4, 5], 3), [NAN, NAN, 1 / std, 1 / std, 1 / std], equal_nan=True)
    middle, upper, lower = ind.bollinger([1.0, 2.0, 3.0], 3, 2.0)
    np.testing.assert_allclose(middle, [NAN, NAN, 2.0], equal_nan=True)
    np.testing.assert_allclose(upper, [NAN, NAN, 2 + 2 * std], equal_nan=True)
    np.testing.assert_allclose(lower, [NAN, NAN, 2 - 2 * std], equal_nan=True)


def test_rsi_small_hand_computed() -> None:
    # changes +1, +1, -1 at period 2: seed gain 1, loss 0 -> 100; then gain 0.5, loss 0.5 -> 50
    np.testing.assert_allclose(ind.rsi([1.0, 2.0, 3.0, 2.0], 2), [NAN, NAN, 100.0, 50.0], equal_nan=True)


def test_adx_small_hand_computed() -> None:
    high = [10.0, 11.0, 12.0, 11.5, 13.0]
    low = [9.0, 10.0, 10.5, 10.0, 11.0]
    close = [9.5, 10.5, 11.5, 10.5, 12.5]
    # DX = 100 at bar 2 and 20 at bar 3 -> first ADX 60; DX 76.47 at bar 4 -> (60 + 76.47) / 2
    expected = [NAN, NAN, NAN, 60.0, (60.0 + 100 * 1.625 / 2.125) / 2]
    np.testing.assert_allclose(ind.adx(high, low, close, 2), expected, equal_nan=True)
    np.testing.assert_allclose(talib.ADX(np.array(high), np.array(low), np.array(close), 2), expected, equal_nan=True)


# --- references ----------------------------------------------------------------------------


@pytest.mark.parametrize("period", [2, 5, 14, 30])
def test_rsi_matches_talib_and_loop(period: int) -> None:
    _, _, close = ohlc(5000, seed=period)
    ours = ind.rsi(close, period)
    assert_same(ours, talib.RSI(close, period))
    assert_same(ours, np.array(loop_rsi(close.tolist(), period)))


@pytest.mark.parametrize("period", [2, 5, 14, 30])
def test_adx_matches_talib_and_loop(period: int) -> None:
    high, low, close = ohlc(5000, seed=100 + period)
    ours = ind.adx(high, low, close, period)
    assert_same(ours, talib.ADX(high, low, close, period))
    assert_same(ours, np.array(loop_adx(high.tolist(), low.tolist(), close.tolist(), period)))


@pytest.mark.parametrize(("window", "num_std"), [(2, 1.0), (20, 2.0), (50, 2.5)])
def test_bollinger_matches_talib(window: int, num_std: float) -> None:
    _, _, close = ohlc(5000, seed=window)
    middle, upper, lower = ind.bollinger(close, window, num_std)
    t_upper, t_middle, t_lower = talib.BBANDS(close, window, num_std, num_std)
    assert_same(middle, t_middle, rtol=1e-12)
    assert_same(upper, t_upper, rtol=1e-12)
    assert_same(lower, t_lower, rtol=1e-12)


@pytest.mark.parametrize("window", [5, 20, 77])
def test_zscore_matches_pandas_and_exact_windows(window: int) -> None:
    _, _, close = ohlc(3000, seed=window)
    s = pd.Series(close)
    roll = s.rolling(window)
    expected = ((s - roll.mean()) / roll.std(ddof=0)).to_numpy()
    ours = ind.zscore(close, window)
    # pandas' online algorithm drifts by ~1e-10 here; per-window numpy is the tight check
    assert_same(ours, expected, rtol=1e-7, atol=1e-7)
    for i in range(window - 1, len(close), 97):
        w = close[i - window + 1 : i + 1]
        assert ours[i] == pytest.approx((w[-1] - w.mean()) / w.std(), rel=1e-10, abs=1e-12)


def test_zscore_window_two_is_the_sign_of_the_move() -> None:
    _, _, close = ohlc(1000, seed=3)
    np.testing.assert_array_equal(ind.zscore(close, 2)[1:], np.sign(np.diff(close)))


# --- Hurst -------------------------------------------------------------------------------


def log_series(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, 1e-3, n)
    if kind == "random_walk":
        logp = np.cumsum(e)
    elif kind == "trend":
        logp = np.cumsum(e + 2e-4)
    else:  # AR(1) levels (Ornstein-Uhlenbeck) or AR(1) returns (persistent)
        phi = 0.9 if kind == "ou" else 0.5
        x = np.zeros(n)
        for i in range(1, n):
            x[i] = phi * x[i - 1] + e[i]
        logp = x if kind == "ou" else np.cumsum(x)
    return 100.0 * np.exp(logp)


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [("random_walk", 0.47, 0.53), ("ou", 0.0, 0.42), ("persistent", 0.62, 1.0), ("trend", 0.55, 1.0)],
)
def test_hurst_reads_the_regime(kind: str, low: float, high: float) -> None:
    for seed in (1, 2):
        h = ind.hurst(log_series(kind, 40_000, seed), 100)
        assert np.isnan(h[:99]).all() and not np.isnan(h[99:]).any()
        assert low < float(np.mean(h[99:])) < high
        assert ((h[99:] >= 0.0) & (h[99:] <= 1.0)).all()


def test_hurst_lags_and_defined_degenerate_windows() -> None:
    assert ind.hurst_lags(100) == [1, 2, 4, 8, 16]
    assert ind.hurst_lags(10) == [1, 2]
    periodic = np.tile([100.0, 101.0], 30)  # every 2-bar move is exactly zero
    h = ind.hurst(periodic, 20)
    assert (h[19:] == 0.0).all()
    flat_then_moving = np.concatenate([np.full(30, 50.0), 50.0 * np.exp(np.cumsum(np.full(30, 1e-3)))])
    h = ind.hurst(flat_then_moving, 20)
    assert np.isnan(h[:30]).all()  # flat windows are undefined
    assert not np.isnan(h[30:]).any()


# --- edge cases --------------------------------------------------------------------------


def test_flat_prices_give_defined_values() -> None:
    flat = np.full(200, 42.0)
    z = ind.zscore(flat, 20)
    assert np.isnan(z[:19]).all() and (z[19:] == 0.0).all()
    middle, upper, lower = ind.bollinger(flat, 20, 2.0)
    assert (middle[19:] == 42.0).all() and (upper[19:] == 42.0).all() and (lower[19:] == 42.0).all()
    assert (ind.rsi(flat, 14)[14:] == 50.0).all()
    assert (ind.adx(flat, flat, flat, 14)[27:] == 0.0).all()
    assert np.isnan(ind.hurst(flat, 100)).all()


def test_leading_nans_are_missing_bars() -> None:
    high, low, close = ohlc(400, seed=7)
    pad = np.full(25, np.nan)
    cases = [
        lambda h, lo, c: ind.zscore(c, 20),
        lambda h, lo, c: ind.bollinger(c, 20, 2.0)[1],
        lambda h, lo, c: ind.rsi(c, 14),
        lambda h, lo, c: ind.adx(h, lo, c, 14),
        lambda h, lo, c: ind.hurst(c, 100),
    ]
    for fn in cases:
        padded = fn(*(np.concatenate([pad, x]) for x in (high, low, close)))
        assert np.isnan(padded[:25]).all()
        np.testing.assert_array_equal(padded[25:], fn(high, low, close))


def test_nan_after_the_first_bar_and_inf_are_errors() -> None:
    _, _, close = ohlc(100, seed=8)
    gap = close.copy()
    gap[50] = np.nan
    for fn in (lambda x: ind.zscore(x, 20), lambda x: ind.rsi(x), lambda x: ind.hurst(x, 20)):
        with pytest.raises(ValueError, match="NaN at index 50"):
            fn(gap)
    with pytest.raises(ValueError, match="NaN at index 50"):
        ind.adx(close, close, gap)
    bad = close.copy()
    bad[3] = np.inf
    with pytest.raises(ValueError, match="infinite value at index 3"):
        ind.zscore(bad, 5)


def test_too_short_and_empty_input() -> None:
    short = np.array([1.0, 2.0, 3.0])
    for out in (ind.zscore(short, 5), ind.rsi(short, 3), ind.adx(short, short, short, 2), ind.hurst(short, 10)):
        assert out.shape == (3,) and np.isnan(out).all()
    assert all(len(b) == 3 and np.isnan(b).all() for b in ind.bollinger(short, 4, 2.0))
    empty = np.array([], dtype=float)
    assert ind.zscore(empty, 5).shape == (0,) and ind.rsi(empty).shape == (0,)
    assert ind.adx(empty, empty, empty).shape == (0,) and ind.hurst(empty).shape == (0,)
    assert np.isnan(ind.rsi(np.full(10, np.nan))).all()


@pytest.mark.parametrize("bad", [0, -1, 1, 2.5, True, None, "20"])
def test_bad_windows_raise(bad: object) -> None:
    x = np.linspace(1.0, 2.0, 50)
    with pytest.raises(ValueError, match="window"):
        ind.zscore(x, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        ind.bollinger(x, bad, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="period"):
        ind.rsi(x, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="period"):
        ind.adx(x, x, x, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        ind.hurst(x, bad)  # type: ignore[arg-type]


def test_other_bad_input_raises() -> None:
    x = np.linspace(1.0, 2.0, 50)
    with pytest.raises(ValueError, match="window must be >= 10"):
        ind.hurst(x, 9)
    with pytest.raises(ValueError, match="num_std"):
        ind.bollinger(x, 5, -1.0)
    with pytest.raises(ValueError, match="num_std"):
        ind.bollinger(x, 5, math.nan)
    with pytest.raises(ValueError, match="num_std"):
        ind.bollinger(x, 5, True)
    np.testing.assert_array_equal(ind.bollinger(x, 5, np.int64(2))[1], ind.bollinger(x, 5, 2.0)[1])
    with pytest.raises(ValueError, match="one-dimensional"):
        ind.zscore(np.ones((5, 5)), 2)
    with pytest.raises(ValueError, match="same length"):
        ind.adx(x, x[:-1], x)
    with pytest.raises(ValueError, match="must be > 0"):
        ind.hurst(np.concatenate([x, [0.0]]), 10)


def test_inputs_are_not_modified_and_lists_work() -> None:
    high, low, close = ohlc(300, seed=9)
    copies = [a.copy() for a in (high, low, close)]
    ind.zscore(close, 20), ind.bollinger(close, 20, 2.0), ind.rsi(close), ind.adx(high, low, close), ind.hurst(close)
    for a, b in zip((high, low, close), copies):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ind.rsi(close.tolist()), ind.rsi(close))


# --- live equivalence --------------------------------------------------------------------


@pytest.mark.parametrize("period", [2, 5, 14, 30])
def test_wilder_lookbacks_reproduce_full_history(period: int) -> None:
    n = 6000
    rng = np.random.default_rng(period)
    vol = np.where(np.arange(n) < n - 300, 3e-3, 3e-5)  # volatility falls 100x in the lookback
    close = 100.0 * np.exp(np.cumsum(rng.normal(size=n) * vol))
    high = close * (1 + np.abs(rng.normal(size=n)) * vol / 2)
    low = close * (1 - np.abs(rng.normal(size=n)) * vol / 2)
    r_lb, a_lb = ind.rsi_lookback(period), ind.adx_lookback(period)
    for end in (3000, 5800, n):
        full_rsi = ind.rsi(close[:end], period)[-1]
        assert ind.rsi(close[end - r_lb : end], period)[-1] == pytest.approx(full_rsi, rel=1e-9)
        full_adx = ind.adx(high[:end], low[:end], close[:end], period)[-1]
        window = slice(end - a_lb, end)
        assert ind.adx(high[window], low[window], close[window], period)[-1] == pytest.approx(full_adx, rel=1e-9)
    assert ind.rsi_lookback(14) == 388 and ind.adx_lookback(14) == 449
