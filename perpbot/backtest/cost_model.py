"""Provides the trading costs of the backtest: fees, slippage and funding.

Conventions (issue 5, "Fill semantics"): slippage moves every fill against the trader by
`execution.slippage_bps` (plus `volatility_slippage` x the decision bar's (high-low)/close);
the taker fee is charged on the notional of every fill; funding follows Hyperliquid's sign
(a positive hourly rate: longs pay shorts), paid on rate x size x the open of the bar that
starts at the funding time, by the position carried into that bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perpbot.config import ExecutionConfig


@dataclass(frozen=True, slots=True)
class CostModel:
    slippage_bps: float
    volatility_slippage: float
    taker_fee: float

    @classmethod
    def from_config(cls, cfg: ExecutionConfig) -> "CostModel":
        return cls(cfg.slippage_bps, cfg.volatility_slippage, cfg.taker_fee)

    def slip(self, bar_range: float = 0.0) -> float:
        """The slippage fraction for one fill; bar_range is (high-low)/close of the decision bar."""
        return self.slippage_bps / 10_000.0 + self.volatility_slippage * bar_range

    def fill_price(self, price: float, buying: bool, bar_range: float = 0.0) -> float:
        """The price after slippage: a buy pays more, a sell receives less."""
        s = self.slippage_bps / 10_000.0 + self.volatility_slippage * bar_range  # slip(), inlined: twice a trade
        return price * (1.0 + s) if buying else price * (1.0 - s)

    def fee(self, size: float, price: float) -> float:
        return abs(size) * price * self.taker_fee


def funding_per_unit(open_: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Cumulative funding a long of size 1 has paid by each bar's open (after that bar's payment).

    A position entered at the open of bar e and leaving at (or during) bar x pays
    `sign x size x (F[x] - F[e])`: the payment at e came before the entry fill, the one at x
    after the position was carried into x.
    """
    paid = rate * open_
    return np.cumsum(paid, out=paid)  # in place: the same sums, one half-million array fewer
