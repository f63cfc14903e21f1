"""Provides the mean-reversion signal engine: one decision logic in a vectorised and a per-bar form.

The backtest and sweeps call `compute_indicators` then `signal_arrays` over a whole frame; the
live loop calls `compute_indicators` on the latest `required_lookback(params)` closed bars, then
`decide(bar_values(ind, close, -1), position, params)`. Both forms apply the same comparisons to
the same float64 values, so they agree bar for bar (tests/signals/test_engine.py).

Rules (every threshold is a `strategy.*` key):
* flat: LONG when z <= -entry_z and every enabled filter passes: close <= lower band,
  RSI <= rsi_oversold, ADX <= adx_max, Hurst <= hurst_max; SHORT mirrored (z >= entry_z,
  close >= upper band, RSI >= rsi_overbought, same ADX and Hurst filters).
* long open: CLOSE when z >= -exit_z; short open: CLOSE when z <= exit_z. A closing bar opens
  nothing: the caller acts on one decision per bar, so a reversal waits for the next bar.
* NaN policy: a NaN compares false, so a NaN z means no entry and no exit, and a NaN in an
  enabled filter means no entry (reason "warmup"). A disabled filter always passes, and its
  indicator is not computed (all NaN).

Reasons (short, machine-readable): "entry:z<=-2.00", "entry:z>=2.00", "exit:z>=-0.50",
"exit:z<=0.50", "blocked:bollinger" / "blocked:rsi" / "blocked:adx" / "blocked:hurst" (the
first failing filter in that order), "warmup", "hold" (position open, no exit) and "flat"
(no position, z inside the entry thresholds). The decision table (signals/decisions.py) lists
the closed vocabulary, with "timeout" for the risk manager's time exit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perpbot.config import StrategyConfig
from perpbot.models import Side
from perpbot.signals.indicators import (
    FloatArray,
    adx,
    adx_lookback,
    hurst,
    rsi,
    rsi_lookback,
    zscore_bands,
)

BoolArray = NDArray[np.bool_]
FILTERS = ("bollinger", "rsi", "adx", "hurst")
"""Entry filters in the order they are checked (the first failing one names the block)."""


class Action(str, Enum):
    LONG = "LONG"
    SHORT = "SHORT"
    CLOSE = "CLOSE"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str


@dataclass(frozen=True, slots=True)
class Indicators:
    """Float64 arrays as long as the input; a disabled filter's array is all NaN."""

    z: FloatArray
    middle: FloatArray
    upper: FloatArray
    lower: FloatArray
    rsi: FloatArray
    adx: FloatArray
    hurst: FloatArray


@dataclass(frozen=True, slots=True)
class SignalArrays:
    """Per-bar booleans of the vectorised pass; exits apply to an open position of that side."""

    long_entry: BoolArray
    short_entry: BoolArray
    long_exit: BoolArray
    short_exit: BoolArray


@dataclass(frozen=True, slots=True)
class BarValues:
    """One bar's inputs to `decide` (NaN where not computed or still warming up)."""

    close: float
    z: float
    upper: float
    lower: float
    rsi: float
    adx: float
    hurst: float


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    """Every parameter `compute_indicators` reads, and nothing else: its output is a function of these.

    A disabled filter's period is None (its array is all NaN whatever the period). Equal keys mean
    equal indicators, so sweeps share one indicator pass per key (backtest/sensitivity.py); an
    indicator added here is part of the key by construction.
    """

    window: int
    bb_std: float
    rsi_period: int | None
    adx_period: int | None
    hurst_window: int | None


def indicator_key(params: StrategyConfig) -> IndicatorParams:
    """The indicator parameters of a strategy: what `compute_indicators` computes from."""
    return IndicatorParams(params.window, params.bb_std, params.rsi_period if params.use_rsi else None,
                           params.adx_period if params.use_adx else None,
                           params.hurst_window if params.use_hurst else None)


def compute_indicators(high: Any, low: Any, close: Any, params: StrategyConfig) -> Indicators:
    """Every indicator the strategy uses; disabled filters are skipped (left all NaN).

    Args:
        high: bar highs (float64-convertible, one-dimensional).
        low: bar lows.
        close: bar closes.
        params: the strategy section of the settings.

    Returns:
        The indicators, each as long as `close`, NaN during warm-up (see indicators.py).

    Raises:
        ValueError: different lengths, bad parameters, or input breaking the NaN rules.
    """
    jobs = indicator_jobs(high, low, close, params)
    return assemble_indicators({name: job() for name, job in jobs.items()})


# The jobs from the longest-running (numpy path, a year of 1m bars: adx ~26 ms, hurst ~18, bands ~14,
# rsi ~10): a pool running several symbols' jobs starts the long ones first and ends with short ones.
HEAVIEST_FIRST = ("adx", "hurst", "bands", "rsi")


def indicator_jobs(high: Any, low: Any, close: Any, params: StrategyConfig) -> dict[str, Callable[[], Any]]:
    """The independent parts of `compute_indicators`, each a call without arguments, in the order it
    runs them (bands, rsi, adx, hurst; a disabled filter has none): a caller with threads may run them
    side by side (backtest/engine.py `indicators_for`) and hand the results to `assemble_indicators`.

    Raises:
        ValueError: high, low and close of different shapes.
    """
    c = np.asarray(close, dtype=np.float64)
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    if not (h.shape == lo.shape == c.shape):
        raise ValueError(f"high, low and close must have the same shape (got {h.shape}, {lo.shape}, {c.shape})")
    k = indicator_key(params)  # read nothing else from params: the key must cover the output
    jobs: dict[str, Callable[[], Any]] = {"bands": partial(zscore_bands, c, k.window, k.bb_std)}
    if k.rsi_period is not None:
        jobs["rsi"] = partial(rsi, c, k.rsi_period)
    if k.adx_period is not None:
        jobs["adx"] = partial(adx, h, lo, c, k.adx_period)
    if k.hurst_window is not None:
        jobs["hurst"] = partial(hurst, c, k.hurst_window)
    return jobs


def assemble_indicators(results: dict[str, Any]) -> Indicators:
    """The Indicators of `indicator_jobs`' results by name ("bands" gives z and the three bands); a
    job not there (a disabled filter) leaves its array all NaN."""
    z, middle, upper, lower = results["bands"]
    missing = np.full(len(z), np.nan, dtype=np.float64)
    return Indicators(
        z=z,
        middle=middle,
        upper=upper,
        lower=lower,
        rsi=results["rsi"] if "rsi" in results else missing,
        adx=results["adx"] if "adx" in results else missing.copy(),
        hurst=results["hurst"] if "hurst" in results else missing.copy(),
    )


def required_lookback(params: StrategyConfig) -> int:
    """Closed bars the live window needs so its last values equal the full-history ones.

    z-score and bands use exactly `window` bars and Hurst `hurst_window` bars (a value
    depends only on its window). RSI and ADX are recursive (Wilder) filters whose start is
    never fully forgotten: their lookbacks add the bars after which the start-up influence
    is below `WILDER_TOLERANCE` (1e-12), giving 1e-9 relative agreement (388 bars for RSI 14,
    449 for ADX 14). Disabled filters do not count.

    Args:
        params: the strategy section of the settings.

    Returns:
        The number of bars, the last one being the bar to decide on.
    """
    bars = [params.window]
    if params.use_rsi:
        bars.append(rsi_lookback(params.rsi_period))
    if params.use_adx:
        bars.append(adx_lookback(params.adx_period))
    if params.use_hurst:
        bars.append(params.hurst_window)
    return max(bars)


def entry_filters(
    close: Any, upper: Any, lower: Any, rsi_v: Any, adx_v: Any, hurst_v: Any, params: StrategyConfig, long: bool
) -> list[tuple[str, Any, Any]]:
    """(name, value that must not be NaN, passes) per enabled filter, for floats or arrays.

    Both forms of the engine evaluate exactly these comparisons, which is what keeps them equal
    (and the decision table's filter tally, signals/decisions.py, counts with them too).
    """
    checks: list[tuple[str, Any, Any]] = []
    if params.use_bollinger:
        band = lower if long else upper
        checks.append(("bollinger", band, close <= band if long else close >= band))
    if params.use_rsi:
        checks.append(("rsi", rsi_v, rsi_v <= params.rsi_oversold if long else rsi_v >= params.rsi_overbought))
    if params.use_adx:
        checks.append(("adx", adx_v, adx_v <= params.adx_max))
    if params.use_hurst:
        checks.append(("hurst", hurst_v, hurst_v <= params.hurst_max))
    return checks


def filter_key(params: StrategyConfig) -> tuple:
    """The strategy parameters `entry_filters` reads besides the indicators (a sweep's cache key)."""
    return (params.use_bollinger, params.use_rsi, params.rsi_oversold, params.rsi_overbought, params.use_adx,
            params.adx_max, params.use_hurst, params.hurst_max)


def filter_masks(ind: Indicators, close: Any, params: StrategyConfig) -> tuple[BoolArray | None, BoolArray | None]:
    """(long, short): the bars where every enabled entry filter passes, per side (None: no filter)."""
    c = np.asarray(close, dtype=np.float64)
    masks: list[BoolArray | None] = []
    for long in (True, False):
        ok = None
        for _, _, passes in entry_filters(c, ind.upper, ind.lower, ind.rsi, ind.adx, ind.hurst, params, long):
            ok = passes if ok is None else ok & passes
        masks.append(ok)
    return masks[0], masks[1]


def signal_arrays(ind: Indicators, close: Any, params: StrategyConfig,
                  masks: tuple[BoolArray | None, BoolArray | None] | None = None) -> SignalArrays:
    """The vectorised pass: entry and exit booleans for every bar (backtest, sweeps).

    A bar's long_entry is what `decide` returns as LONG when flat; long_exit what it returns
    as CLOSE with a long open (and the same for shorts). NaN compares false, so warm-up bars
    are all False.

    Args:
        ind: from `compute_indicators` on the same bars.
        close: the closes those indicators were computed from.
        params: the strategy section of the settings.
        masks: `filter_masks(ind, close, params)` when the caller has them (a sweep shares them
            between runs that differ only in thresholds); computed when None.

    Returns:
        Four bool arrays as long as `close`.

    Raises:
        ValueError: close and the indicators differ in length.
    """
    c = np.asarray(close, dtype=np.float64)
    if c.shape != ind.z.shape:
        raise ValueError(f"close has shape {c.shape} but the indicators {ind.z.shape}")
    long_ok, short_ok = masks if masks is not None else filter_masks(ind, c, params)
    long_entry, short_entry = ind.z <= -params.entry_z, ind.z >= params.entry_z
    if long_ok is not None:
        long_entry &= long_ok
    if short_ok is not None:
        short_entry &= short_ok
    return SignalArrays(
        long_entry=long_entry,
        short_entry=short_entry,
        long_exit=ind.z >= -params.exit_z,
        short_exit=ind.z <= params.exit_z,
    )


def bar_values(ind: Indicators, close: Any, i: int) -> BarValues:
    """One bar's values for `decide`; `i` indexes like a list (-1 is the latest bar).

    Raises:
        IndexError: i is outside the arrays.
    """
    return BarValues(
        close=float(np.asarray(close, dtype=np.float64)[i]),
        z=float(ind.z[i]),
        upper=float(ind.upper[i]),
        lower=float(ind.lower[i]),
        rsi=float(ind.rsi[i]),
        adx=float(ind.adx[i]),
        hurst=float(ind.hurst[i]),
    )


def entry_reason(side: Side, params: StrategyConfig) -> str:
    """The reason an entry of this side carries ("entry:z<=-2.00"); the backtest names its entries so too."""
    return f"entry:z<=-{params.entry_z:.2f}" if side is Side.LONG else f"entry:z>={params.entry_z:.2f}"


def decide(values: BarValues, position: Side | None, params: StrategyConfig) -> Decision:
    """The per-bar form (live): what to do on this closed bar given the open position.

    Args:
        values: the bar's values, from `bar_values`.
        position: the side of the open position on this symbol, or None when flat.
        params: the strategy section of the settings.

    Returns:
        CLOSE / NONE with a position, LONG / SHORT / NONE when flat, with a reason (see the
        module docstring for the vocabulary).
    """
    z = values.z
    if math.isnan(z):
        return Decision(Action.NONE, "warmup")
    if position is Side.LONG:
        if z >= -params.exit_z:
            return Decision(Action.CLOSE, f"exit:z>=-{params.exit_z:.2f}")
        return Decision(Action.NONE, "hold")
    if position is Side.SHORT:
        if z <= params.exit_z:
            return Decision(Action.CLOSE, f"exit:z<={params.exit_z:.2f}")
        return Decision(Action.NONE, "hold")
    if z <= -params.entry_z:
        long, action, reason = True, Action.LONG, entry_reason(Side.LONG, params)
    elif z >= params.entry_z:
        long, action, reason = False, Action.SHORT, entry_reason(Side.SHORT, params)
    else:
        return Decision(Action.NONE, "flat")
    v = values
    for name, value, passes in entry_filters(v.close, v.upper, v.lower, v.rsi, v.adx, v.hurst, params, long):
        if math.isnan(value):
            return Decision(Action.NONE, "warmup")
        if not passes:
            return Decision(Action.NONE, f"blocked:{name}")
    return Decision(action, reason)
