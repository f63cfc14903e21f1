"""Provides reconciliation: the exchange's positions, orders and fills against the DB, each gap closed by a rule.

Run at startup, periodically, and after every WebSocket reconnect (the exchange does not replay
order and fill events missed while disconnected). The exchange is the truth; the rules:

  intent       an order intent left by a daemon stopped mid-order is finished from what the
               exchange did with that cloid (entry: the trade row is written and protected;
               exit: the trade is booked closed) or dropped if the exchange never saw it.
  gone         a trade the DB thinks open but the exchange shows flat (stop hit while offline,
               liquidation, a manual close) is closed from its closing fills: `stop_loss` if its
               stop order filled, else `reconcile`.
  unknown      a position the DB does not know is adopted as a live trade (its fills' cloid if
               it was ours, entry reason `reconcile`), with a stop at risk.stop_loss_pct from its
               entry price; it is closed at once if the market is already past that stop.
  size         a position whose size differs from its trade's takes the exchange's size.
  stop         a trade without an open stop on the exchange gets one (closed if already past it).
  orphan       a perp-bot order (by its cloid tag) that no open trade owns is canceled.
Each resolution is logged and raised as a `reconciliation` alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from perpbot.data.records import Fill, Position
from perpbot.errors import TransientExchangeError
from perpbot.execution.exchange_api import ExchangeOrder, frontend_open_orders, user_fills_by_time
from perpbot.execution.live_book import Intent, trade_from_entry
from perpbot.execution.live_orders import Execution
from perpbot.execution.live_trader import LiveTrader
from perpbot.execution.signing import derive_cloid, is_own_cloid
from perpbot.models import Side, Trade

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resolution:
    rule: str  # intent | gone | unknown | size | stop | orphan
    symbol: str
    detail: str
    closed: Trade | None = None  # a trade this resolution booked closed (for the risk manager)


class Reconciler:
    """Brings the DB (and the account's stops) in line with the exchange for one LiveTrader."""

    def __init__(self, trader: LiveTrader) -> None:
        self.trader = trader

    def run(self, now_ms: int) -> list[Resolution]:
        """One full pass; returns what it changed (empty when all was in order)."""
        t = self.trader
        out: list[Resolution] = []
        out += self._intents(now_ms)
        positions = {p.symbol: p for p in t.client.clearinghouse_state(t.account).positions if p.size != 0}
        trades = {tr.symbol: tr for tr in t.store.open_trades(mode="live")}
        for symbol in sorted(set(positions) | set(trades)):
            trade, pos = trades.get(symbol), positions.get(symbol)
            if trade is not None and (pos is None or (pos.size > 0) != (trade.side is Side.LONG)):
                out.append(self._gone(trade, now_ms))
                trade = None
            if pos is not None and trade is None and symbol in t.assets:
                trade, res = self._adopt(pos, now_ms)
                out.append(res)
            if pos is not None and trade is not None and trade.is_open:
                out += self._check_size_and_stop(trade, pos, now_ms)
        out += self._orphans(now_ms)
        for res in out:
            log.warning("reconciliation", extra={"rule": res.rule, "symbol": res.symbol, "detail": res.detail})
            t.alert("reconciliation", f"{res.symbol}: {res.detail}", rule=res.rule)
        return out

    # --- intents --------------------------------------------------------------------------------

    def _intents(self, now_ms: int) -> list[Resolution]:
        t = self.trader
        out = []
        for cloid, intent in t.book.intents().items():
            try:
                known = t.desk.lookup(cloid)
            except TransientExchangeError as exc:
                log.warning("intent_lookup_failed", extra={"cloid": cloid, "error": str(exc)})
                continue
            if known is None:
                t.book.forget(cloid, now_ms)
                out.append(Resolution("intent", intent.symbol, f"{intent.kind} {cloid} never reached the exchange"))
                continue
            execution = t.desk.from_record(cloid, known, intent.sent_ms - 120_000)
            out.append(self._finish_intent(cloid, intent, execution, now_ms))
        return out

    def _finish_intent(self, cloid: str, intent: Intent, execution: Execution, now_ms: int) -> Resolution:
        t = self.trader
        if intent.kind == "entry":
            if t.store.trade_by_cloid(cloid) is None:
                trade = t.record_entry(cloid, intent, execution, now_ms)
                detail = f"entry {cloid} {execution.state}: " + ("trade recorded and protected" if trade else "no trade")
                return Resolution("intent", intent.symbol, detail)
            t.book.forget(cloid, now_ms)
            return Resolution("intent", intent.symbol, f"entry {cloid} was already recorded")
        t.book.forget(cloid, now_ms)
        if intent.kind == "stop" and execution.state == "resting" and intent.entry_cloid:
            t.book.set_stop(intent.entry_cloid, cloid, now_ms)
        # Exits that filled are booked by the "gone" rule from the account's fills.
        return Resolution("intent", intent.symbol, f"{intent.kind} {cloid} {execution.state}")

    # --- positions ------------------------------------------------------------------------------

    def _gone(self, trade: Trade, now_ms: int) -> Resolution:
        """The exchange no longer holds this trade's position: book its exit from the closing fills."""
        t = self.trader
        assert trade.entry_cloid
        stop = t.book.stop_cloid(trade.entry_cloid)
        fills = [f for f in user_fills_by_time(t.client, t.account, trade.entry_time)
                 if f.symbol == trade.symbol and f.cloid != trade.entry_cloid
                 and (f.dir.startswith("Close") or ">" in f.dir)]  # "Long > Short": a close that flipped
        by_order: dict[int, list[Fill]] = {}
        for f in fills:
            by_order.setdefault(f.oid, []).append(f)
        exits = [Execution(str(group[0].cloid or ""), "filled", oid=oid, size=sum(f.sz for f in group),
                           avg_px=sum(f.px * f.sz for f in group) / sum(f.sz for f in group),
                           fees=sum(f.fee for f in group), closed_pnl=sum(f.closed_pnl for f in group),
                           time_ms=max(f.time for f in group)) for oid, group in by_order.items()]
        stopped = stop is not None and any(e.cloid == stop for e in exits)
        reason = "stop_loss" if stopped else "reconcile"
        expected = trade.stop_price if stopped else None
        if not exits:
            expected = t.mid(trade.symbol)  # fills too old to find: book it at the mark
        t.finish(trade, exits, reason, expected, now_ms, funding=trade.funding)
        return Resolution("gone", trade.symbol, f"position closed on the exchange ({reason}) at {trade.exit_price}",
                          trade)

    def _adopt(self, pos: Position, now_ms: int) -> tuple[Trade | None, Resolution]:
        """A position the DB does not know becomes a live trade with a stop (or is closed if past it)."""
        t = self.trader
        side = pos.side
        entry_px = float(pos.entry_px or t.mid(pos.symbol))
        opening = [f for f in user_fills_by_time(t.client, t.account, now_ms - 7 * 86_400_000)
                   if f.symbol == pos.symbol and f.dir.startswith("Open")]
        ours = [f for f in opening if is_own_cloid(f.cloid)]
        cloid = str(ours[-1].cloid) if ours else derive_cloid("adopt", t.account, pos.symbol, now_ms)
        entry_time = ours[-1].time if ours else now_ms
        intent = Intent("entry", pos.symbol, side.value, abs(pos.size), entry_px, "reconcile", now_ms)
        execution = Execution(cloid, "filled", size=abs(pos.size), avg_px=entry_px,
                              fees=sum(f.fee for f in opening if f.cloid == cloid), time_ms=entry_time)
        trade = trade_from_entry(intent, execution, cloid, now_ms, t.stop_price(pos.symbol, side, entry_px))
        t.store.insert_trade(trade)
        trade = self._stop_or_close(trade, now_ms)
        state = "adopted with a stop" if trade.is_open else f"adopted and closed ({trade.exit_reason})"
        return trade, Resolution("unknown", pos.symbol, f"unknown {side.value} {abs(pos.size)} @ {entry_px} {state}",
                                 None if trade.is_open else trade)

    def _check_size_and_stop(self, trade: Trade, pos: Position, now_ms: int) -> list[Resolution]:
        t = self.trader
        out = []
        if abs(abs(pos.size) - trade.size) > 1e-12:
            out.append(Resolution("size", trade.symbol, f"size {trade.size} -> {abs(pos.size)} (the exchange's)"))
            trade.size = abs(pos.size)
            t.store.update_trade(trade)
        assert trade.entry_cloid
        stop = t.book.stop_cloid(trade.entry_cloid)
        open_ids = {o.cloid for o in self._open_orders()}
        if stop is None or stop not in open_ids:
            trade = self._stop_or_close(trade, now_ms)
            out.append(Resolution("stop", trade.symbol, "missing stop placed" if trade.is_open else
                                  f"missing stop, market past it: closed ({trade.exit_reason})",
                                  None if trade.is_open else trade))
        return out

    def _stop_or_close(self, trade: Trade, now_ms: int) -> Trade:
        t = self.trader
        assert trade.entry_cloid and trade.stop_price
        mid = t.mid(trade.symbol)
        past = mid <= trade.stop_price if trade.side is Side.LONG else mid >= trade.stop_price
        if past:
            return t.close(trade, "stop_loss", now_ms, mid) or trade
        old = t.book.stop_cloid(trade.entry_cloid)
        version = 0 if old is None else _next_version(trade.entry_cloid, old)
        return t.protect(trade, now_ms, version)

    # --- orders ---------------------------------------------------------------------------------

    def _open_orders(self) -> list[ExchangeOrder]:
        return frontend_open_orders(self.trader.client, self.trader.account)

    def _orphans(self, now_ms: int) -> list[Resolution]:
        t = self.trader
        live = {t.book.stop_cloid(tr.entry_cloid) for tr in t.store.open_trades(mode="live") if tr.entry_cloid}
        out = []
        for order in self._open_orders():
            if is_own_cloid(order.cloid) and order.cloid not in live and order.symbol in t.assets:
                t.desk.cancel(t.assets[order.symbol].index, str(order.cloid))
                out.append(Resolution("orphan", order.symbol, f"canceled {order.order_type} {order.cloid}"))
        return out


def _next_version(entry_cloid: str, current: str) -> int:
    """The version after the stop cloid `current` (a replaced stop gets a fresh cloid)."""
    for version in range(1000):
        if derive_cloid("stop", entry_cloid, version) == current:
            return version + 1
    return 1000
