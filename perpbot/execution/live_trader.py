"""Provides the live trade operations: enter with an IOC inside the slippage cap, protect, exit, book.

Every order's cloid is derived from what it is for (the entry from account, symbol, side and
the decision's key; the stop and exits from the entry's cloid), its intent is written before it
is sent, and the trade row is written from the fills the exchange reports. So the same decision
sent twice, by a retry or by a restarted daemon, is one order; and the row is right even when
the fill was partial or the price slipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from perpbot.clock import Clock
from perpbot.config import Settings
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.errors import TransientExchangeError
from perpbot.execution.live_book import Intent, LiveBook, close_trade, trade_from_entry
from perpbot.execution.live_orders import Execution, OrderDesk
from perpbot.execution.signing import OrderIntent, derive_cloid, round_price, round_size
from perpbot.models import AssetMeta, Side, Trade

log = logging.getLogger(__name__)

IOC: Any = {"limit": {"tif": "Ioc"}}
STOP_SLIPPAGE = 0.10  # a triggered stop is a market order; its limit only bounds a disorderly fill
EXIT_ATTEMPTS = 4
Alert = Callable[..., Any]  # AlertSink.send(event, text, **fields)


def _log_alert(event: str, text: str, **fields: Any) -> None:
    log.warning(event, extra={"text": text, **fields})


class LiveTrader:
    """Opens, protects and closes live positions for one account (one thread at a time)."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, client: HyperliquidClient, desk: OrderDesk,
                 assets: dict[str, AssetMeta], alert: Alert | None = None) -> None:
        self.settings, self.store, self.clock, self.client, self.desk = settings, store, clock, client, desk
        self.assets = assets
        self.alert: Alert = alert or _log_alert
        self.book = LiveBook(store)
        self.cap = settings.execution.max_slippage_bps / 10_000

    @property
    def account(self) -> str:
        return self.desk.account

    def mid(self, symbol: str) -> float:
        return self.client.all_mids()[symbol]

    def ioc_limit(self, symbol: str, is_buy: bool, mid: float) -> float:
        """The worst price an IOC may fill at: the slippage cap past the mid, rounded back inside it."""
        sz_decimals = self.assets[symbol].sz_decimals
        if is_buy:
            return round_price(mid * (1 + self.cap), sz_decimals, -1)
        return round_price(mid * (1 - self.cap), sz_decimals, 1)

    def stop_price(self, symbol: str, side: Side, entry_px: float) -> float:
        """The stop `risk.stop_loss_pct` from the price actually paid, on the exchange's price grid."""
        pct = self.settings.risk.stop_loss_pct
        raw = entry_px * (1 - pct) if side is Side.LONG else entry_px * (1 + pct)
        return round_price(raw, self.assets[symbol].sz_decimals)

    # --- entry --------------------------------------------------------------------------------

    def open(self, symbol: str, side: Side, size: float, reason: str, key: object, now_ms: int,
             mid: float | None = None) -> Trade | None:
        """Enter `size` with an IOC; the trade is what filled (maybe less), protected by a stop.

        `key` names the decision (e.g. the bar it was taken on): the same key is the same order.
        """
        asset = self.assets[symbol]
        cloid = derive_cloid("entry", self.account, symbol, side.value, key)
        if self.store.trade_by_cloid(cloid) is not None:
            return None  # this decision was executed already
        if any(i.kind == "entry" and i.symbol == symbol for i in self.book.intents().values()):
            log.warning("entry_refused_unresolved", extra={"symbol": symbol, "cloid": cloid})
            return None  # an earlier entry's outcome is not known yet: it may be a position already
        mid = mid if mid is not None else self.mid(symbol)
        sz = round_size(size, asset.sz_decimals)
        if sz <= 0:
            return None
        intent = Intent("entry", symbol, side.value, sz, mid, reason, now_ms)
        self.book.remember(cloid, intent)
        is_buy = side is Side.LONG
        try:
            execution = self.desk.submit(OrderIntent(asset.index, is_buy, sz, self.ioc_limit(symbol, is_buy, mid), IOC,
                                                     False, cloid), now_ms)
        except TransientExchangeError as exc:
            self.alert("error", f"{symbol} entry not confirmed; reconciliation will look it up", error=str(exc))
            return None  # the intent stays: reconciliation resolves it
        return self.record_entry(cloid, intent, execution, now_ms)

    def record_entry(self, cloid: str, intent: Intent, execution: Execution, now_ms: int) -> Trade | None:
        """Write the trade an entry made (if it filled) and protect it; forget the intent."""
        if not execution.filled:
            self.book.forget(cloid, now_ms)
            if execution.state == "rejected":
                self.alert("error", f"{intent.symbol} entry rejected: {execution.error}", cloid=cloid)
            else:
                log.info("entry_not_filled", extra={"symbol": intent.symbol, "cloid": cloid, "state": execution.state})
            return None
        side = Side(intent.side)
        stop = self.stop_price(intent.symbol, side, float(execution.avg_px or intent.expected_px))
        trade = trade_from_entry(intent, execution, cloid, now_ms, stop)
        if execution.state == "partial":
            log.warning("entry_partial", extra={"symbol": intent.symbol, "asked": intent.size, "filled": execution.size})
        self.store.insert_trade(trade)
        self.book.forget(cloid, now_ms)
        log.info("live_entry", extra={"symbol": trade.symbol, "side": side.value, "size": trade.size,
                                      "price": trade.entry_price, "expected": intent.expected_px, "fees": trade.fees})
        self.protect(trade, now_ms)
        return trade

    # --- the stop -------------------------------------------------------------------------------

    def protect(self, trade: Trade, now_ms: int, version: int = 0) -> Trade:
        """Place the exchange-side stop for `trade` (if the market is already past it, it fires at once).

        Returns the trade, closed if the stop could not be placed (never a position without a stop).
        """
        asset = self.assets[trade.symbol]
        assert trade.entry_cloid and trade.stop_price
        trigger = round_price(trade.stop_price, asset.sz_decimals)
        is_buy = trade.side is Side.SHORT
        limit = round_price(trigger * (1 + STOP_SLIPPAGE if is_buy else 1 - STOP_SLIPPAGE), asset.sz_decimals)
        cloid = derive_cloid("stop", trade.entry_cloid, version)
        order_type = {"trigger": {"triggerPx": trigger, "isMarket": True, "tpsl": "sl"}}
        self.book.remember(cloid, Intent("stop", trade.symbol, trade.side.value, trade.size, trigger, "stop_loss",
                                         now_ms, entry_cloid=trade.entry_cloid))
        try:
            execution = self.desk.submit(OrderIntent(asset.index, is_buy, trade.size, limit, order_type, True, cloid), now_ms)
        except TransientExchangeError as exc:
            self.alert("error", f"{trade.symbol} stop not confirmed; reconciliation checks it", error=str(exc))
            return trade
        self.book.forget(cloid, now_ms)
        if execution.state in ("resting", "filled", "partial"):
            self.book.set_stop(trade.entry_cloid, cloid, now_ms)
            return trade
        self.alert("error", f"{trade.symbol} stop refused ({execution.error}); closing the position", cloid=cloid)
        return self.close(trade, "stop_loss", now_ms) or trade

    # --- exit ---------------------------------------------------------------------------------

    def close(self, trade: Trade, reason: str, now_ms: int, mid: float | None = None) -> Trade | None:
        """Close `trade` with reduce-only IOCs, cancel its stop, and book the exit; None if still open."""
        asset = self.assets[trade.symbol]
        assert trade.entry_cloid
        mid = mid if mid is not None else self.mid(trade.symbol)
        funding = self.position_funding(trade.symbol)
        exits: list[Execution] = []
        remaining = trade.size
        for attempt in range(EXIT_ATTEMPTS):
            cloid = derive_cloid("exit", trade.entry_cloid, attempt)
            is_buy = trade.side is Side.SHORT
            limit = self.ioc_limit(trade.symbol, is_buy, mid if attempt == 0 else self.mid(trade.symbol))
            self.book.remember(cloid, Intent("exit", trade.symbol, trade.side.value, remaining, mid, reason, now_ms,
                                             entry_cloid=trade.entry_cloid))
            try:
                execution = self.desk.submit(OrderIntent(asset.index, is_buy, remaining, limit, IOC, True, cloid), now_ms)
            except TransientExchangeError as exc:
                self.alert("error", f"{trade.symbol} exit not confirmed; reconciliation finishes it", error=str(exc))
                return None
            exits.append(execution)
            remaining = round(remaining - execution.size, asset.sz_decimals)
            if remaining <= 0 or execution.state == "rejected":
                break
        return self.finish(trade, exits, reason, mid, now_ms, funding, remaining)

    def finish(self, trade: Trade, exits: list[Execution], reason: str, expected_px: float | None, now_ms: int,
               funding: float, remaining: float = 0.0) -> Trade | None:
        """Book exit fills: the whole exit when flat, else the part that filled (the trade stays open)."""
        assert trade.entry_cloid
        filled = [e for e in exits if e.filled]
        if remaining > 0 and not filled:
            # Nothing closed (e.g. refused because the stop already closed it): reconciliation decides.
            self._forget_exits(exits, now_ms)
            return None
        if remaining > 0:
            self.book.add_realized(trade.entry_cloid, sum(e.closed_pnl for e in filled), sum(e.fees for e in filled), now_ms)
            trade.size = remaining
            self.store.update_trade(trade)
            self._forget_exits(exits, now_ms)
            self.alert("error", f"{trade.symbol} exit filled in part; {remaining} left open with its stop")
            return None
        stop = self.book.stop_cloid(trade.entry_cloid)
        if stop is not None and reason != "stop_loss":
            self.desk.cancel(self.assets[trade.symbol].index, stop)
        close_trade(trade, exits, reason, expected_px, now_ms, funding, self.book.realized(trade.entry_cloid))
        self.store.update_trade(trade)
        self._forget_exits(exits, now_ms)
        self.book.clear_trade(trade.entry_cloid, now_ms)
        log.info("live_exit", extra={"symbol": trade.symbol, "reason": reason, "price": trade.exit_price,
                                     "expected": expected_px, "pnl": trade.pnl, "fees": trade.fees})
        return trade

    def _forget_exits(self, exits: list[Execution], now_ms: int) -> None:
        for execution in exits:
            self.book.forget(execution.cloid, now_ms)

    def position_funding(self, symbol: str) -> float:
        """Funding paid on the open position since it opened (negative: received), per the exchange."""
        for pos in self.client.clearinghouse_state(self.account).positions:
            if pos.symbol == symbol:
                return pos.funding_since_open
        return 0.0
