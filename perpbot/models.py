"""Provides the domain types shared across layers (epoch-ms UTC ints everywhere)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Side(str, Enum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is _LONG else -1


# `Side.LONG` inside `sign` was a look-up on the Enum class (~0.2 us on Python 3.11), and backtests
# ask for the sign several times per trade.
_LONG = Side.LONG


@dataclass(frozen=True, slots=True)
class Candle:
    symbol: str
    interval: str
    t: int  # bar open time, epoch ms
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 0


@dataclass(frozen=True, slots=True)
class FundingRate:
    symbol: str
    time: int  # epoch ms
    rate: float  # hourly rate; positive: longs pay shorts
    premium: float = 0.0


@dataclass(frozen=True, slots=True)
class AssetMeta:
    name: str
    index: int
    sz_decimals: int
    max_leverage: int


@dataclass(slots=True)
class Trade:
    """One round trip (or an open position while exit_time is None), as stored in `trades`."""

    symbol: str
    side: Side
    size: float
    entry_time: int
    entry_price: float
    mode: str = "paper"  # paper | live | backtest
    exit_time: int | None = None
    exit_price: float | None = None
    stop_price: float | None = None
    fees: float = 0.0
    funding: float = 0.0
    pnl: float | None = None  # net of fees and funding, set on exit
    exit_reason: str | None = None
    entry_reason: str = ""
    expected_entry_price: float | None = None
    expected_exit_price: float | None = None
    entry_cloid: str | None = None
    exit_cloid: str | None = None
    id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    @property
    def by_hand(self) -> bool:
        """Opened outside the bot (live: found on the exchange): it is protected, not traded by the strategy."""
        return self.entry_reason in HAND_REASONS


HAND_REASONS = ("manual", "other-bot")


@dataclass(frozen=True, slots=True)
class PredictionSnapshot:
    source: str
    market_id: str
    question: str
    probability: float | None
    status: str  # ok | closed | error | missing
    fetched_at: int
    detail: str = ""
