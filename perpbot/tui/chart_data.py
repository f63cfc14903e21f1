"""Provides the price chart's data: closes, the strategy's bands and trade markers (built off the UI thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perpbot.config import StrategyConfig
from perpbot.models import Side, Trade

if TYPE_CHECKING:  # numpy and the store load in the worker that builds the chart, not before the first paint
    import numpy as np

    from perpbot.data.frames import CandleArrays

CHART_BARS = 120
"""Bars on the chart: enough to see a few reversions, few enough to read at 80 columns."""


@dataclass(frozen=True, slots=True)
class Marker:
    """A fill on the chart: bar index, price, and what it was."""

    index: int
    price: float
    kind: str  # long | short | exit


@dataclass(frozen=True, slots=True)
class ChartData:
    symbol: str
    timeframe: str
    t: tuple[int, ...]  # bar open times, epoch ms
    close: tuple[float, ...]
    middle: tuple[float, ...]  # NaN where the window is not yet full
    upper: tuple[float, ...]
    lower: tuple[float, ...]
    markers: tuple[Marker, ...]


def build_chart(symbol: str, timeframe: str, candles: CandleArrays, trades: Sequence[Trade],
                strategy: StrategyConfig, bars: int = CHART_BARS) -> ChartData:
    """The last `bars` bars of `candles` with bands computed over the whole input.

    Pass `bars + strategy.window` candles so the first drawn bar already has its bands.
    """
    from perpbot.signals.indicators import zscore_bands

    _, middle, upper, lower = zscore_bands(candles.close, strategy.window, strategy.bb_std)
    start = max(len(candles) - bars, 0)
    t = candles.t[start:]
    markers: list[Marker] = []
    if len(t):
        for trade in trades:
            if trade.symbol != symbol:
                continue
            kind = "long" if trade.side is Side.LONG else "short"
            _mark(markers, t, trade.entry_time, trade.entry_price, kind)
            if trade.exit_time is not None and trade.exit_price is not None:
                _mark(markers, t, trade.exit_time, trade.exit_price, "exit")
    return ChartData(
        symbol=symbol, timeframe=timeframe, t=tuple(int(x) for x in t),
        close=tuple(float(x) for x in candles.close[start:]), middle=tuple(float(x) for x in middle[start:]),
        upper=tuple(float(x) for x in upper[start:]), lower=tuple(float(x) for x in lower[start:]),
        markers=tuple(markers),
    )


def _mark(markers: list[Marker], t: np.ndarray, when_ms: int, price: float, kind: str) -> None:
    import numpy as np

    # A fill belongs to the bar whose open time is the latest at or before it.
    index = int(np.searchsorted(t, when_ms, side="right")) - 1
    if 0 <= index < len(t):
        markers.append(Marker(index, float(price), kind))
