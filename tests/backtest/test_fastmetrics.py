"""The compiled curve metrics (backtest/fastmetrics.py) against metrics.py's numpy, bit for bit.

A sweep takes the compiled ones once numba is loaded, a short command the numpy ones: the same
run must report the same Sharpe, Sortino, drawdown, its duration and daily returns either way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpbot.backtest import fastmetrics, metrics
from perpbot.backtest.metrics import YEAR_MS, compute_metrics
from perpbot.backtest.trials import daily_returns
from perpbot.clock import DAY_MS

# The reference divides by the zeros and NaNs of the adversarial curves, and numpy says so.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
START = 1_704_067_200_000
STEP = 60_000


@pytest.fixture(scope="module", autouse=True)
def loaded():
    fastmetrics.preload()
    yield
    fastmetrics.LOADED.set()


def _both(fn):
    """fn() with the numpy reference, then with the compiled metrics."""
    fastmetrics.LOADED.clear()
    try:
        reference = fn()
    finally:
        fastmetrics.LOADED.set()
    return reference, fn()


def _same(a, b) -> bool:
    """Equal to the bit: floats by their representation (NaN equals NaN, 0.0 is not -0.0)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and (a == b or (a != a and b != b))
    return type(a) is type(b) and a == b


def _check(times: np.ndarray, equity: np.ndarray, initial: float = 10_000.0, whole: bool = True) -> None:
    """Every metric of the curve (whole), or those fastmetrics.py computes (the CAGR overflows on
    hypothesis' short curves, in both)."""
    if whole:
        ref, fast = _both(lambda: compute_metrics(times, equity, [], STEP, initial))
    else:
        ref, fast = _both(lambda: metrics._curve(times, equity, initial, STEP))
    assert _same(ref, fast), {k: (ref[k], fast[k]) for k in ref if not _same(ref[k], fast[k])}
    ref_daily, fast_daily = _both(lambda: daily_returns(times, equity, initial))
    assert _same(ref_daily, fast_daily)


def _walk(rng: np.random.Generator, n: int, scale: float, level: float = 10_000.0) -> np.ndarray:
    return level + np.cumsum(rng.normal(0.0, scale, n))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 127, 128, 129, 1_000, 8_193, 100_003])
def test_pairwise_sum_is_numpys_sum(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(0.0, 1.0, n) * 10.0 ** rng.integers(-12, 12, n)
    assert fastmetrics.pairwise_sum(a) == a.sum()
    mean = a.mean()
    assert fastmetrics.pairwise_sum(a, fastmetrics.DEV, mean) == np.square(a - mean).sum()
    assert fastmetrics.pairwise_sum(a, fastmetrics.LOSS, 0.0) == np.square(np.minimum(a, 0.0)).sum()


@pytest.mark.parametrize("seed", range(6))
def test_random_curves_equal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40_000))
    times = START + np.arange(n, dtype=np.int64) * STEP
    equity = _walk(rng, n, float(10.0 ** rng.integers(-6, 2)))
    flat = rng.random(n) < 0.6  # mostly flat stretches, as a mean-reversion curve between trades
    equity[flat] = np.nan
    equity = np.where(np.isnan(equity), np.maximum.accumulate(np.nan_to_num(equity, nan=10_000.0)), equity)
    _check(times, equity)


def test_a_year_of_minutes_equal() -> None:
    rng = np.random.default_rng(7)
    n = 525_600
    _check(START + np.arange(n, dtype=np.int64) * STEP, _walk(rng, n, 0.5))


@pytest.mark.parametrize("case", ["flat", "one bar", "two bars", "huge offset", "one-ulp moves", "to zero",
                                  "negative", "nan", "inf", "zero start", "gaps across days", "midnight closes"])
def test_adversarial_curves_equal(case: str) -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    times = START + np.arange(n, dtype=np.int64) * STEP
    equity = _walk(rng, n, 1.0)
    initial = 10_000.0
    if case == "flat":
        equity[:] = initial
    elif case == "one bar":
        times, equity = times[:1], equity[:1]
    elif case == "two bars":
        times, equity = times[:2], equity[:2]
    elif case == "huge offset":
        equity += 1e12
        initial = 1e12
    elif case == "one-ulp moves":
        equity = np.full(n, 1e9)
        equity[::3] = np.nextafter(1e9, np.inf)
        initial = 1e9
    elif case == "to zero":
        equity[n // 2:] = 0.0
    elif case == "negative":
        equity -= 10_050.0
    elif case == "nan":
        equity[100] = np.nan
    elif case == "inf":
        equity[100] = np.inf
    elif case == "zero start":
        equity[0] = 0.0
    elif case == "gaps across days":
        times = START + np.cumsum(rng.integers(1, 3 * DAY_MS // STEP, n)) * STEP
    elif case == "midnight closes":
        times = START + np.arange(n, dtype=np.int64) * (DAY_MS // 4)
    _check(times, equity, initial)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=300),
       st.floats(min_value=1.0, max_value=1e9))
def test_any_curve_equal(moves: list[float], initial: float) -> None:
    equity = initial + np.cumsum(np.asarray(moves))
    times = START + np.arange(len(equity), dtype=np.int64) * (DAY_MS // 7)
    _check(times, equity, initial, whole=False)

