"""Provides the fill rules as pure scalar functions: the one definition paper and backtest share.

Issue 5's "Fill semantics", written once: a fill is the price moved against the trader by the
slippage fraction; the taker fee is charged on every fill's notional; funding at each hourly
funding time is rate x size x the price of the bar starting then (a positive rate: longs pay);
a stop triggers when a bar's range (or a sampled mid) reaches it and fills at the stop price, or
at the bar's open when the market opened beyond it (a gap).

Maker orders (issue 19): a post-only limit rests at a bar's close, on the exchange's price grid (a
tick is the price step at that price: 5 significant figures, at most 6 - szDecimals decimals,
integers always allowed), and fills only when a later bar trades through it by
`execution.maker_fill_ticks` ticks (touching is not filling: the queue ahead is unknown); it fills
at the limit, pays the maker fee and no slippage.

`PaperExecutor` calls these on live prices, the backtest's event loop on stored bars, and the
compiled one-symbol loop (`perpbot.backtest.fastloop`) compiles these very functions with numba,
the way it compiles `perpbot.risk.rules`. So they are written in the subset numba compiles:
floats, ints and bools in and out, no None, no exceptions. Sides are signs (+1.0 long, -1.0
short), which makes a buy `price * (1 + s)` and a sell `price * (1 - s)` one expression, bit for
bit (multiplying by +-1 and adding a negated number are exact in IEEE arithmetic). The comparison
functions also take numpy arrays (elementwise), which the vectorised searches use.
"""

from __future__ import annotations

import math

SIG_FIGS = 5  # perp prices carry at most 5 significant figures (integers always allowed)
PERP_MAX_DECIMALS = 6  # ... and at most 6 - szDecimals decimals
TICK_TOLERANCE = 1e-6  # of a tick: float noise in a price difference never decides a fill


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


def price_decimals(price: float, sz_decimals: int) -> int:
    """Decimals a perp price may carry at `price`: 5 significant figures, at most 6 - szDecimals, never < 0."""
    magnitude = math.floor(math.log10(price))
    return max(0, min(PERP_MAX_DECIMALS - sz_decimals, SIG_FIGS - 1 - magnitude))


def tick_size(price: float, sz_decimals: int) -> float:
    """The exchange's price step at `price`."""
    return 10.0 ** -price_decimals(price, sz_decimals)


def maker_quote(sign: float, price: float, sz_decimals: int) -> tuple[float, float]:
    """A post-only limit at `price` on the price grid, rounded away from crossing (a buy down, a sell
    up), and the tick there. (price_decimals is written out here: the compiled loop compiles this
    function alone.) A whole number of steps divided by an exact power of ten is the double nearest
    the decimal, the same in Python and compiled (round(x, n) is not)."""
    decimals = max(0, min(PERP_MAX_DECIMALS - sz_decimals, SIG_FIGS - 1 - math.floor(math.log10(price))))
    scale = 10.0 ** decimals
    steps = price * scale
    steps = math.floor(steps + TICK_TOLERANCE) if sign > 0 else math.ceil(steps - TICK_TOLERANCE)
    return steps / scale, 1.0 / scale


def maker_limit(sign: float, price: float, sz_decimals: int) -> float:
    """`maker_quote`'s limit alone."""
    return maker_quote(sign, price, sz_decimals)[0]


def maker_filled(sign: float, low: float, high: float, limit: float, tick: float, fill_ticks: float) -> bool:
    """Does a bar (or a sampled price as both low and high) trade through a resting limit of direction
    `sign` by `fill_ticks` ticks? A buy needs low <= limit - fill_ticks ticks, a sell high >= limit + them."""
    through = limit - low if sign > 0 else high - limit
    return through >= (fill_ticks - TICK_TOLERANCE) * tick


def maker_fee(size: float, price: float, fee_rate: float) -> float:
    """The maker fee on a resting order's fill (negative: a rebate)."""
    return abs(size) * price * fee_rate
