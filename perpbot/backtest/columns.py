"""Provides TradeColumns: the fields of a trade list as numpy arrays, for whole-list arithmetic.

The equity curve and the metrics both need the same handful of fields of every trade; pulling
them out of the Trade objects is most of what per-trade Python work is left after a run, so it
is done once (each column on first use) and shared.

Exactness: the reports are compared bit for bit, so sums here keep the order Python's
`sum(list)` (3.11) uses: left to right starting from 0.0. `np.bincount(weights=...)` adds each
bin's weights in input order starting from 0.0, which is exactly that per group; numpy's
`.sum()` is pairwise and is only used where the old code used it too.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from itertools import repeat
from typing import Any

import numpy as np

from perpbot.models import Side, Trade

LONG = Side.LONG


class TradeColumns:
    """Columns of `trades` (in list order); None-able fields are filled as the reports treat them."""

    def __init__(self, trades: list[Trade]) -> None:
        self.trades = trades
        self.n = len(trades)
        # Each trade's entry and exit bar in its symbol's frame, when a compiled loop gave them: where
        # fastarrays.py's searches for them start (any bars would give the same curve, just slower).
        self.bars: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_arrays(cls, trades: Sequence[Trade], *, entry_time: np.ndarray, exit_time: np.ndarray, pnl: np.ndarray,
                    fees: np.ndarray, funding: np.ndarray, size: np.ndarray, entry_price: np.ndarray,
                    exit_price: np.ndarray, sign: np.ndarray, by_symbol: tuple[list[str], np.ndarray],
                    exit_reason: tuple[list[str], np.ndarray],
                    bars: tuple[np.ndarray, np.ndarray] | None = None) -> "TradeColumns":
        """Columns of closed trades that already exist as arrays (the compiled loops'): the same values
        the properties would pull out of `trades`, without a pass over them. The groupings are
        (sorted names present, each trade's index among them)."""
        cols = cls(trades)
        pnl = pnl.copy()
        pnl[pnl == 0.0] = 0.0  # -0.0 -> 0.0, as the property does
        cols.__dict__.update(
            entry_time=entry_time, exit_time=np.where(exit_time == 0, entry_time, exit_time), pnl=pnl, fees=fees,
            funding=funding, size=size, entry_price=entry_price, exit_price=exit_price, sign=sign,
            by_symbol=by_symbol, by_exit_reason=exit_reason)
        cols.bars = bars
        return cols

    # --- numbers -------------------------------------------------------------------------

    @cached_property
    def entry_time(self) -> np.ndarray:
        return np.fromiter([t.entry_time for t in self.trades], np.int64, self.n)

    @cached_property
    def exit_time(self) -> np.ndarray:
        """`exit_time or entry_time`: an open trade has lasted no time."""
        try:
            times = np.fromiter([t.exit_time for t in self.trades], np.int64, self.n)
        except TypeError:  # a None
            times = None
        if times is None or not times.all():  # a None or a 0: `or` takes the entry time
            times = np.fromiter([t.exit_time or t.entry_time for t in self.trades], np.int64, self.n)
        return times

    @cached_property
    def pnl(self) -> np.ndarray:
        """`pnl or 0.0` (None and -0.0 read as 0.0, as `or` does)."""
        pnl = self._floats([t.pnl for t in self.trades])
        if np.isnan(pnl).any():  # a None (read as NaN) or a NaN: let Python sort them out
            return self._floats([t.pnl or 0.0 for t in self.trades])
        pnl[pnl == 0.0] = 0.0  # -0.0 -> 0.0, like `-0.0 or 0.0`
        return pnl

    @cached_property
    def fees(self) -> np.ndarray:
        return self._floats([t.fees for t in self.trades])

    @cached_property
    def funding(self) -> np.ndarray:
        return self._floats([t.funding for t in self.trades])

    @cached_property
    def size(self) -> np.ndarray:
        return self._floats([t.size for t in self.trades])

    @cached_property
    def entry_price(self) -> np.ndarray:
        return self._floats([t.entry_price for t in self.trades])

    @cached_property
    def exit_price(self) -> np.ndarray:
        """The exit price, or the entry price while still open."""
        prices = self._floats([t.exit_price for t in self.trades])
        if np.isnan(prices).any():  # a None (read as NaN) or a NaN
            prices = self._floats([t.exit_price if t.exit_price is not None else t.entry_price for t in self.trades])
        return prices

    @cached_property
    def sign(self) -> np.ndarray:
        """+1.0 long, -1.0 short (`Side.sign` is a property call per trade: 4x slower)."""
        long = np.fromiter(map(operator.is_, [t.side for t in self.trades], repeat(LONG)), bool, self.n)
        return np.where(long, 1.0, -1.0)

    # --- groups --------------------------------------------------------------------------

    @cached_property
    def by_symbol(self) -> tuple[list[str], np.ndarray]:
        return _codes([t.symbol for t in self.trades])

    @cached_property
    def by_exit_reason(self) -> tuple[list[str], np.ndarray]:
        return _codes([t.exit_reason or "open" for t in self.trades])

    def _floats(self, values: list) -> np.ndarray:
        """A float64 array (np.fromiter reads None as NaN)."""
        return np.fromiter(values, np.float64, self.n)


def _codes(keys: list[str]) -> tuple[list[str], np.ndarray]:
    """The sorted distinct keys and, per trade, the index of its key among them."""
    names = sorted(set(keys))
    if len(names) <= 1:  # one symbol: no look-up per trade
        return names, np.zeros(len(keys), dtype=np.intp)
    index = {name: i for i, name in enumerate(names)}
    return names, np.fromiter(map(index.__getitem__, keys), np.intp, len(keys))


def sum_in_order(values: np.ndarray) -> float:
    """`sum(list(values))` bit for bit: left to right from 0.0 (np.sum is pairwise: other last bits)."""
    if not len(values):
        return 0.0
    # cumsum adds left to right from the first value; `+ 0.0` turns an all -0.0 total into
    # the 0.0 that Python's 0.0 start gives (anything else is unchanged by it).
    return float(np.cumsum(values)[-1]) + 0.0


class LazyTrades(Sequence[Trade]):
    """A trade list built on first use.

    The compiled backtest loop returns its trades as columns, and the equity curve and metrics
    need only those; building 20,000 Trade objects would cost more than the whole simulation.
    So a one-symbol result holds this, and the objects exist once something reads a trade.
    It compares equal to a list of the same trades and pickles as a plain list.
    """

    def __init__(self, n: int, build: Callable[[], list[Trade]]) -> None:
        self._n = n
        self._build: Callable[[], list[Trade]] | None = build
        self._items: list[Trade] = []

    def _list(self) -> list[Trade]:
        if self._build is not None:
            self._items, self._build = self._build(), None
        return self._items

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __iter__(self) -> Iterator[Trade]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, LazyTrades)):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-list semantics, like list

    def __repr__(self) -> str:
        return repr(self._list())

    def __reduce__(self) -> tuple:
        return (list, (self._list(),))
