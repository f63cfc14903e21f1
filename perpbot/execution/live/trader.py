"""Provides the live trade operations: enter with its stop attached, exit, and book every fill once.

Every order's cloid is derived from what it is for (the entry from account, symbol, side and the
decision's key; stops and exits from the entry's cloid) and carries this bot's instance id; its
intent is written before it is sent. An entry goes out grouped `normalTpsl` with a reduce-only
stop-market child of its size, which the exchange places the moment the entry fills completely: a
filled entry is never naked, even if the bot dies right after sending it. The stop is then moved to
`risk.stop_loss_pct` from the price actually paid, and an entry that filled in part (its child is
canceled with the unfilled rest) gets a stop of the filled size at once.

Trades are written only from the exchange's fills, each booked once by its tid (fill_book.py), so
the same decision sent twice, a retry or a restart, is one order and one trade.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from perpbot.clock import Clock
from perpbot.config import Settings
from perpbot.data.ports import AccountData
from perpbot.data.db import Store
from perpbot.data.records import Fill
from perpbot.errors import ExchangeError
from perpbot.execution.live.account_guard import AccountGuard
from perpbot.execution.live.exchange_api import user_fills_by_time
from perpbot.execution.live.fill_book import FillBook, Origin, Resolution, describe
from perpbot.execution.live.book import Intent, LiveBook, StopRecord
from perpbot.execution.live.maker import LiveMaker
from perpbot.execution.live.orders import Execution, OrderDesk
from perpbot.execution.live.stops import StopKeeper
from perpbot.execution.cloids import derive_cloid, is_own_cloid
from perpbot.execution.live.signing import OrderIntent, round_price
from perpbot.models import AssetMeta, Side, Trade
from perpbot.risk import rules

log = logging.getLogger(__name__)

IOC: Any = {"limit": {"tif": "Ioc"}}
EXIT_ATTEMPTS = 4
FILLS_OVERLAP_MS = 60_000  # fills are read again from this long before the newest booked one
Alert = Callable[..., Any]  # AlertSink.send(event, text, **fields)


def _log_alert(event: str, text: str, **fields: Any) -> None:
    log.warning(event, extra={"text": text, **fields})


class LiveTrader:
    """Opens, protects and closes live positions for one account (one thread at a time)."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, client: AccountData, desk: OrderDesk,
                 assets: dict[str, AssetMeta], alert: Alert | None = None) -> None:
        self.settings, self.store, self.clock, self.client, self.desk = settings, store, clock, client, desk
        self.assets = assets
        self.alert: Alert = alert or _log_alert
        self.book = LiveBook(store)
        self.guard = AccountGuard(self.book, self.book.instance(clock.now_ms()))
        self.fills = FillBook(store, self.explain, self.stop_price, lambda f: self.cloid("manual", f.tid),
                              lambda trade: self.book.realized(trade.entry_cloid))
        self.stops = StopKeeper(self)
        self.maker = LiveMaker(self)
        self.cap = settings.execution.max_slippage_bps / 10_000
        self.closed: list[Trade] = []  # closed by fills booked on the way, not yet handed to the engine
        self.short_of_margin: dict[str, float] = {}  # coin -> the free margin its last entry lacked (alerted)
        self.free_margin = 0.0  # the account's free margin when the last entry was checked

    @property
    def account(self) -> str:
        return self.desk.account

    def cloid(self, *parts: object) -> str:
        return derive_cloid(*parts, instance=self.guard.instance.id)

    @staticmethod
    def key(trade: Trade) -> str:
        """What a trade's stops and exits are derived from (and its stop is filed under)."""
        return trade.entry_cloid or f"trade:{trade.id}"

    def mid(self, symbol: str) -> float:
        return self.client.all_mids()[symbol]

    def ioc_limit(self, symbol: str, is_buy: bool, mid: float) -> float:
        """The worst price an IOC may fill at: the slippage cap past the mid, rounded back inside it."""
        sz_decimals = self.assets[symbol].sz_decimals
        if is_buy:
            return round_price(mid * (1 + self.cap), sz_decimals, -1)
        return round_price(mid * (1 - self.cap), sz_decimals, 1)

    def stop_price(self, symbol: str, side: Side, entry_px: float) -> float:
        """The stop `risk.stop_loss_pct` from `entry_px` (risk/rules.py), on the exchange's price grid."""
        raw = rules.stop_price(side.sign, entry_px, self.settings.risk.stop_loss_pct)
        return round_price(raw, self.assets[symbol].sz_decimals)

    # --- entry --------------------------------------------------------------------------------

    def open(self, symbol: str, side: Side, size: float, reason: str, key: object, now_ms: int,
             mid: float | None = None) -> Trade | None:
        """Enter `size` (on the asset's size grid) with an IOC and its stop attached; the trade is what
        filled (maybe less).

        `key` names the decision (e.g. the bar it was taken on): the same key is the same order.
        Nothing is sent while the coin holds a position, on the exchange or in the ledger, or an
        earlier entry's outcome is unknown.
        """
        asset = self.assets[symbol]
        cloid = self.entry_cloid(symbol, side, key)
        state = self.entry_state(symbol, cloid)
        if state is None:
            return None
        mid = mid if mid is not None else self.mid(symbol)
        sz = size  # on the exchange's size grid already: RiskManager.position_size rounds it, once
        is_buy = side is Side.LONG
        if sz <= 0 or not self.margin_free(symbol, sz * self.ioc_limit(symbol, is_buy, mid), state.withdrawable):
            return None
        child_px = self.stop_price(symbol, side, mid)
        intent = Intent("entry", symbol, side.value, sz, mid, reason, now_ms, stop_px=child_px)
        self.book.remember(cloid, intent)
        stop_cloid = self.cloid("stop", cloid, 0)
        self.book.set_stop(cloid, StopRecord(stop_cloid, child_px), now_ms)
        parent = OrderIntent(asset.index, is_buy, sz, self.ioc_limit(symbol, is_buy, mid), IOC, False, cloid)
        child = self.stops.stop_order(symbol, side, stop_cloid, child_px, sz)
        try:
            execution = self.desk.submit(parent, now_ms, children=(child,))
        except ExchangeError as exc:
            self.alert("error", f"{symbol} entry not confirmed; it counts as a position until it is looked up",
                       error=str(exc))
            return None  # the intent stays: the next look-up resolves it
        return self.record_entry(cloid, intent, execution, now_ms)

    def entry_cloid(self, symbol: str, side: Side, key: object) -> str:
        return self.cloid("entry", self.account, symbol, side.value, key)

    def entry_refused(self, symbol: str, cloid: str) -> bool:
        return self.entry_state(symbol, cloid) is None

    def entry_state(self, symbol: str, cloid: str) -> Any | None:
        """The account's state (clearinghouseState) when this entry may go out; None when it must not:
        another perp-bot trades the account, the entry was executed already, the coin is taken (in the
        ledger or on the exchange), or an earlier entry's outcome is not known yet (it may be a position
        already; a resting one is)."""
        if self.guard.seen:
            log.warning("entry_refused_other_bot", extra={"symbol": symbol, "others": sorted(self.guard.seen)})
            return None  # another perp-bot trades this account: stand down at once, not at the next tick
        if self.store.trade_by_cloid(cloid) is not None or self.store.open_trade(symbol, "live") is not None:
            return None
        if any(i.kind == "entry" and i.symbol == symbol for i in self.book.intents().values()):
            log.warning("entry_refused_unresolved", extra={"symbol": symbol, "cloid": cloid})
            return None
        state = self.client.clearinghouse_state(self.account)
        if any(p.symbol == symbol for p in state.positions if p.size):
            log.warning("entry_refused_position", extra={"symbol": symbol})
            return None  # a position the ledger does not know yet: reconciliation adopts it
        return state

    def margin_free(self, symbol: str, notional: float, free: float) -> bool:
        """Whether the account's free margin (the exchange's `withdrawable`) covers an entry of `notional`
        at the coin's leverage, and has grown since the exchange last refused the coin for margin. One
        that does not is skipped: logged each time, alerted once until an entry on the coin fits again
        (sent anyway, the exchange would refuse it, perpMarginRejected, every bar)."""
        asset = self.assets[symbol]
        need = notional / max(1, min(int(round(self.settings.risk.leverage)), asset.max_leverage))
        short = self.short_of_margin.get(symbol)
        self.free_margin = free
        if need <= free and (short is None or free > short):
            self.short_of_margin.pop(symbol, None)
            return True
        log.warning("entry_refused_margin", extra={"symbol": symbol, "margin_needed": round(need, 2),
                                                   "margin_free": round(free, 2)})
        if short is None:
            self.alert("error", f"{symbol} entry skipped: it needs {need:.2f} USDC of margin and {free:.2f} is free; "
                                f"entries on {symbol} wait until it fits (lower risk.notional_usd or raise risk.leverage)")
        self.short_of_margin[symbol] = free if short is None else max(short, free)
        return False

    def record_entry(self, cloid: str, intent: Intent, execution: Execution, now_ms: int) -> Trade | None:
        """Book what an entry filled, protect it exactly, and forget the intent."""
        if not execution.filled:
            self.book.forget(cloid, now_ms)
            self.book.set_stop(cloid, None, now_ms)
            if execution.state == "rejected" and "margin" in (execution.error or "").lower():
                # The coin's entries wait until the free margin grows (margin_free): resent, it would be refused again.
                self.short_of_margin[intent.symbol] = self.free_margin
                self.alert("error", f"{intent.symbol} entry refused for margin ({execution.error}); entries on "
                                    f"{intent.symbol} wait until the account has more free margin", cloid=cloid)
            elif execution.state == "rejected":
                self.alert("error", f"{intent.symbol} entry rejected: {execution.error}", cloid=cloid)
            else:
                log.info("entry_not_filled", extra={"symbol": intent.symbol, "cloid": cloid, "state": execution.state})
            return None
        self.sync_fills(now_ms, execution.fills, own={cloid})
        trade = self.store.trade_by_cloid(cloid)
        self.book.forget(cloid, now_ms)
        if trade is None or not trade.is_open:
            return trade
        if execution.state == "partial":
            log.warning("entry_partial", extra={"symbol": trade.symbol, "asked": intent.size, "filled": trade.size})
        try:
            self.stops.ensure(trade, now_ms)  # the child moved to the fill's distance, or a stop of a partial fill
        except ExchangeError as exc:  # the attached child protects a complete fill meanwhile
            self.alert("error", f"{trade.symbol} stop not confirmed; reconciliation checks it", error=str(exc))
        log.info("live_entry", extra={"symbol": trade.symbol, "side": trade.side.value, "size": trade.size,
                                      "price": trade.entry_price, "expected": intent.expected_px, "fees": trade.fees})
        return trade

    # --- exit ---------------------------------------------------------------------------------

    def close(self, trade: Trade, reason: str, now_ms: int, mid: float | None = None) -> Trade | None:
        """Close `trade` with reduce-only IOCs and book what filled; the closed trade, or None if it is
        still (partly) open. A stop that closed it first is what gets booked."""
        asset = self.assets[trade.symbol]
        mid = mid if mid is not None else self.mid(trade.symbol)
        self.note_funding(trade, self.position_funding(trade.symbol))
        sent: list[Execution] = []
        remaining = trade.size
        for attempt in range(EXIT_ATTEMPTS):
            cloid = self.cloid("exit", self.key(trade), now_ms, attempt)
            is_buy = trade.side is Side.SHORT
            limit = self.ioc_limit(trade.symbol, is_buy, mid if attempt == 0 else self.mid(trade.symbol))
            self.book.remember(cloid, Intent("exit", trade.symbol, trade.side.value, remaining, mid, reason, now_ms,
                                             entry_cloid=self.key(trade)))
            try:
                execution = self.desk.submit(OrderIntent(asset.index, is_buy, remaining, limit, IOC, True, cloid), now_ms)
            except ExchangeError as exc:
                self.alert("error", f"{trade.symbol} exit not confirmed; reconciliation finishes it", error=str(exc))
                return None
            sent.append(execution)
            remaining = round(remaining - execution.size, asset.sz_decimals)
            if remaining <= 0 or execution.state == "rejected":
                break
        return self._after_exit(trade, sent, now_ms)

    def _after_exit(self, trade: Trade, sent: list[Execution], now_ms: int) -> Trade | None:
        own = {e.cloid for e in sent}
        self.sync_fills(now_ms, [f for e in sent for f in e.fills], own=own)
        for cloid in own:
            self.book.forget(cloid, now_ms)
        fresh = self.store.trade_by_id(trade.id) if trade.id is not None else None
        if fresh is None:
            return None
        if fresh.is_open:
            if not any(e.filled for e in sent):
                why = next((e.error for e in reversed(sent) if e.error), "nothing filled within the slippage cap")
                self.alert("error", f"{fresh.symbol} exit not done ({why}); the position stays open under its stop")
            if any(e.filled for e in sent):
                self.alert("error", f"{fresh.symbol} exit filled in part; {fresh.size:g} left open")
                self.stops.ensure(fresh, now_ms)
            return None
        self.closed = [t for t in self.closed if t.id != fresh.id]  # handed to the caller, not the engine's sync
        log.info("live_exit", extra={"symbol": fresh.symbol, "reason": fresh.exit_reason, "price": fresh.exit_price,
                                     "expected": fresh.expected_exit_price, "pnl": fresh.pnl, "fees": fresh.fees})
        return fresh

    def finish(self, trade: Trade, now_ms: int) -> None:
        """A closed trade's leftovers: its stop (if still resting) and its notes."""
        record = self.book.stop(self.key(trade))
        if record is not None and trade.exit_reason != "stop_loss":
            try:
                self.desk.cancel(self.assets[trade.symbol].index, record.cloid)
            except ExchangeError as exc:  # reduce-only: the exchange drops it when flat; reconciliation checks
                log.warning("stop_cancel_failed", extra={"symbol": trade.symbol, "error": str(exc)})
        self.book.clear_trade(self.key(trade), now_ms)

    # --- fills --------------------------------------------------------------------------------

    def sync_fills(self, now_ms: int, extra: list[Fill] | tuple[Fill, ...] = (), own: set[str] | None = None,
                   ) -> list[Resolution]:
        """Read the account's fills since the cursor and book each unbooked one (with `extra`, fills just
        read for an order). Fills of orders in `own` are the caller's to report; every other one is
        reported here. Trades closed on the way wait in `closed` for the engine."""
        since = self.book.fills_since()
        if since is None:
            since = self.guard.instance.since
        fills = user_fills_by_time(self.client, self.account, since) + list(extra)
        out = self.book_fills(fills, now_ms, own)
        if fills:
            newest = max(f.time for f in fills)
            self.book.set_fills_since(max(since, newest - FILLS_OVERLAP_MS), now_ms)
        return out

    def book_fills(self, fills: list[Fill], now_ms: int, own: set[str] | None = None) -> list[Resolution]:
        """Book the fills not booked yet (by tid): from a REST read, or streamed (userFills) as they happen.
        The cursor is left to REST reads, which read streamed fills again and skip them."""
        fills = [f for f in fills if f.time >= self.guard.instance.since]
        self.guard.check_fills(fills)
        makers = set(self.maker.intents())  # the bot's resting orders: the engine tells their fills (trade_open/close)
        out = []
        for booked in self.fills.book(fills):
            if booked.trade is not None and not booked.trade.is_open:
                self.closed.append(booked.trade)
                self.finish(booked.trade, now_ms)
            if booked.fill.cloid in makers:
                res = describe(booked)
                log.info("maker_fill", extra={"symbol": res.symbol, "detail": res.detail})
                out.append(res)
            elif booked.fill.cloid not in (own or set()):
                out.append(self.report(describe(booked)))
        return out

    def explain(self, fill: Fill, trade: Trade | None) -> Origin:
        """Who sent the order of `fill`, and why (see fill_book.Origin)."""
        cloid = fill.cloid
        intent = self.book.intents().get(cloid or "")
        if intent is not None:
            entry = intent.kind == "entry"
            return Origin("bot", intent.reason, intent.expected_px, cloid if entry else None)
        if fill.liquidation:
            return Origin("bot" if self.guard.is_mine(cloid) else "manual", "liquidation")
        if trade is not None and cloid is not None:
            record = self.book.stop(self.key(trade))
            stops = {self.cloid("stop", self.key(trade), v) for v in range((record.v if record else 0) + 3)}
            if cloid in stops or (record is not None and cloid == record.cloid):
                return Origin("bot", "stop_loss", trade.stop_price)
            if cloid == trade.entry_cloid:
                return Origin("bot", trade.entry_reason, trade.expected_entry_price, cloid)
        if self.guard.is_mine(cloid):
            return Origin("bot", "reconcile", None, cloid if trade is None else None)
        if trade is not None and fill.oid in self.stops.covering:  # the owner's stop the bot kept as the trade's
            return Origin("manual", "stop_loss", trade.stop_price)
        return Origin("other-bot" if is_own_cloid(cloid) else "manual", "other-bot" if is_own_cloid(cloid) else "manual")

    def report(self, res: Resolution) -> Resolution:
        log.warning("reconciliation", extra={"rule": res.rule, "symbol": res.symbol, "detail": res.detail})
        self.alert("reconciliation", f"{res.symbol}: {res.detail}", rule=res.rule)
        return res

    # --- funding ------------------------------------------------------------------------------

    def position_funding(self, symbol: str) -> float | None:
        """Funding paid on the open position since it opened (negative: received), per the exchange."""
        for pos in self.client.clearinghouse_state(self.account).positions:
            if pos.symbol == symbol and pos.size:
                return pos.funding_since_open
        return None

    def note_funding(self, trade: Trade, funding: float | None) -> None:
        if funding is not None and abs(funding - trade.funding) > 1e-9:
            trade.funding = funding
            self.store.update_trade(trade)
