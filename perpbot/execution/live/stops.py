"""Provides the stop keeper: exactly one reduce-only stop of the bot under each open live trade.

The stop covers the trade's whole size at the trade's stop price. What the keeper finds and does:
  none          a stop is placed (a fresh cloid version), or the trade is closed if the market is
                already past its stop
  several       the newest (or the one the book names) stays, the others are canceled
  wrong size    moved (modify, same cloid) to the trade's size
  wrong price   moved to the trade's stop price if the bot set the old one (a move that did not
                land, or the stop re-measured from a changed entry); a trigger the bot never set was
                moved by hand, and is kept (the trade's stop price follows it)
  the owner's   reduce-only stop-loss triggers without the bot's cloid (placed by hand, or the bot's
                moved with a modify that dropped its cloid, e.g. the SDK's default) that cover the whole
                position are its stop: kept where they are, the trade's stop price follows the nearest,
                and the bot's own is canceled or never added (two full-size stops would close twice
                the position's worth of orders). Where they cover less, the bot keeps its own as above.
A move that the exchange refuses is done as place-new-then-cancel-old, so there is never a moment
without a stop. The book records a stop (cloid, trigger) before it is sent, so a daemon killed in
between recognizes the order as its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from perpbot.data.db import Store
from perpbot.data.ports import AccountData
from perpbot.errors import ExchangeError
from perpbot.execution.cloids import cloid_instance
from perpbot.execution.live.account_guard import AccountGuard
from perpbot.execution.live.book import LiveBook, StopRecord
from perpbot.execution.live.exchange_api import ExchangeOrder, frontend_open_orders
from perpbot.execution.live.orders import OrderDesk
from perpbot.execution.live.signing import OrderIntent, round_price
from perpbot.models import AssetMeta, Side, Trade

log = logging.getLogger(__name__)

STOP_SLIPPAGE = 0.10  # a triggered stop is a market order; its limit only bounds a disorderly fill
_EPS = 1e-9


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= _EPS * max(abs(a), abs(b), 1.0)


class StopHost(Protocol):
    """What the keeper needs of the trader whose stops it keeps (trader.py's LiveTrader)."""

    assets: dict[str, AssetMeta]
    book: LiveBook
    guard: AccountGuard
    store: Store
    desk: OrderDesk
    client: AccountData
    closed: list[Trade]  # trades closed on the way, for the engine's risk ledger
    alert: Callable[..., Any]

    @property
    def account(self) -> str: ...

    def cloid(self, *parts: object) -> str: ...

    def key(self, trade: Trade) -> str: ...

    def mid(self, symbol: str) -> float: ...

    def close(self, trade: Trade, reason: str, now_ms: int, mid: float | None = None) -> Trade | None: ...


class StopKeeper:
    """Keeps the stops of one trader's trades."""

    def __init__(self, trader: StopHost) -> None:
        self.t = trader
        # oids of stops the bot did not place that it keeps as a position's stop (`_covered`): a fill of
        # one is that position's stop loss, not a close by hand. Learnt at every check; a restart
        # relearns them at its first check (one that fired while the bot was down reads as by hand).
        self.covering: set[int] = set()

    def stop_order(self, symbol: str, side: Side, cloid: str, trigger: float, size: float) -> OrderIntent:
        """The reduce-only stop-market trigger order protecting a `side` position on `symbol`.

        `trigger` is on the exchange's price grid already: the trader's `stop_price` rounds it once,
        and a trigger moved by hand is the exchange's own number.
        """
        asset = self.t.assets[symbol]
        is_buy = side is Side.SHORT
        limit = round_price(trigger * (1 + STOP_SLIPPAGE if is_buy else 1 - STOP_SLIPPAGE), asset.sz_decimals)
        order_type: Any = {"trigger": {"triggerPx": trigger, "isMarket": True, "tpsl": "sl"}}
        return OrderIntent(asset.index, is_buy, size, limit, order_type, True, cloid)

    def ensure(self, trade: Trade, now_ms: int, orders: list[ExchangeOrder] | None = None) -> list[str]:
        """Make the exchange hold exactly the stop `trade` needs; what was wrong (empty: nothing)."""
        if orders is None:
            orders = frontend_open_orders(self.t.client, self.t.account)
        key = self.t.key(trade)
        record = self.t.book.stop(key)
        known = self.t.guard.known()
        stops = [o for o in orders if o.symbol == trade.symbol and o.is_stop]
        mine = [o for o in stops if self.t.guard.is_mine(o.cloid, known)]
        theirs = [o for o in stops if o not in mine and o.side is not trade.side and not self.t.guard.is_adopted(o)]
        deferred = [o for o in theirs if self._defer_to(o)]
        if self._covers(deferred, trade) or (not mine and self._covers(theirs, trade)):
            cover = deferred if self._covers(deferred, trade) else theirs
            return [self._cancel(trade, o) for o in mine] + self._covered(trade, cover)
        keep = next((o for o in mine if record is not None and o.cloid == record.cloid), None)
        keep = keep or max(mine, key=lambda o: o.oid, default=None)
        notes = [self._cancel(trade, o) for o in mine if o is not keep]
        if keep is None:
            return notes + [self._place_or_close(trade, record, now_ms)]
        assert keep.trigger_px is not None
        if record is None or record.cloid != keep.cloid:
            record = StopRecord(str(keep.cloid), keep.trigger_px, None, record.v if record else 0)
            self.t.book.set_stop(key, record, now_ms)
        if record.px is None:  # a stop from before records kept triggers: its trigger is the bot's
            record = StopRecord(record.cloid, keep.trigger_px, None, record.v)
            self.t.book.set_stop(key, record, now_ms)
        if not record.is_ours(keep.trigger_px):
            notes.append(f"stop moved by hand from {record.px} to {keep.trigger_px}: kept there")
            trade.stop_price = keep.trigger_px
            self.t.store.update_trade(trade)
            record = StopRecord(record.cloid, keep.trigger_px, None, record.v)
            self.t.book.set_stop(key, record, now_ms)
        want = float(trade.stop_price or keep.trigger_px)
        if not _same(keep.trigger_px, want) or not _same(keep.sz, trade.size):
            notes.append(self.move(trade, keep, record, want, now_ms))
        return notes

    @staticmethod
    def _covers(orders: list[ExchangeOrder], trade: Trade) -> bool:
        return bool(orders) and sum(o.sz for o in orders) >= trade.size * (1 - _EPS)

    def _defer_to(self, order: ExchangeOrder) -> bool:
        """Whether the bot cancels its own stop for `order`, one it did not place that covers the position:
        the owner's always; another perp-bot's only if that instance's id sorts before this one's, so of
        two bots on one account exactly one keeps its stop (each canceling its own for the other's would
        leave none). Where the bot has no stop, any covering stop (not one of a taken-over instance) will do."""
        other = cloid_instance(order.cloid)
        return other is None or other < self.t.guard.instance.id

    def _covered(self, trade: Trade, theirs: list[ExchangeOrder]) -> list[str]:
        """Stops the bot did not place (by hand, or moved without the bot's cloid) cover the position: they
        are its stop, kept where they are; the trade's stop price follows the nearest one."""
        self.covering.update(o.oid for o in theirs)
        triggers = [o.trigger_px for o in theirs if o.trigger_px is not None]
        nearest = max(triggers) if trade.side is Side.LONG else min(triggers)
        if _same(trade.stop_price, nearest):
            return []
        was, trade.stop_price = trade.stop_price, nearest
        self.t.store.update_trade(trade)
        log.info("stop_kept_by_hand", extra={"symbol": trade.symbol, "trigger": nearest, "orders": len(theirs)})
        return [f"stop of the owner's ({len(theirs)} order(s), {sum(o.sz for o in theirs):g} @ {nearest}) covers the "
                f"position: kept there as its stop (was {was}); the bot adds none"]

    def move(self, trade: Trade, order: ExchangeOrder, record: StopRecord, trigger: float, now_ms: int) -> str:
        """Move the stop `order` to `trigger` and the trade's size (modify; else place new, cancel old)."""
        key = self.t.key(trade)
        self.t.book.set_stop(key, StopRecord(record.cloid, trigger, order.trigger_px, record.v), now_ms)
        what = f"stop {order.sz:g} @ {order.trigger_px} -> {trade.size:g} @ {trigger}"
        if self.t.desk.modify(record.cloid, self.stop_order(trade.symbol, trade.side, record.cloid, trigger, trade.size)):
            self.t.book.set_stop(key, StopRecord(record.cloid, trigger, None, record.v), now_ms)
            log.info("stop_moved", extra={"symbol": trade.symbol, "what": what})
            return f"{what} (moved)"
        placed = self._place(trade, record.v + 1, now_ms)
        if placed:
            self._cancel(trade, order)
        return f"{what} (replaced)" if placed else f"{what}: refused, position closed"

    def _place_or_close(self, trade: Trade, record: StopRecord | None, now_ms: int) -> str:
        mid = self.t.mid(trade.symbol)
        assert trade.stop_price is not None
        past = mid <= trade.stop_price if trade.side is Side.LONG else mid >= trade.stop_price
        if past:
            closed = self._close(trade, now_ms, mid)
            return f"no stop and the market ({mid}) is past it ({trade.stop_price}): " + (
                "closed" if closed is not None else "closing")
        version = 0 if record is None else record.v + 1
        placed = self._place(trade, version, now_ms)
        return f"stop placed {trade.size:g} @ {trade.stop_price}" if placed else "stop refused: position closed"

    def _place(self, trade: Trade, version: int, now_ms: int) -> bool:
        """Place a stop of a fresh cloid version; a refused stop closes the trade (never a naked position)."""
        key = self.t.key(trade)
        cloid = self.t.cloid("stop", key, version)
        while self.t.desk.lookup(cloid) is not None:  # a version used before (e.g. canceled by hand): the next
            version += 1
            cloid = self.t.cloid("stop", key, version)
        assert trade.stop_price is not None
        trigger = trade.stop_price
        self.t.book.set_stop(key, StopRecord(cloid, trigger, None, version), now_ms)
        execution = self.t.desk.submit(self.stop_order(trade.symbol, trade.side, cloid, trigger, trade.size), now_ms)
        if execution.state in ("resting", "filled", "partial"):
            log.info("stop_placed", extra={"symbol": trade.symbol, "cloid": cloid, "trigger": trigger})
            return True
        self.t.alert("error", f"{trade.symbol} stop refused ({execution.error}); closing the position", cloid=cloid)
        self._close(trade, now_ms)
        return False

    def _close(self, trade: Trade, now_ms: int, mid: float | None = None) -> Trade | None:
        closed = self.t.close(trade, "stop_loss", now_ms, mid)
        if closed is not None:
            self.t.closed.append(closed)  # for the engine's risk ledger (a close it did not ask for)
        return closed

    def _cancel(self, trade: Trade, order: ExchangeOrder) -> str:
        try:
            self.t.desk.cancel(self.t.assets[trade.symbol].index, str(order.cloid))
        except ExchangeError as exc:
            return f"extra stop {order.cloid} not canceled: {exc.message}"
        return f"extra stop {order.cloid} canceled"
