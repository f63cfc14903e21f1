"""Provides reconciliation: the exchange's fills, orders and positions against the ledger, each gap closed by a rule.

Run at startup, periodically, while an order's outcome is unknown, and after every WebSocket
reconnect (the exchange does not replay events missed while disconnected). The exchange is the
truth. In order:

  fills        every fill since the cursor is booked once, by its tid (fill_book.py): stops that
               fired, exits, and what was done by hand (opened, increased, reduced, closed, flipped:
               `manual`) or by another perp-bot, each reported
  intent       an order intent left by a daemon stopped mid-order is resolved by its cloid (its fills
               were booked above) or dropped once the exchange has certainly never seen it
  guard        orders or fills of another perp-bot instance are noted (account_guard.py): at startup
               the bot refuses to start before it changes anything; running, it stops entering
  gone         a trade the exchange no longer holds, whose closing fills cannot be found, is closed
               at the mark (`reconcile`); positions are judged only on an account state read
               between two looks at the fills that found nothing new
  unknown      a position fills cannot explain is adopted (`manual`) with a stop
  size         a trade whose size differs from its position takes the exchange's size
  stop         each position gets exactly one reduce-only stop of the bot, of its size (stops.py)
  orphan       an order of this bot (or of an instance it took over) that no open trade owns is canceled
Each resolution is logged and raised as a `reconciliation` alert.
"""

from __future__ import annotations

import logging

from perpbot.data.records import AccountState, Position
from perpbot.errors import ExchangeError
from perpbot.execution.live.exchange_api import ExchangeOrder, frontend_open_orders
from perpbot.execution.live.fill_book import Resolution
from perpbot.execution.live.book import Intent
from perpbot.execution.live.trader import LiveTrader
from perpbot.models import Trade

log = logging.getLogger(__name__)

SETTLE_MS = 10_000  # an order never seen this long after it was sent never reached the exchange
SETTLE_TRIES = 3  # reads of the account state until no fill arrived around one
FILL_LOOKBACK_MS = 120_000

__all__ = ["Reconciler", "Resolution"]


class Reconciler:
    """Brings the ledger (and the account's stops) in line with the exchange for one LiveTrader."""

    def __init__(self, trader: LiveTrader) -> None:
        self.trader = trader
        self.account: AccountState | None = None  # the account state the last pass read

    def run(self, now_ms: int, startup: bool = False) -> list[Resolution]:
        """One full pass; returns what it changed (empty when all was in order).

        With `startup`, a pass that sees another bot stops after booking fills, before it changes
        anything on the exchange (the caller refuses to start, or takes the account over and runs again).
        """
        t = self.trader
        out = t.sync_fills(now_ms)
        out += self._intents(now_ms)
        orders = frontend_open_orders(t.client, t.account)
        t.guard.check_orders(orders)
        if startup and t.guard.seen:
            return out
        state, settle = self._settled_state(now_ms)
        out += settle
        self.account = state
        if state is not None:
            out += self._positions(state, now_ms)
        stops = self._stops(orders, now_ms)
        if stops:
            orders = frontend_open_orders(t.client, t.account)
        out += stops + self._orphans(orders)
        return out

    def _settled_state(self, now_ms: int) -> tuple[AccountState | None, list[Resolution]]:
        """The account state, read between two looks at the fills that find nothing new: positions are
        judged only against fills that explain them (a stop that fires between the two reads would
        otherwise look like a position gone without a fill). None if the account keeps moving."""
        t = self.trader
        out: list[Resolution] = []
        for _ in range(SETTLE_TRIES):
            state = t.client.clearinghouse_state(t.account)
            booked = t.store.fill_count()
            out += t.sync_fills(now_ms)
            if t.store.fill_count() == booked:
                return state, out
        log.warning("reconcile_positions_skipped", extra={"reason": "fills kept arriving"})
        return None, out

    # --- intents --------------------------------------------------------------------------------

    def _intents(self, now_ms: int) -> list[Resolution]:
        t = self.trader
        out = []
        for cloid, intent in t.book.intents().items():
            try:
                known = t.desk.lookup(cloid)
                if known is None:
                    if now_ms - intent.sent_ms >= SETTLE_MS:
                        out.append(self._never_sent(cloid, intent, now_ms))
                    continue
                if known.status == "open":
                    continue  # still working (an IOC never rests: seen only between two looks)
                execution = t.desk.from_record(cloid, known, intent.sent_ms - FILL_LOOKBACK_MS)
            except ExchangeError as exc:
                log.warning("intent_lookup_failed", extra={"cloid": cloid, "error": str(exc)})
                continue  # still unresolved: looked up again with backoff
            if execution.filled:
                out += t.sync_fills(now_ms, execution.fills, own={cloid})
            t.book.forget(cloid, now_ms)
            if "maker" in intent.extra:  # a resting order that ended while nobody watched
                t.store.maker_ended(cloid, "filled" if execution.filled else "cancelled", now_ms,
                                    t.store.fees_of_cloid(cloid))
            trade = t.store.trade_by_cloid(cloid) if intent.kind == "entry" else None
            if intent.kind == "entry" and trade is None:
                t.book.set_stop(cloid, None, now_ms)
            detail = f"{intent.kind} {cloid} {execution.state}" + (
                f": trade recorded ({trade.size:g} @ {trade.entry_price:g}), protected below" if trade else "")
            out.append(t.report(Resolution("intent", intent.symbol, detail)))
        return out

    def _never_sent(self, cloid: str, intent: Intent, now_ms: int) -> Resolution:
        t = self.trader
        t.book.forget(cloid, now_ms)
        if intent.kind == "entry":
            t.book.set_stop(cloid, None, now_ms)
        return t.report(Resolution("intent", intent.symbol, f"{intent.kind} {cloid} never reached the exchange"))

    # --- positions ------------------------------------------------------------------------------

    def _positions(self, state: AccountState, now_ms: int) -> list[Resolution]:
        t = self.trader
        out = []
        positions = {p.symbol: p for p in state.positions if p.size}
        trades = t.store.open_trades_by_symbol("live")
        for symbol in sorted((set(positions) | set(trades)) & set(t.assets)):
            pos, held = positions.get(symbol), trades.get(symbol, [])
            for extra in held[1:]:
                out.append(self._gone(extra, now_ms, "a second open trade on one coin"))
            trade = held[0] if held else None
            if trade is not None and (pos is None or pos.side is not trade.side):
                out.append(self._gone(trade, now_ms, "the exchange holds no such position and no fill closed it"))
                trade = None
            if pos is not None and trade is None:
                out.append(self._adopt(pos, now_ms))
            elif pos is not None and trade is not None:
                t.note_funding(trade, pos.funding_since_open)
                if abs(abs(pos.size) - trade.size) > 1e-9:
                    detail = f"size {trade.size:g} -> {abs(pos.size):g} (the exchange's; fills missing)"
                    trade.size = abs(pos.size)
                    t.store.update_trade(trade)
                    out.append(t.report(Resolution("size", symbol, detail)))
        return out

    def _gone(self, trade: Trade, now_ms: int, why: str) -> Resolution:
        """Close a trade fills cannot close, at the mark."""
        t = self.trader
        t.fills.close_unexplained(trade, t.mid(trade.symbol), now_ms)
        t.finish(trade, now_ms)
        t.closed.append(trade)
        return t.report(Resolution("gone", trade.symbol, f"{why}: closed (reconcile) at {trade.exit_price}", trade))

    def _adopt(self, pos: Position, now_ms: int) -> Resolution:
        """A position fills cannot explain becomes a `manual` trade (its stop comes next)."""
        t = self.trader
        entry_px = float(pos.entry_px or t.mid(pos.symbol))
        trade = Trade(symbol=pos.symbol, side=pos.side, size=abs(pos.size), entry_time=now_ms, entry_price=entry_px,
                      mode="live", stop_price=t.stop_price(pos.symbol, pos.side, entry_px), entry_reason="manual",
                      entry_cloid=t.cloid("adopt", pos.symbol, now_ms), funding=pos.funding_since_open)
        t.store.insert_trade(trade)
        return t.report(Resolution("unknown", pos.symbol, f"unknown {pos.side.value} {abs(pos.size):g} @ {entry_px} "
                                                          "adopted (manual); a stop follows"))

    # --- orders ---------------------------------------------------------------------------------

    def _stops(self, orders: list[ExchangeOrder], now_ms: int) -> list[Resolution]:
        t = self.trader
        out = []
        positions = {p.symbol for p in (self.account.positions if self.account else ()) if p.size}
        for trade in t.store.open_trades(mode="live"):
            if trade.symbol not in positions:
                continue
            for note in t.stops.ensure(trade, now_ms, orders):
                fresh = t.store.trade_by_id(trade.id) if trade.id is not None else None
                closed = fresh if fresh is not None and not fresh.is_open else None
                out.append(t.report(Resolution("stop", trade.symbol, note, closed)))
        return out

    def _orphans(self, orders: list[ExchangeOrder]) -> list[Resolution]:
        t = self.trader
        wanted = {t.book.stop_cloid(t.key(tr)) for tr in t.store.open_trades(mode="live")} | t.maker.wanted()
        known = t.guard.known()
        out = []
        for order in orders:
            ours = t.guard.is_mine(order.cloid, known) or t.guard.is_adopted(order)
            if ours and order.cloid not in wanted and order.symbol in t.assets:
                t.desk.cancel(t.assets[order.symbol].index, str(order.cloid))
                out.append(t.report(Resolution("orphan", order.symbol, f"canceled {order.order_type} {order.cloid}")))
        return out
