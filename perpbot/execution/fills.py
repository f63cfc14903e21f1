"""Provides the fill rules as pure scalar functions: the one definition paper and backtest share.

Issue 5's "Fill semantics", written once: a fill is the price moved against the trader by the
slippage fraction; the taker fee is charged on every fill's notional; funding at each hourly
funding time is rate x size x the price of the bar starting then (a positive rate: longs pay);
a stop triggers when a bar's range (or a sampled mid) reaches it and fills at the stop price, or
at the bar's open when the market opened beyond it (a gap).

`PaperExecutor` calls these on live prices, the backtest's event loop on stored bars, and the
compiled one-symbol loop (`perpbot.backtest.fastloop`) compiles these very functions with numba,
the way it compiles `perpbot.risk.rules`. So they are written in the subset numba compiles:
floats, ints and bools in and out, no None, no exceptions. Sides are signs (+1.0 long, -1.0
short), which makes a buy `price * (1 + s)` and a sell `price * (1 - s)` one expression, bit for
bit (multiplying by +-1 and adding a negated number are exact in IEEE arithmetic). The comparison
functions also take numpy arrays (elementwise), which the vectorised searches use.
"""

from __future__ import annotations


def slippage(slippage_bps: float) -> float:
    """The fixed slippage fraction of `execution.slippage_bps`."""
    return slippage_bps / 10_000.0


def slip_fraction(fixed: float, volatility_slippage: float, bar_range: float) -> float:
    """The slippage of one fill: the fixed fraction plus `volatility_slippage` x the decision bar's
    (high - low) / close (0 where no bar is known, as for paper's live fills)."""
    return fixed + volatility_slippage * bar_range


def fill_price(price: float, sign: float, slip: float) -> float:
    """The price a fill gets when `sign` is the direction of the trade: +1 buys (pays more), -1 sells."""
    return price * (1.0 + sign * slip)


def fee(size: float, price: float, taker_fee: float) -> float:
    """The taker fee on one fill's notional."""
    return abs(size) * price * taker_fee


def funding_per_unit(rate: float, price: float) -> float:
    """What a long of size 1 pays at one funding time (negative: receives); elementwise on arrays."""
    return rate * price


def funding_paid(sign: float, size: float, per_unit: float) -> float:
    """What a position pays in funding given the sum of `funding_per_unit` over its funding times."""
    return sign * size * per_unit


def stop_touched(sign: float, low: float, high: float, stop: float) -> bool:
    """Does a price range (a bar's low and high, or one sampled price as both) reach the stop?"""
    return low <= stop if sign > 0 else high >= stop


def stop_fill(sign: float, open_price: float, stop: float) -> float:
    """The price a touched stop fills at, before slippage: the stop, or the open when the bar (or the
    first look after a restart) opened beyond it."""
    gapped = open_price <= stop if sign > 0 else open_price >= stop
    return open_price if gapped else stop


def trade_pnl(sign: float, size: float, entry_price: float, exit_price: float, entry_fee: float, exit_fee: float,
              funding: float) -> float:
    """Realized pnl of a position closed at `exit_price` (its unrealized pnl at a mark with exit_fee 0)."""
    return sign * size * (exit_price - entry_price) - entry_fee - exit_fee - funding
