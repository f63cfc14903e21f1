"""Provides the simulator's matching: taker fills through the book, resting orders, stops, funding.

Taker orders (IOC, the crossing part of GTC, triggered stops) walk the same synthetic L2 book
that `/info l2Book` serves at that moment, level by level up to their limit price, so a big
order pays real slippage and an IOC beyond the visible depth fills partially. Liquidity is not
consumed: the book is redrawn every second anyway. Resting limit orders (Gtc, Alo) fill at their
price (as maker, the maker fee), up to the size the book shows at the touch at that moment (the rest
keeps resting and fills on the next crossing), once the mid path trades through it by `maker_fill_ticks`
price ticks (the backtest's rule: a touch is not a fill, since the queue ahead is unknown; 0 fills
on a touch), and never at their placement: one placed with the mid already past its fill level (a
limit inside the spread) waits for the path to come back and cross it. An Alo that would cross the
book is rejected with the exchange's text. Trigger orders fire when the path crosses their trigger
price. `advance(now)` replays the path since the last call in time order, settling
hourly funding on the way, so a stop hit while nobody was asking fills at the right time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from perpbot.clock import HOUR_MS
from perpbot.sim.assets import fmt_num, tick_size
from perpbot.sim.ledger import Ledger, SimOrder
from perpbot.sim.liquidation import replay
from perpbot.sim.orders import OrderError, OrderSpec, check_rules
from perpbot.sim.path import first_cross, first_touch, path_points

MARKET_TRIGGER_SLIPPAGE = 0.10  # a triggered market order may fill up to 10% past its trigger
TICK_TOLERANCE = 1e-6  # of a tick: float noise in a price never decides a fill (as execution/fills.py)
BookFn = Callable[[str, int], "dict[str, Any] | None"]


class ActionError(Exception):
    """A whole action refused: {"status": "err", "response": text}."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class Matcher:
    """Places, cancels and fills orders on the ledger against the simulated market.

    Args:
        ledger: the accounts and orders.
        book: (coin, time) -> the l2Book object the exchange shows at that time.
    """

    def __init__(self, ledger: Ledger, book: BookFn, maker_fill_ticks: int = 1) -> None:
        self.ledger = ledger
        self.book = book
        self.maker_fill_ticks = maker_fill_ticks
        self.synced_ms: int | None = None

    # --- placing ----------------------------------------------------------------------------

    def place(self, user: str, spec: OrderSpec, now_ms: int, position_tpsl: bool = False) -> dict[str, Any]:
        """One order of an order action; returns its status entry (resting, filled or error)."""
        order = self._new_order(user, spec, now_ms, position_tpsl)
        try:
            check_rules(spec, self.ledger.sz_decimals(spec.coin), zero_size=position_tpsl and spec.is_trigger)
            self._check_position_rules(order, now_ms)
        except OrderError as exc:
            self._record_rejected(order, exc.status, now_ms)
            return {"error": exc.text}
        self.ledger.add_order(order)
        if order.is_trigger:
            return _resting(order)
        return self._execute_limit(order, now_ms)

    def place_grouped(self, user: str, specs: list[OrderSpec], grouping: str, now_ms: int) -> list[Any]:
        """An order action with TP/SL grouping; returns one status per order.

        normalTpsl: `[parent, tp?, sl?]`. The children wait (shown in frontendOpenOrders, under the
        parent's `children` and at top level, but unable to trigger) until the parent fills
        completely; a parent that ends otherwise (an IOC's unfilled rest, a cancel) cancels them. Their
        statuses are bare strings: "waitingForTrigger" once placed, else "waitingForFill" (the latter
        for any parent not filled at placement is the simulator's reading; unverified). positionTpsl:
        triggers whose size "0" follows the whole position (`isPositionTpsl`).

        Raises:
            ActionError: a child that is not a reduce-only trigger (a whole-batch pre-validation error).
        """
        if grouping == "positionTpsl":
            return [self.place(user, spec, now_ms, position_tpsl=True) for spec in specs]
        parent, children = specs[0], specs[1:]
        if parent.is_trigger or any(not c.is_trigger or not c.reduce_only for c in children):
            raise ActionError("Non-reduce-only TP/SL orders are not supported with normalTpsl grouping.")  # unverified
        order = self._new_order(user, parent, now_ms)
        try:
            check_rules(parent, self.ledger.sz_decimals(parent.coin))
            self._check_position_rules(order, now_ms)
            for child in children:
                check_rules(child, self.ledger.sz_decimals(child.coin))
        except OrderError as exc:
            self._record_rejected(order, exc.status, now_ms)
            return [{"error": exc.text}] * len(specs)
        self.ledger.add_order(order)
        waiting = [self.ledger.add_child(order, self._new_order(user, c, now_ms)) for c in children]
        status = self._execute_limit(order, now_ms)
        return [status] + ["waitingForFill" if w.waiting or w.status != "open" else "waitingForTrigger"
                           for w in waiting]

    @staticmethod
    def _new_order(user: str, spec: OrderSpec, now_ms: int, position_tpsl: bool = False) -> SimOrder:
        return SimOrder(0, user, spec.coin, spec.is_buy, spec.px, spec.sz, spec.sz, spec.reduce_only, now_ms,
                        spec.tif, spec.trigger_px, spec.is_market, spec.tpsl, spec.cloid, position_tpsl)

    def _check_position_rules(self, order: SimOrder, now_ms: int) -> None:
        tag = f" asset={self.ledger.coins.index(order.coin)}"
        pos = self.ledger.position(order.user, order.coin)
        increases = pos.szi == 0 or (pos.szi > 0) == order.is_buy
        if order.reduce_only and increases and not order.is_trigger:
            raise OrderError("Reduce only order would increase position." + tag, "reduceOnlyRejected")
        if not order.reduce_only and not order.is_trigger:
            added = order.sz if increases else max(0.0, order.sz - abs(pos.szi))
            need = added * order.limit_px / self.ledger.leverage(order.user, order.coin)[1]
            if need > self.ledger.free_margin(order.user, now_ms):
                raise OrderError("Insufficient margin to place order." + tag, "perpMarginRejected")
        if order.tif == "Alo":
            bid, ask = self._bbo(order.coin, now_ms)
            if (order.is_buy and order.limit_px >= ask) or (not order.is_buy and order.limit_px <= bid):
                raise OrderError(f"Post only order would have immediately matched, bbo was {bid:g}@{ask:g}." + tag,
                                 "badAloPxRejected")

    def _record_rejected(self, order: SimOrder, status: str, now_ms: int) -> None:
        """Keep a refused order so orderStatus by cloid can tell the client what happened."""
        if order.cloid:
            self.ledger.add_order(order)
            self.ledger.close_order(order, status, now_ms)

    def _execute_limit(self, order: SimOrder, now_ms: int) -> dict[str, Any]:
        """Cross what the limit allows now, then rest (Gtc, Alo) or cancel (Ioc) the rest."""
        filled_sz, notional = (0.0, 0.0) if order.tif == "Alo" else self._take(order, order.limit_px, now_ms)
        if order.tif == "Ioc":
            if filled_sz == 0:
                self.ledger.close_order(order, "iocCancelRejected", now_ms)
                asset = self.ledger.coins.index(order.coin)
                return {"error": f"Order could not immediately match against any resting orders. asset={asset}"}
            self.ledger.close_order(order, "filled" if order.sz == 0 else "canceled", now_ms)
        elif order.sz == 0:
            self.ledger.close_order(order, "filled", now_ms)
        if order.status == "open" or filled_sz == 0:
            return _resting(order)
        status: dict[str, Any] = {"totalSz": _fmt(filled_sz), "avgPx": _fmt(notional / filled_sz), "oid": order.oid}
        if order.cloid:
            status["cloid"] = order.cloid
        return {"filled": status}

    def _take(self, order: SimOrder, limit_px: float, now_ms: int) -> tuple[float, float]:
        """Fill `order` as taker through the book up to limit_px; returns (size, notional) filled."""
        want = order.sz
        pos = self.ledger.position(order.user, order.coin)
        if order.reduce_only:
            reduces = pos.szi != 0 and (pos.szi > 0) != order.is_buy
            want = min(want, abs(pos.szi)) if reduces else 0.0
        book = self.book(order.coin, now_ms)
        levels = book["levels"][1 if order.is_buy else 0] if book else []
        filled, notional = 0.0, 0.0
        for level in levels:
            px, depth = float(level["px"]), float(level["sz"])
            if want <= 1e-12 or (order.is_buy and px > limit_px) or (not order.is_buy and px < limit_px):
                break
            take = round(min(want, depth), self.ledger.sz_decimals(order.coin))
            if take <= 0:
                break
            self.ledger.book_fill(order, px, take, now_ms, crossed=True)
            want -= take
            filled, notional = filled + take, notional + take * px
        if filled:
            self._after_position_change(order.user, order.coin, now_ms)
        return filled, notional

    def _bbo(self, coin: str, now_ms: int) -> tuple[float, float]:
        book = self.book(coin, now_ms) or {"levels": [[], []]}
        bids, asks = book["levels"]
        return (float(bids[0]["px"]) if bids else 0.0), (float(asks[0]["px"]) if asks else float("inf"))

    def _after_position_change(self, user: str, coin: str, now_ms: int) -> None:
        """Reduce-only orders that could now only grow the position are canceled (closing cancels TP/SL)."""
        pos = self.ledger.position(user, coin)
        for order in self.ledger.open_orders(user):
            if order.waiting:
                continue  # a child waits for its parent, which decides its fate
            if order.coin == coin and order.reduce_only and (pos.szi == 0 or (pos.szi > 0) == order.is_buy):
                self.ledger.close_order(order, "reduceOnlyCanceled", now_ms)

    # --- canceling and modifying ----------------------------------------------------------------

    def cancel(self, user: str, asset: int, oid: int | str, now_ms: int) -> str | dict[str, str]:
        """One cancel (by oid or cloid): "success" or the exchange's error entry."""
        order = self.ledger.find(user, oid)
        coin = self.ledger.coins[asset] if 0 <= asset < len(self.ledger.coins) else None
        if order is None or order.status != "open" or order.coin != coin:
            return {"error": f"Order was never placed, already canceled, or filled. asset={asset}"}
        self.ledger.close_order(order, "canceled", now_ms)
        return "success"

    def modify(self, user: str, oid: int | str, spec: OrderSpec, now_ms: int) -> dict[str, Any]:
        """Replace an open order with `spec` (a new oid, as the exchange assigns on modify)."""
        order = self.ledger.find(user, oid)
        if order is None or order.status != "open":
            # The simulator's wording (unverified).
            return {"error": "Cannot modify canceled or filled order"}
        self.ledger.close_order(order, "canceled", now_ms)
        return self.place(user, spec, now_ms)

    def update_leverage(self, user: str, asset: int, is_cross: bool, leverage: int, now_ms: int) -> None:
        """Set an asset's leverage and margin mode for a user.

        Raises:
            ActionError: an unlisted asset, a leverage outside 1..maxLeverage, or a margin-mode
                switch while a position is open (the simulator's wording; unverified).
        """
        if not 0 <= asset < len(self.ledger.coins):
            raise ActionError(f"Invalid asset. asset={asset}")
        coin = self.ledger.coins[asset]
        if not 1 <= leverage <= self.ledger.max_leverage(coin):
            raise ActionError("Invalid leverage value")
        pos = self.ledger.position(user, coin)
        if pos.szi != 0 and self.ledger.leverage(user, coin)[0] != is_cross:
            raise ActionError("Cannot switch leverage type with open position.")
        self.ledger.accounts[user].leverage[coin] = (is_cross, leverage)

    # --- the clock ----------------------------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        """Replay the market from the last call to now: fills, triggers and hourly funding."""
        last = self.synced_ms
        self.synced_ms = max(now_ms, last or now_ms)
        if last is None or now_ms <= last:
            return
        hour = (last // HOUR_MS + 1) * HOUR_MS
        start = last
        while hour <= now_ms:
            replay(self, start, hour)  # the walk, cut where an account must be liquidated
            self._settle_funding(hour)
            start, hour = hour, hour + HOUR_MS
        replay(self, start, now_ms)

    def _walk(self, start_ms: int, end_ms: int) -> None:
        """Fire every resting or trigger order the path reaches in (start, end], earliest first."""
        while True:
            pending = [o for o in self.ledger.open_orders() if (o.is_trigger and not o.waiting) or o.tif in ("Gtc", "Alo")]
            if not pending:
                return
            paths = {coin: path_points(self.ledger.universe[coin], start_ms, end_ms)
                     for coin in {o.coin for o in pending}}
            hits = []
            for order in pending:
                if order.is_trigger:
                    at = first_touch(*paths[order.coin], float(order.trigger_px or 0.0), order.fires_on_fall)
                else:
                    at = first_cross(*paths[order.coin], self._fill_level(order), order.is_buy)
                if at is not None:
                    hits.append((at, order.oid, order))
            if not hits:
                return
            at, _, order = min(hits, key=lambda h: (h[0], h[1]))
            self._fire(order, at)
            start_ms = at

    def _touch_size(self, order: SimOrder, at_ms: int) -> float:
        """How much of a resting order one crossing fills: the size shown at the opposite touch then."""
        book = self.book(order.coin, at_ms)
        levels = book["levels"][1 if order.is_buy else 0] if book else []
        shown = round(float(levels[0]["sz"]), self.ledger.sz_decimals(order.coin)) if levels else 0.0
        return min(order.sz, shown) if shown > 0 else order.sz

    def _fill_level(self, order: SimOrder) -> float:
        """Where the path must go for a resting limit to fill: through it by maker_fill_ticks ticks."""
        ticks = self.maker_fill_ticks - TICK_TOLERANCE if self.maker_fill_ticks else 0.0
        depth = ticks * tick_size(order.limit_px, self.ledger.sz_decimals(order.coin))
        return order.limit_px - depth if order.is_buy else order.limit_px + depth

    def _fire(self, order: SimOrder, at_ms: int) -> None:
        if not order.is_trigger:
            # A resting limit the path traded through: filled at its price, as maker, as far as the touch goes.
            self.ledger.book_fill(order, order.limit_px, self._touch_size(order, at_ms), at_ms, crossed=False)
            if order.sz <= 0:
                self.ledger.close_order(order, "filled", at_ms)
            self._after_position_change(order.user, order.coin, at_ms)
            return
        trigger = float(order.trigger_px or 0.0)
        pos = self.ledger.position(order.user, order.coin)
        if order.reduce_only and (pos.szi == 0 or (pos.szi > 0) == order.is_buy):
            self.ledger.close_order(order, "reduceOnlyCanceled", at_ms)
            return
        order.trigger_px = None  # from here on it is a plain order
        if order.position_tpsl and order.orig_sz == 0:
            order.sz = abs(pos.szi)  # a position TP/SL of size 0 closes whatever the position is now
        if order.is_market:
            slip = MARKET_TRIGGER_SLIPPAGE if order.is_buy else -MARKET_TRIGGER_SLIPPAGE
            filled, _ = self._take(order, trigger * (1 + slip), at_ms)
            self.ledger.close_order(order, "filled" if filled else "canceled", at_ms)
            return
        order.tif = "Gtc"
        filled, _ = self._take(order, order.limit_px, at_ms)
        if order.sz == 0 or (order.reduce_only and self.ledger.position(order.user, order.coin).szi == 0):
            self.ledger.close_order(order, "filled", at_ms)

    def _settle_funding(self, hour_ms: int) -> None:
        for coin in self.ledger.coins:
            market = self.ledger.universe[coin]
            i = int(market.funding_t.searchsorted(hour_ms))
            if i < len(market.funding_t) and int(market.funding_t[i]) - hour_ms < HOUR_MS // 2:  # hour + jitter
                self.ledger.pay_funding(coin, market.mid(hour_ms), float(market.funding_rate[i]), int(market.funding_t[i]))


def _resting(order: SimOrder) -> dict[str, Any]:
    status: dict[str, Any] = {"oid": order.oid}
    if order.cloid:
        status["cloid"] = order.cloid
    return {"resting": status}


def _fmt(x: float) -> str:
    return fmt_num(round(x, 8))
