"""Provides live maker orders (issue 19): post-only (`Alo`) entries and exits with cloids.

An order's intent is written before it is sent, with the maker order in its `extra`, so it is an
entry intent like any other: the entry counts as a position on its coin until it is resolved, its
fills are booked as the bot's entry by the fill book (one trade, growing with each partial fill),
reconciliation keeps it while the exchange says it is open, and a restart finds it resting.
* An entry's stop is armed with it: a reduce-only stop of the order's size, sent right after the
  order rests (not a `normalTpsl` child: a modify cancels the children with the old order), so a fill
  while the bot is down is protected; from the first fill the stop keeper sizes it to what filled
  and measures it from the fill price (the check each poll, `check`).
* A re-price is a `modify` of the same cloid (never cancel-and-replace, which could double a position).
* An `Alo` the exchange rejects because it would cross is sent once more at the touch the rejection
  names (`bbo was BID@ASK`), under a derived cloid; a re-price it rejects keeps the old price (wait).
* A cancel books whatever filled before it landed, then forgets the intent; an entry that never
  filled takes its armed stop with it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

from perpbot.errors import ExchangeError
from perpbot.execution.live.book import Intent, StopRecord
from perpbot.execution.live.signing import OrderIntent
from perpbot.execution.resting import ENTRY, EXIT, MakerOrder
from perpbot.models import Side, Trade

if TYPE_CHECKING:
    from perpbot.execution.live.trader import LiveTrader

log = logging.getLogger(__name__)

ALO: Any = {"limit": {"tif": "Alo"}}
_NUM = r"([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
_BBO = re.compile(rf"bbo was {_NUM}@{_NUM}")
_EPS = 1e-9


def touch_of(error: str | None, is_buy: bool) -> float | None:
    """The touch a crossing post-only order should rest at, from the exchange's rejection text."""
    found = _BBO.search(error or "")
    if found is None:
        return None
    bid, ask = float(found.group(1)), float(found.group(2))
    return bid if is_buy else ask


class LiveMaker:
    """A LiveTrader's resting maker orders."""

    def __init__(self, trader: LiveTrader) -> None:
        self.t = trader

    # --- what rests ------------------------------------------------------------------------------

    def intents(self) -> dict[str, Intent]:
        return {c: i for c, i in self.t.book.intents().items() if "maker" in i.extra}

    def resting(self) -> list[MakerOrder]:
        orders = [MakerOrder(**i.extra["maker"]) for i in self.intents().values()]
        return sorted(orders, key=lambda o: (o.placed_ms, o.symbol))

    def wanted(self) -> set[str]:
        """Cloids reconciliation must not cancel as orphans: resting orders and the stops armed with them."""
        out = set(self.intents())
        return out | {record.cloid for c in out if (record := self.t.book.stop(c)) is not None}

    # --- placing --------------------------------------------------------------------------------

    def rest(self, order: MakerOrder, now_ms: int) -> MakerOrder | None:
        """Rest a post-only order (an entry with its stop armed); None if nothing rests."""
        t = self.t
        if order.kind == ENTRY and t.entry_refused(order.symbol, order.cloid):
            return None
        placed = self._send(order, now_ms)
        if placed is None and order.kind == ENTRY:
            return None
        if placed is not None and placed.kind == ENTRY:
            self._arm_stop(placed, now_ms)
        return placed

    def _send(self, order: MakerOrder, now_ms: int, retry: bool = True) -> MakerOrder | None:
        t = self.t
        side = Side(order.side)
        stop_px = t.stop_price(order.symbol, side, order.limit) if order.kind == ENTRY else None
        trade = t.store.trade_by_id(order.trade_id) if order.trade_id is not None else None
        intent = Intent(order.kind, order.symbol, order.side, order.size, order.limit, order.reason, now_ms,
                        stop_px=stop_px, entry_cloid=t.key(trade) if trade else None, extra={"maker": order.to_dict()})
        t.book.remember(order.cloid, intent)
        if stop_px is not None:
            t.book.set_stop(order.cloid, StopRecord(t.cloid("stop", order.cloid, 0), stop_px), now_ms)
        try:
            execution = t.desk.submit(self._wire(order), now_ms)
        except ExchangeError as exc:
            t.alert("error", f"{order.symbol} maker {order.kind} not confirmed; reconciliation looks it up",
                    error=str(exc))
            return order  # the intent stays: it counts as resting (and as a position) until looked up
        if execution.state == "resting":
            t.store.maker_placed(order.cloid, "live", order.symbol, order.kind, order.side, order.size,
                                 order.limit, order.placed_ms)
            log.info("maker_placed", extra={"symbol": order.symbol, "kind": order.kind, "limit": order.limit,
                                            "size": order.size, "cloid": order.cloid})
            return order
        self._drop(order, now_ms)
        touch = touch_of(execution.error, order.sign > 0)
        if retry and touch is not None and touch > 0:
            log.info("maker_would_cross", extra={"symbol": order.symbol, "limit": order.limit, "touch": touch})
            again = dataclasses.replace(order, limit=touch, cloid=t.cloid("touch", order.cloid))
            return self._send(again, now_ms, retry=False)
        if touch is not None:  # crossed again at the touch: a fast market, not a fault; the next close decides anew
            log.warning("maker_not_placed_crossing", extra={"symbol": order.symbol, "kind": order.kind,
                                                            "limit": order.limit, "touch": touch})
            return None
        t.alert("error", f"{order.symbol} maker {order.kind} not placed: {execution.error or execution.state}",
                cloid=order.cloid)
        return None

    def _wire(self, order: MakerOrder, size: float | None = None, limit: float | None = None) -> OrderIntent:
        asset = self.t.assets[order.symbol]
        return OrderIntent(asset.index, order.sign > 0, order.size if size is None else size,
                           order.limit if limit is None else limit, ALO, order.kind == EXIT, order.cloid)

    def _arm_stop(self, order: MakerOrder, now_ms: int) -> None:
        """A reduce-only stop of the order's size at the stop its limit implies, resting with it."""
        t = self.t
        record = t.book.stop(order.cloid)
        intent = t.book.intents().get(order.cloid)
        if record is None or intent is None or intent.stop_px is None:
            return
        stop = t.stops.stop_order(order.symbol, Side(order.side), record.cloid, intent.stop_px, order.size)
        try:
            execution = t.desk.submit(stop, now_ms)
        except ExchangeError as exc:
            t.alert("error", f"{order.symbol} stop for the resting entry not confirmed; fills are protected "
                             "when seen", error=str(exc))
            return
        if execution.state != "resting":
            log.warning("maker_stop_not_armed", extra={"symbol": order.symbol, "state": execution.state,
                                                       "error": execution.error})

    # --- re-pricing and canceling ------------------------------------------------------------------

    def reprice(self, order: MakerOrder, limit: float, now_ms: int) -> MakerOrder | None:
        """Move a resting order to `limit` with a modify (the same cloid); the old one stays if refused."""
        t = self.t
        intent = t.book.intents().get(order.cloid)
        if intent is None:
            return None
        remaining = round(order.size - self._filled(order), t.assets[order.symbol].sz_decimals)
        if remaining <= 0:
            return None
        try:
            moved = t.desk.modify(order.cloid, self._wire(order, remaining, limit))
        except ExchangeError as exc:
            log.warning("maker_reprice_failed", extra={"cloid": order.cloid, "error": str(exc)})
            return None
        if not moved:  # it would cross now, or it is gone (filled): the next check books what happened
            return None
        new = dataclasses.replace(order, limit=limit)
        t.book.remember(order.cloid, dataclasses.replace(intent, expected_px=limit, extra={"maker": new.to_dict()}))
        log.info("maker_repriced", extra={"symbol": order.symbol, "from": order.limit, "to": limit})
        return new

    def cancel(self, order: MakerOrder, now_ms: int, outcome: str = "cancelled") -> bool:
        """Cancel a resting order, book what filled before the cancel landed, forget it."""
        t = self.t
        if order.cloid not in t.book.intents():
            return False
        was_open = t.desk.cancel(t.assets[order.symbol].index, order.cloid)
        t.sync_fills(now_ms)
        filled = self._filled(order)
        self._finish(order, now_ms, "filled" if filled > _EPS else outcome)
        return was_open

    def _filled(self, order: MakerOrder) -> float:
        """What the order has filled so far, by the ledger (an entry's trade; an exit's trade shrinking)."""
        t = self.t
        if order.kind == ENTRY:
            trade = t.store.trade_by_cloid(order.cloid)
            return trade.size if trade is not None else 0.0
        trade = t.store.trade_by_id(order.trade_id) if order.trade_id is not None else None
        if trade is None:
            return 0.0
        return order.size if not trade.is_open else max(0.0, order.size - trade.size)

    def _finish(self, order: MakerOrder, now_ms: int, outcome: str) -> None:
        t = self.t
        t.book.forget(order.cloid, now_ms)
        t.store.maker_ended(order.cloid, outcome, now_ms, self._fee(order) if outcome == "filled" else 0.0)
        trade = t.store.trade_by_cloid(order.cloid) if order.kind == ENTRY else (
            t.store.trade_by_id(order.trade_id) if order.trade_id is not None else None)
        if order.kind == ENTRY and trade is None:
            self._disarm(order, now_ms)
        elif trade is not None and trade.is_open:
            self._protect(trade, now_ms)

    def _fee(self, order: MakerOrder) -> float:
        return self.t.store.fees_of_cloid(order.cloid)

    def _disarm(self, order: MakerOrder, now_ms: int) -> None:
        """An entry that never filled: its armed stop goes with it."""
        t = self.t
        record = t.book.stop(order.cloid)
        t.book.set_stop(order.cloid, None, now_ms)
        if record is not None:
            try:
                t.desk.cancel(t.assets[order.symbol].index, record.cloid)
            except ExchangeError as exc:  # reduce-only without a position: reconciliation cancels it
                log.warning("maker_stop_cancel_failed", extra={"cloid": record.cloid, "error": str(exc)})

    def _drop(self, order: MakerOrder, now_ms: int) -> None:
        self.t.book.forget(order.cloid, now_ms)
        if order.kind == ENTRY:
            self.t.book.set_stop(order.cloid, None, now_ms)

    # --- fills ------------------------------------------------------------------------------------

    def check(self, now_ms: int) -> None:
        """Book the fills of resting orders and protect what filled: a stop of the filled size from the
        first fill; an order filled in full is done."""
        t = self.t
        if not self.intents():
            return
        t.sync_fills(now_ms)
        for order in self.resting():
            filled = self._filled(order)
            if filled <= _EPS:
                continue
            trade = t.store.trade_by_cloid(order.cloid) if order.kind == ENTRY else None
            if trade is not None and trade.is_open:
                self._protect(trade, now_ms)
            if filled >= order.size - _EPS:
                self._finish(order, now_ms, "filled")

    def _protect(self, trade: Trade, now_ms: int) -> None:
        try:
            for note in self.t.stops.ensure(trade, now_ms):
                log.info("maker_stop", extra={"symbol": trade.symbol, "note": note})
        except ExchangeError as exc:
            self.t.alert("error", f"{trade.symbol} stop not confirmed after a maker fill; reconciliation checks it",
                         error=str(exc))
