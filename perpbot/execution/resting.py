"""Provides the engine's maker orders (issue 19): what rests, and what each bar close does with it.

A maker order is a post-only limit placed at a bar close (`MakerOrder`). The executor rests it and
fills it (paper: by the closed bars, execution/fills.py's trade-through rule; live: the exchange);
`MakerDesk` is the engine's half, the backtest's rules (backtest/maker.py) at each bar close:
* an exit whose position has gone (its stop fired) is cancelled: never a double close;
* an entry whose signal no longer stands is cancelled;
* an order that has rested `execution.maker_timeout_bars` bars expires: an entry is cancelled (and
  crosses as a taker with `maker_fallback: taker`), an exit is cancelled and crosses as a taker;
* otherwise it is re-priced to this close (a modify, never cancel-and-replace).
A symbol whose resting entry was cancelled or expired at a close takes no new entry decision at
that close, as in the backtest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from perpbot.execution import fills
from perpbot.models import Side
from perpbot.signals.engine import BarValues, decide

if TYPE_CHECKING:
    from perpbot.config import Settings
    from perpbot.execution.executor import Executor

log = logging.getLogger(__name__)

ENTRY, EXIT = "entry", "exit"


@dataclass(frozen=True, slots=True)
class MakerOrder:
    """A resting post-only order. `side` is the position's (LONG: an entry buys, an exit sells)."""

    kind: str  # entry | exit
    symbol: str
    side: str  # Side's value: long | short
    size: float
    limit: float
    placed_ms: int  # the bar close it was placed at
    reason: str  # an entry's signal reason; an exit's reason (signal, timeout)
    cloid: str
    size_factor: float = 1.0
    trade_id: int | None = None  # an exit's trade
    checked_ms: int = 0  # paper: the open of the first bar not yet checked for a fill
    filled: float = 0.0  # live: the size filled so far

    @property
    def sign(self) -> float:
        """The order's direction: +1 buys, -1 sells."""
        long = self.side == Side.LONG.value
        return 1.0 if long == (self.kind == ENTRY) else -1.0

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def maker_price(sign: float, close: float, sz_decimals: int) -> float:
    """The limit a maker order rests at for a bar's close (on the grid, never crossing that close)."""
    return fills.maker_limit(sign, close, sz_decimals)


class MakerDesk:
    """The engine's per-close handling of resting orders (see the module docstring)."""

    def __init__(self, settings: Settings, executor: Executor, sz_decimals: dict[str, int], step_ms: int) -> None:
        ex = settings.execution
        self.entries, self.exits = ex.entry_order == "maker", ex.exit_order == "maker"
        self.timeout_bars, self.fallback_taker = ex.maker_timeout_bars, ex.maker_fallback == "taker"
        self.params = settings.strategy
        self.executor, self.sz_decimals, self.step_ms = executor, sz_decimals, step_ms

    @property
    def on(self) -> bool:
        """Does any order rest? (In taker mode the executor is never asked about resting orders.)"""
        return self.entries or self.exits

    def orders(self) -> list[MakerOrder]:
        return self.executor.resting() if self.on else []

    def symbols(self) -> set[str]:
        """Symbols with a resting entry: they count as open positions."""
        return {o.symbol for o in self.orders() if o.kind == ENTRY}

    def exiting(self) -> set[int]:
        """Trades whose exit rests."""
        return {o.trade_id for o in self.orders() if o.kind == EXIT and o.trade_id is not None}

    def price(self, sign: float, symbol: str, close: float) -> float:
        return maker_price(sign, close, self.sz_decimals.get(symbol, 0))

    def manage(self, windows: dict[str, BarValues | None], boundary: int, now: int) -> tuple[set[str], list]:
        """Each resting order at the close `boundary`. Returns the symbols whose close it used (a
        cancelled or expired entry) and what must now cross as a taker: (order, trade or None)."""
        used: set[str] = set()
        crossing: list = []
        open_ids = {t.id: t for t in self.executor.open_trades()} if self.on else {}
        for order in self.orders():
            values = windows.get(order.symbol)
            rested = (boundary - order.placed_ms) // self.step_ms
            if order.kind == EXIT and order.trade_id not in open_ids:
                self._cancel(order, now, "position_gone")
            elif order.kind == ENTRY and (values is None or
                                          decide(values, None, self.params).action.value != order.side.upper()):
                self._cancel(order, now, "signal_gone")
                used.add(order.symbol)
            elif rested >= self.timeout_bars:
                if self._cancel(order, now, "expired") and (order.kind == EXIT or self.fallback_taker):
                    crossing.append((order, open_ids.get(order.trade_id)))
                used.add(order.symbol)
            elif values is not None:
                limit = self.price(order.sign, order.symbol, values.close)
                if limit != order.limit:
                    self.executor.reprice(order, limit, now)
        return used, crossing

    def rest_entry(self, symbol: str, side: Side, size: float, close: float, reason: str, size_factor: float,
                   boundary: int, key: object, now: int) -> MakerOrder | None:
        sign = 1.0 if side is Side.LONG else -1.0
        order = MakerOrder(ENTRY, symbol, side.value, size, self.price(sign, symbol, close), boundary, reason,
                           self.executor.entry_cloid(symbol, side, key), size_factor, checked_ms=boundary)
        return self.executor.rest(order, now)

    def rest_exit(self, trade, reason: str, close: float, boundary: int, now: int) -> MakerOrder | None:
        sign = -trade.side.sign
        order = MakerOrder(EXIT, trade.symbol, trade.side.value, trade.size, self.price(sign, trade.symbol, close),
                           boundary, reason, self.executor.exit_cloid(trade, boundary), trade_id=trade.id,
                           checked_ms=boundary)
        return self.executor.rest(order, now)

    def cancel_all(self, now: int, kind: str | None = None, trade_ids: set[int] | None = None) -> int:
        """Cancel resting orders (all, or of one kind, or the exits of these trades); how many went."""
        gone = 0
        for order in self.orders():
            if kind is not None and order.kind != kind:
                continue
            if trade_ids is not None and order.trade_id not in trade_ids:
                continue
            gone += bool(self._cancel(order, now, "stopped"))
        return gone

    def _cancel(self, order: MakerOrder, now: int, why: str) -> bool:
        done = self.executor.cancel_resting(order, now, "expired" if why == "expired" else "cancelled")
        log.info("maker_cancelled", extra={"symbol": order.symbol, "kind": order.kind, "why": why,
                                           "cloid": order.cloid, "done": done})
        return done


def repriced(order: MakerOrder, limit: float) -> MakerOrder:
    return replace(order, limit=limit)
