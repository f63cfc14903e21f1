"""Provides the trading costs of the backtest: fees, slippage and funding, on execution/fills.py's rules.

Conventions (issue 5, "Fill semantics"): slippage moves every fill against the trader by
`execution.slippage_bps` (plus `volatility_slippage` x the decision bar's (high-low)/close);
the taker fee is charged on the notional of every fill; funding follows Hyperliquid's sign
(a positive hourly rate: longs pay shorts), paid on rate x size x the open of the bar that
starts at the funding time, by the position carried into that bar. The arithmetic is
`perpbot.execution.fills`, which paper trading and the compiled loop call too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perpbot.config import ExecutionConfig
from perpbot.execution import fills


@dataclass(frozen=True, slots=True)
class CostModel:
    slip: float  # the fixed slippage fraction (execution.slippage_bps / 10,000)
    volatility_slippage: float
    taker_fee: float
    maker_fee: float = 0.0  # a resting order's fill: no slippage, this fee

    @classmethod
    def from_config(cls, cfg: ExecutionConfig) -> "CostModel":
        return cls(fills.slippage(cfg.slippage_bps), cfg.volatility_slippage, cfg.taker_fee, cfg.maker_fee)

    def fill_price(self, price: float, sign: float, bar_range: float = 0.0) -> float:
        """The price after slippage for a trade of direction `sign` (+1 buys, -1 sells); bar_range is
        (high-low)/close of the decision bar."""
        return fills.fill_price(price, sign, fills.slip_fraction(self.slip, self.volatility_slippage, bar_range))

    def fee(self, size: float, price: float) -> float:
        return fills.fee(size, price, self.taker_fee)


def funding_per_unit(open_: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Cumulative funding a long of size 1 has paid by each bar's open (after that bar's payment).

    A position entered at the open of bar e and leaving at (or during) bar x pays
    `fills.funding_paid(sign, size, F[x] - F[e])`: the payment at e came before the entry fill,
    the one at x after the position was carried into x.
    """
    paid = fills.funding_per_unit(rate, open_)  # elementwise, one array
    return np.cumsum(paid, out=paid)  # in place: the same sums, one half-million array fewer
