"""Property tests (hypothesis) for perpbot.signals.indicators: shapes, NaN warm-up, price scale."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perpbot.signals import indicators as ind

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


@st.composite
def bars(draw: st.DrawFn, max_size: int = 250) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OHLC from integer log-steps of 0.1%: repeats, flat runs and ties are all likely."""
    steps = draw(st.lists(st.integers(-20, 20), max_size=max_size))
    start = draw(st.floats(1.0, 1e4))
    close = start * np.exp(np.cumsum(np.asarray(steps, dtype=float) * 1e-3))
    spread = np.asarray(draw(st.lists(st.integers(0, 5), min_size=len(steps), max_size=len(steps))), dtype=float)
    return close * (1 + spread * 1e-3), close * (1 - spread * 1e-3), close


def _windows_flat(close: np.ndarray, w: int) -> np.ndarray:
    """Per bar from w - 1 on: is the window ending there flat?"""
    changes = np.concatenate([[0], np.cumsum(np.diff(close) != 0)])
    return (changes[w - 1 :] - changes[: len(close) - w + 1]) == 0


@PROPERTY_SETTINGS
@given(data=bars(), window=st.integers(2, 40), num_std=st.floats(0.0, 4.0))
def test_zscore_and_bands_shape_and_warmup(data: tuple[np.ndarray, ...], window: int, num_std: float) -> None:
    close = data[2]
    z = ind.zscore(close, window)
    middle, upper, lower = ind.bollinger(close, window, num_std)
    for out in (z, middle, upper, lower):
        assert out.shape == close.shape and out.dtype == np.float64
        assert np.isnan(out[: window - 1]).all() and not np.isnan(out[window - 1 :]).any()
    assert (lower <= middle)[window - 1 :].all() and (middle <= upper)[window - 1 :].all()


@PROPERTY_SETTINGS
@given(data=bars(), period=st.integers(2, 30))
def test_rsi_and_adx_shape_warmup_and_range(data: tuple[np.ndarray, ...], period: int) -> None:
    high, low, close = data
    r = ind.rsi(close, period)
    a = ind.adx(high, low, close, period)
    assert r.shape == a.shape == close.shape
    assert np.isnan(r[:period]).all() and not np.isnan(r[period:]).any()
    assert np.isnan(a[: 2 * period - 1]).all() and not np.isnan(a[2 * period - 1 :]).any()
    assert ((r[period:] >= 0) & (r[period:] <= 100)).all()
    assert ((a[2 * period - 1 :] >= 0) & (a[2 * period - 1 :] <= 100 + 1e-9)).all()


@PROPERTY_SETTINGS
@given(data=bars(), window=st.integers(10, 60))
def test_hurst_shape_warmup_and_range(data: tuple[np.ndarray, ...], window: int) -> None:
    close = data[2]
    h = ind.hurst(close, window)
    assert h.shape == close.shape
    assert np.isnan(h[: window - 1]).all()
    if len(close) >= window:
        # after warm-up, NaN exactly where the window is flat (undefined), else in [0, 1]
        np.testing.assert_array_equal(np.isnan(h[window - 1 :]), _windows_flat(close, window))
        defined = h[window - 1 :][~np.isnan(h[window - 1 :])]
        assert ((defined >= 0) & (defined <= 1)).all()


@PROPERTY_SETTINGS
@given(data=bars(), window=st.integers(2, 40), scale=st.sampled_from([1e-3, 0.37, 3.0, 1234.5]))
def test_price_scale_invariance(data: tuple[np.ndarray, ...], window: int, scale: float) -> None:
    high, low, close = data
    np.testing.assert_allclose(ind.zscore(close * scale, window), ind.zscore(close, window), atol=1e-7)
    np.testing.assert_allclose(ind.rsi(close * scale, 14), ind.rsi(close, 14), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ind.hurst(close * scale, 20), ind.hurst(close, 20), atol=1e-9)
    scaled = ind.bollinger(close * scale, window, 2.0)
    for s, b in zip(scaled, ind.bollinger(close, window, 2.0)):
        np.testing.assert_allclose(s, b * scale, rtol=1e-9)


@PROPERTY_SETTINGS
@given(data=bars(), period=st.integers(2, 20), power=st.integers(-12, 12))
def test_adx_scale_invariance(data: tuple[np.ndarray, ...], period: int, power: int) -> None:
    # Powers of two scale exactly, so ties between +DM and -DM (TA-Lib: no movement) survive;
    # any other factor may round a tie into a move, which is a real, not a numeric, change.
    high, low, close = data
    scale = 2.0**power
    np.testing.assert_array_equal(ind.adx(high * scale, low * scale, close * scale, period), ind.adx(high, low, close, period))
