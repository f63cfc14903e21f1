"""Tests the two paths of perpbot.signals.indicators (numpy, compiled) and the live-window promises.

The z-score and bands promise more than closeness: a value depends only on its window's
prices, so the live window gives bit for bit the full history's value at that bar, on either
path, and a flat window reads exactly z = 0 with three equal bands. Hypothesis hunts for a
counterexample on adversarial series: huge offsets with tiny moves, moves of 1e-12, long flat
runs, and live windows starting anywhere. The Wilder filters and Hurst promise 1e-9 (their
documented lookbacks), which is checked at random window ends on both paths.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba.core import config as numba_config

from perpbot.signals import indicators as ind

PROPERTY_SETTINGS = settings(max_examples=80, deadline=None, derandomize=True)
PATHS = ("numpy", "compiled")


@st.composite
def adversarial_closes(draw: st.DrawFn, max_size: int = 160) -> np.ndarray:
    """Prices where rounding has room to show: a level (1e9, 1, 1e-6, ...) plus moves of a few
    units of a tiny step (an ulp at 1e9, 1e-12 at 1, ...), zero steps (flat runs) very likely."""
    level, step = draw(st.sampled_from([(1e9, 2.0**-23), (1e9, 1e-3), (1.0, 1e-12), (1.0, 2.0**-52),
                                        (30_000.0, 0.5), (1e-6, 1e-18), (123.456, 1e-9)]))
    moves = draw(st.lists(st.sampled_from([0, 0, 0, 1, -1, 2, -3, 7]), min_size=1, max_size=max_size))
    return level + np.cumsum(np.asarray(moves, dtype=np.float64)) * step


def flat_windows(close: np.ndarray, w: int) -> np.ndarray:
    """Per bar from w - 1 on: are all w prices of the window ending there equal?"""
    changes = np.concatenate([[0], np.cumsum(np.diff(close) != 0)])
    return (changes[w - 1 :] - changes[: len(close) - w + 1]) == 0


def bands_on(path: str, close: np.ndarray, window: int, num_std: float) -> tuple[np.ndarray, ...]:
    with ind.use_path(path):
        return ind.zscore_bands(close, window, num_std)


@PROPERTY_SETTINGS
@given(close=adversarial_closes(), window=st.integers(2, 40), num_std=st.floats(0.0, 4.0),
       offset=st.integers(0, 200), paths=st.tuples(st.sampled_from(PATHS), st.sampled_from(PATHS)))
def test_zscore_and_bands_of_a_live_window_are_the_full_history_bit_for_bit(
        close: np.ndarray, window: int, num_std: float, offset: int, paths: tuple[str, str]) -> None:
    full = bands_on(paths[0], close, window, num_std)
    start = min(offset, len(close))
    live = bands_on(paths[1], close[start:], window, num_std)
    for f, lv in zip(full, live):  # z, middle, upper, lower
        np.testing.assert_array_equal(lv[window - 1 :], f[start + window - 1 :])
        assert np.isnan(lv[: window - 1]).all()


@PROPERTY_SETTINGS
@given(close=adversarial_closes(), window=st.integers(2, 40), path=st.sampled_from(PATHS))
def test_flat_windows_are_exactly_zero_and_the_price(close: np.ndarray, window: int, path: str) -> None:
    z, middle, upper, lower = bands_on(path, close, window, 2.0)
    if len(close) < window:
        return
    flat = flat_windows(close, window)
    price = close[window - 1 :][flat]
    assert (z[window - 1 :][flat] == 0.0).all()
    for band in (middle, upper, lower):
        np.testing.assert_array_equal(band[window - 1 :][flat], price)
    assert np.isfinite(z[window - 1 :]).all()


def test_zscore_is_scale_free_at_a_huge_offset() -> None:
    # 1e9 plus moves of one ulp (2^-23): every difference is exact and the scale a power of two,
    # so the z-scores are those of the same moves at 1000
    moves = np.cumsum(np.random.default_rng(5).integers(-3, 4, 500)).astype(np.float64)
    for path in PATHS:
        z_big = bands_on(path, 1e9 + moves * 2.0**-23, 20, 2.0)[0]
        z_small = bands_on(path, 1000.0 + moves, 20, 2.0)[0]
        np.testing.assert_array_equal(z_big, z_small)  # every difference is exact at both levels


@st.composite
def bars(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OHLC from integer log-steps of 0.1% (repeats, flat runs and ties likely)."""
    steps = draw(st.lists(st.integers(-20, 20), min_size=1, max_size=300))
    close = draw(st.floats(1.0, 1e4)) * np.exp(np.cumsum(np.asarray(steps, dtype=float) * 1e-3))
    spread = np.asarray(draw(st.lists(st.integers(0, 5), min_size=len(steps), max_size=len(steps))), dtype=float)
    return close * (1 + spread * 1e-3), close * (1 - spread * 1e-3), close


def on_path(path: str, fn, *args):  # type: ignore[no-untyped-def]
    with ind.use_path(path):
        return fn(*args)


@PROPERTY_SETTINGS
@given(data=bars(), period=st.integers(2, 30), window=st.integers(10, 60))
def test_wilder_filters_and_hurst_agree_across_paths(data: tuple[np.ndarray, ...], period: int, window: int) -> None:
    high, low, close = data
    for fn, args in ((ind.rsi, (close, period)), (ind.adx, (high, low, close, period)), (ind.hurst, (close, window))):
        numpy_values, compiled = on_path("numpy", fn, *args), on_path("compiled", fn, *args)
        np.testing.assert_array_equal(np.isnan(numpy_values), np.isnan(compiled))
        np.testing.assert_allclose(compiled, numpy_values, rtol=1e-11, atol=1e-11, equal_nan=True)


def walk(seed: int, n: int, calm_from: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A walk whose volatility falls 100x from `calm_from` on (the lookbacks' hard case)."""
    rng = np.random.default_rng(seed)
    vol = np.where(np.arange(n) < calm_from, 3e-3, 3e-5)
    close = 100.0 * np.exp(np.cumsum(rng.normal(size=n) * vol))
    return (close * (1 + np.abs(rng.normal(size=n)) * vol / 2), close * (1 - np.abs(rng.normal(size=n)) * vol / 2),
            close)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), period=st.integers(2, 30), end=st.integers(1200, 3000),
       calm_back=st.integers(0, 400), paths=st.tuples(st.sampled_from(PATHS), st.sampled_from(PATHS)))
def test_live_windows_reproduce_the_full_history_at_random_ends(
        seed: int, period: int, end: int, calm_back: int, paths: tuple[str, str]) -> None:
    high, low, close = walk(seed, end, max(end - calm_back, 0))
    full_path, live_path = paths
    rsi_bars, adx_bars = slice(end - ind.rsi_lookback(period), end), slice(end - ind.adx_lookback(period), end)
    checks = [
        (ind.rsi, (close, period), (close[rsi_bars], period), 1e-9),
        (ind.adx, (high, low, close, period), (high[adx_bars], low[adx_bars], close[adx_bars], period), 1e-9),
        (ind.hurst, (close, 100), (close[end - 100 :], 100), 1e-12),
    ]
    for fn, full_args, live_args, rel in checks:
        want, got = on_path(full_path, fn, *full_args)[-1], on_path(live_path, fn, *live_args)[-1]
        assert got == pytest.approx(want, rel=rel, abs=1e-12), fn.__name__


def test_use_path_names_the_choices() -> None:
    with pytest.raises(ValueError, match="path must be one of auto, numpy, compiled"):
        with ind.use_path("fast"):
            pass


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_small_inputs_never_load_numba_and_long_ones_do() -> None:
    code = (
        "import sys, numpy as np\n"
        "from perpbot.config import StrategyConfig\n"
        "from perpbot.signals import indicators as ind\n"
        "from perpbot.signals.engine import compute_indicators\n"
        "c = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 1e-3, 500)))\n"
        "compute_indicators(c * 1.001, c * 0.999, c, StrategyConfig())\n"
        "print('numba' in sys.modules)\n"
        "ind.COMPILED_FROM_BARS = 400\n"
        "ind.zscore(c, 20)\n"
        "print('numba' in sys.modules)\n"
    )
    assert _fresh(code).split() == ["False", "True"]


@pytest.mark.skipif(bool(os.environ.get("NUMBA_CACHE_DIR")), reason="NUMBA_CACHE_DIR chooses the cache")
def test_kernels_cache_under_the_user_cache_dir_and_leave_numba_config_alone() -> None:
    from perpbot.signals import jit, kernels

    ind.preload_compiled()
    # One folder per module, one subfolder per version of the compiled sources (jit.py).
    folder = kernels.CACHE_DIR / "perpbot.signals.kernels" / jit.source_stamp()[:16]
    assert any(folder.glob("kernels._bands-*.nbi"))
    assert numba_config.CACHE_DIR == ""  # other numba code in the process keeps numba's default
