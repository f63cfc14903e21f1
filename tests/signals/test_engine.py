"""Tests perpbot.signals.engine: the rules, the reasons, and vectorised vs per-bar agreement."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from perpbot.config import StrategyConfig
from perpbot.models import Side
from perpbot.signals.engine import (
    Action,
    BarValues,
    Decision,
    Indicators,
    SignalArrays,
    bar_values,
    compute_indicators,
    decide,
    required_lookback,
    signal_arrays,
)

YEAR_1M = 525_600


def year_of_candles(seed: int, n: int = YEAR_1M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded 1m candles switching every 3000 bars between random walk, mean reversion and trend."""
    rng = np.random.default_rng(seed)
    kind = np.repeat(rng.integers(0, 3, n // 3000 + 1), 3000)[:n]
    drift = np.repeat(rng.choice([-4e-5, 4e-5], n // 3000 + 1), 3000)[:n]
    e = rng.normal(0.0, 5e-4, n)
    walk = np.cumsum(np.where(kind == 1, 0.0, e) + np.where(kind == 2, drift, 0.0))
    shocks = np.where(kind == 1, e * 3, 0.0).tolist()
    level, reverting = 0.0, []
    for shock in shocks:  # an AR(1) level: the Ornstein-Uhlenbeck regime
        level = 0.97 * level + shock
        reverting.append(level)
    close = 30_000.0 * np.exp(walk + np.asarray(reverting))
    wick = np.abs(rng.normal(0.0, 3e-4, (2, n)))
    return close * (1 + wick[0]), close * (1 - wick[1]), close


@pytest.fixture(scope="module")
def year() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return year_of_candles(seed=11)


def values(**overrides: float) -> BarValues:
    """A bar that passes every long filter at the default thresholds, with z = 0."""
    base = {"close": 99.0, "z": 0.0, "upper": 110.0, "lower": 100.0, "rsi": 25.0, "adx": 20.0, "hurst": 0.4}
    return BarValues(**{**base, **overrides})


# --- the per-bar rules --------------------------------------------------------------------


def test_flat_entries_and_reasons() -> None:
    p = StrategyConfig()
    assert decide(values(z=-2.0), None, p) == Decision(Action.LONG, "entry:z<=-2.00")
    short = values(z=2.5, close=111.0, rsi=75.0)
    assert decide(short, None, p) == Decision(Action.SHORT, "entry:z>=2.00")
    assert decide(values(z=-1.99), None, p) == Decision(Action.NONE, "flat")
    assert decide(values(z=math.nan), None, p) == Decision(Action.NONE, "warmup")


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"close": 100.5}, "blocked:bollinger"),
        ({"rsi": 31.0}, "blocked:rsi"),
        ({"adx": 25.5}, "blocked:adx"),
        ({"hurst": 0.51}, "blocked:hurst"),
        ({"rsi": math.nan}, "warmup"),
        ({"hurst": math.nan}, "warmup"),
        ({"rsi": 31.0, "hurst": 0.9}, "blocked:rsi"),  # the first failing filter names the block
    ],
)
def test_filters_block_entries(override: dict[str, float], reason: str) -> None:
    assert decide(values(z=-3.0, **override), None, StrategyConfig()) == Decision(Action.NONE, reason)


def test_disabled_filters_always_pass() -> None:
    plain = StrategyConfig(use_bollinger=False, use_rsi=False, use_adx=False, use_hurst=False)
    blocked_everywhere = values(z=-3.0, close=200.0, rsi=math.nan, adx=99.0, hurst=math.nan)
    assert decide(blocked_everywhere, None, plain).action is Action.LONG
    only_hurst_off = dataclasses.replace(StrategyConfig(), use_hurst=False)
    assert decide(values(z=-3.0, hurst=math.nan), None, only_hurst_off).action is Action.LONG


def test_exits_and_no_reversal_on_the_closing_bar() -> None:
    p = StrategyConfig()
    assert decide(values(z=-0.5), Side.LONG, p) == Decision(Action.CLOSE, "exit:z>=-0.50")
    assert decide(values(z=-0.51), Side.LONG, p) == Decision(Action.NONE, "hold")
    assert decide(values(z=0.5), Side.SHORT, p) == Decision(Action.CLOSE, "exit:z<=0.50")
    assert decide(values(z=0.51), Side.SHORT, p) == Decision(Action.NONE, "hold")
    # overshooting into the opposite entry closes; the reversal waits for the next bar
    assert decide(values(z=3.0, close=111.0, rsi=75.0), Side.LONG, p).action is Action.CLOSE
    assert decide(values(z=math.nan), Side.SHORT, p) == Decision(Action.NONE, "warmup")
    assert Action.LONG.value == "LONG" and Action("CLOSE") is Action.CLOSE


# --- vectorised pass vs per-bar form ---------------------------------------------------------


def expected_action(sig: SignalArrays, i: int, position: Side | None) -> Action:
    """The action the vectorised booleans imply for a bar (the mapping the backtest applies)."""
    if position is Side.LONG:
        return Action.CLOSE if sig.long_exit[i] else Action.NONE
    if position is Side.SHORT:
        return Action.CLOSE if sig.short_exit[i] else Action.NONE
    if sig.long_entry[i]:
        return Action.LONG
    return Action.SHORT if sig.short_entry[i] else Action.NONE


@pytest.mark.parametrize(
    "params",
    [StrategyConfig(), StrategyConfig(use_hurst=False, use_adx=False, entry_z=1.5, window=50)],
    ids=["defaults", "plain-ish"],
)
def test_vectorised_and_per_bar_agree_on_a_year_of_1m_candles(year: tuple[np.ndarray, ...], params: StrategyConfig) -> None:
    high, low, close = year
    ind = compute_indicators(high, low, close, params)
    sig = signal_arrays(ind, close, params)
    assert sig.long_entry.sum() > 100 and sig.short_entry.sum() > 100  # the rules do fire
    columns = [close.tolist()] + [getattr(ind, f).tolist() for f in ("z", "upper", "lower", "rsi", "adx", "hurst")]
    codes = {Action.NONE: 0, Action.LONG: 1, Action.SHORT: 2, Action.CLOSE: 3}
    for position in (None, Side.LONG, Side.SHORT):
        got = np.fromiter((codes[decide(BarValues(*row), position, params).action] for row in zip(*columns)), int, len(close))
        if position is Side.LONG:
            want = np.where(sig.long_exit, 3, 0)
        elif position is Side.SHORT:
            want = np.where(sig.short_exit, 3, 0)
        else:
            want = np.where(sig.long_entry, 1, np.where(sig.short_entry, 2, 0))
        mismatches = np.flatnonzero(got != want)
        assert mismatches.size == 0, f"{position}: first mismatch at bar {mismatches[:1]}"
    for i in (0, 5_000, 123_457, -1):  # bar_values builds the same BarValues
        for position in (None, Side.LONG, Side.SHORT):
            assert decide(bar_values(ind, close, i), position, params).action is expected_action(sig, i, position)


def test_reasons_over_a_stretch_cover_the_vocabulary(year: tuple[np.ndarray, ...]) -> None:
    high, low, close = (a[:60_000] for a in year)
    p = StrategyConfig()
    ind = compute_indicators(high, low, close, p)
    reasons = {decide(bar_values(ind, close, i), None, p).reason for i in range(len(close))}
    assert {"warmup", "flat", "entry:z<=-2.00", "entry:z>=2.00", "blocked:rsi"} <= reasons
    assert all(r.startswith(("warmup", "flat", "entry:", "blocked:")) for r in reasons)


# --- indicators and lookback ---------------------------------------------------------------


def test_compute_indicators_skips_disabled_filters() -> None:
    high, low, close = year_of_candles(seed=3, n=2000)
    ind = compute_indicators(high, low, close, StrategyConfig(use_rsi=False, use_adx=False, use_hurst=False))
    assert isinstance(ind, Indicators)
    assert np.isnan(ind.rsi).all() and np.isnan(ind.adx).all() and np.isnan(ind.hurst).all()
    assert not np.isnan(ind.z[19:]).any() and not np.isnan(ind.lower[19:]).any()
    with pytest.raises(ValueError, match="same shape"):
        compute_indicators(high[:-1], low, close, StrategyConfig())
    with pytest.raises(ValueError, match="shape"):
        signal_arrays(ind, close[:-1], StrategyConfig())


def test_required_lookback() -> None:
    assert required_lookback(StrategyConfig()) == 449  # ADX 14 is the longest
    assert required_lookback(StrategyConfig(use_adx=False)) == 388  # then RSI 14
    plain = StrategyConfig(use_rsi=False, use_adx=False, use_hurst=False, window=30)
    assert required_lookback(plain) == 30
    assert required_lookback(dataclasses.replace(plain, use_hurst=True, hurst_window=250)) == 250


@pytest.mark.parametrize("params", [StrategyConfig(), StrategyConfig(adx_period=5, rsi_period=30, hurst_window=300)])
def test_live_window_reproduces_the_full_history(year: tuple[np.ndarray, ...], params: StrategyConfig) -> None:
    high, low, close = year
    lookback = required_lookback(params)
    for end in (20_000, 300_001, YEAR_1M):
        full = compute_indicators(high[:end], low[:end], close[:end], params)
        live_bars = slice(end - lookback, end)
        live = compute_indicators(high[live_bars], low[live_bars], close[live_bars], params)
        for name in ("z", "middle", "upper", "lower", "rsi", "adx", "hurst"):
            want, got = getattr(full, name)[-1], getattr(live, name)[-1]
            assert not math.isnan(got), name
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), name
