"""Provides the booking of exchange fills into trades, by the fill's identity (its `tid`).

The exchange holds one position per coin (one-way mode), and the ledger mirrors it with at most one
open trade per coin. Fills are booked in time order, each exactly once:

  open, no trade     a new trade of the fill's size (the bot's entry if its cloid is one, else `manual`)
  same direction     the trade grows (size, VWAP entry price, fees)
  opposite           the trade shrinks; at zero it closes (exit price: the VWAP of its closing fills,
                     pnl: their realized pnl less fees and funding); the rest of a fill that flipped
                     the position opens a new trade
  close, no trade    recorded as unattributed (a position the ledger never knew; reconciliation adopts
                     what is left of it)

Who sent a fill's order, and why, is the caller's `explain` (the bot's cloids and intents); the
stop of a new trade is the caller's `stop_rule`. Nothing here talks to the exchange.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from perpbot import crashpoints
from perpbot.data.db import Store
from perpbot.data.ledger_store import FillLink
from perpbot.data.records import Fill
from perpbot.models import Side, Trade

log = logging.getLogger(__name__)

SIZE_DECIMALS = 8  # sizes are decimals on the wire; float sums are rounded back to this
MODE = "live"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent the order a fill belongs to, and why."""

    source: str  # bot | manual | other-bot
    reason: str  # an opening fill: the entry reason; a closing one: the exit reason
    expected_px: float | None = None
    entry_cloid: str | None = None  # an opening fill of the bot's entry: that entry's cloid


@dataclass(frozen=True, slots=True)
class Booked:
    """What one fill did to the ledger."""

    kind: str  # opened | increased | reduced | closed | flipped | unattributed
    fill: Fill
    trade: Trade | None  # the trade it changed (closed, for closed and flipped)
    opened: Trade | None = None  # the trade it opened (opened, flipped)
    source: str = ""


Explain = Callable[[Fill, "Trade | None"], Origin]
StopRule = Callable[[str, Side, float], float]
Earlier = Callable[[Trade], "tuple[float, float]"]


def _r(x: float) -> float:
    return round(x, SIZE_DECIMALS)


class FillBook:
    """Books fills into the store's live trades.

    Args:
        store: the ledger.
        explain: (fill, the trade it meets or None) -> its Origin.
        stop_rule: (symbol, side, entry price) -> the stop price of a trade entered there.
        manual_cloid: a fill -> the key a trade it opens for someone else is stored under.
        earlier: a trade -> (pnl, fees) of exits booked before fills had identities (old databases).
    """

    def __init__(self, store: Store, explain: Explain, stop_rule: StopRule, manual_cloid: Callable[[Fill], str],
                 earlier: Earlier | None = None) -> None:
        self.store, self.explain, self.stop_rule, self.manual_cloid = store, explain, stop_rule, manual_cloid
        self.earlier: Earlier = earlier or (lambda trade: (0.0, 0.0))

    def book(self, fills: list[Fill]) -> list[Booked]:
        """Book the fills not booked yet, oldest first (stable for one time); returns what each did."""
        known = self.store.known_tids(f.tid for f in fills)
        out = []
        for fill in sorted({f.tid: f for f in fills if f.tid not in known}.values(), key=lambda f: f.time):
            booked = self._one(fill)
            out.append(booked)
            crashpoints.reached("fill_booked")
        return out

    def close_unexplained(self, trade: Trade, price: float, now_ms: int) -> Trade:
        """Close a trade whose closing fills cannot be found (gone, or too old to read) at `price`:
        its realized pnl is what its booked fills realized."""
        assert trade.id is not None
        legs = self.store.close_legs(trade.id)
        earlier_pnl, earlier_fees = self.earlier(trade)
        trade.exit_price, trade.exit_time, trade.exit_reason = price, now_ms, "reconcile"
        trade.expected_exit_price, trade.exit_cloid = None, None
        trade.fees += earlier_fees
        trade.pnl = legs.closed_pnl + earlier_pnl - trade.fees - trade.funding
        self.store.update_trade(trade)
        return trade

    def _one(self, fill: Fill) -> Booked:
        trade = self.store.open_trade(fill.symbol, MODE)
        origin = self.explain(fill, trade)
        if trade is None:
            if fill.dir.startswith("Close"):
                self.store.book_fill(fill, FillLink(None, None, 0.0, source=origin.source), [])
                log.warning("fill_unattributed", extra={"symbol": fill.symbol, "tid": fill.tid, "dir": fill.dir})
                return Booked("unattributed", fill, None, source=origin.source)
            rest = _r(fill.sz - abs(fill.start_position)) if ">" in fill.dir else fill.sz
            opened = self._new_trade(fill, origin, rest)
            self.store.book_fill(fill, FillLink(None, None, 0.0, opened, rest, origin.source), [opened])
            return Booked("opened", fill, None, opened, origin.source)
        if fill.side is trade.side:
            return self._increase(trade, fill, origin)
        return self._reduce(trade, fill, origin)

    def _new_trade(self, fill: Fill, origin: Origin, size: float) -> Trade:
        side = fill.side
        cloid = origin.entry_cloid
        if cloid is None or self.store.trade_by_cloid(cloid) is not None:
            cloid = self.manual_cloid(fill)
        return Trade(symbol=fill.symbol, side=side, size=size, entry_time=fill.time, entry_price=fill.px, mode=MODE,
                     stop_price=self.stop_rule(fill.symbol, side, fill.px), fees=fill.fee * size / fill.sz,
                     entry_reason=origin.reason if origin.source == "bot" else origin.source,
                     expected_entry_price=origin.expected_px, entry_cloid=cloid)

    def _increase(self, trade: Trade, fill: Fill, origin: Origin) -> Booked:
        size = _r(trade.size + fill.sz)
        trade.entry_price = (trade.size * trade.entry_price + fill.sz * fill.px) / size
        trade.size = size
        trade.fees += fill.fee
        if fill.cloid is not None and fill.cloid == trade.entry_cloid:
            # More fills of the entry order: its stop is measured from their VWAP.
            trade.stop_price = self.stop_rule(trade.symbol, trade.side, trade.entry_price)
        self.store.book_fill(fill, FillLink(trade, "open", fill.sz, source=origin.source), [trade])
        return Booked("increased", fill, trade, source=origin.source)

    def _reduce(self, trade: Trade, fill: Fill, origin: Origin) -> Booked:
        assert trade.id is not None
        closing = min(fill.sz, trade.size)
        rest = _r(fill.sz - closing)
        share = fill.fee * closing / fill.sz
        remaining = _r(trade.size - closing)
        if remaining > 0:
            trade.size = remaining
            trade.fees += share
            self.store.book_fill(fill, FillLink(trade, "close", closing, source=origin.source), [trade])
            return Booked("reduced", fill, trade, source=origin.source)
        legs = self.store.close_legs(trade.id)
        earlier_pnl, earlier_fees = self.earlier(trade)
        closed_sz = _r(legs.size + closing)
        trade.exit_price = (legs.notional + closing * fill.px) / closed_sz
        trade.exit_time = fill.time
        trade.exit_reason = origin.reason
        trade.expected_exit_price = origin.expected_px
        trade.exit_cloid = fill.cloid
        trade.size = closed_sz
        trade.fees += share + earlier_fees
        trade.pnl = legs.closed_pnl + fill.closed_pnl + earlier_pnl - trade.fees - trade.funding
        changed = [trade]
        opened = None
        if rest > 0:
            opened = self._new_trade(fill, Origin(origin.source, origin.source), rest)
            changed.append(opened)
        self.store.book_fill(fill, FillLink(trade, "close", closing, opened, rest, origin.source), changed)
        return Booked("flipped" if opened else "closed", fill, trade, opened, origin.source)


@dataclass(frozen=True, slots=True)
class Resolution:
    """One thing reconciliation (or a fill booked on the way) found and did; logged and alerted."""

    rule: str  # fill | manual | other-bot | intent | gone | unknown | size | stop | orphan
    symbol: str
    detail: str
    closed: Trade | None = None  # a trade this closed (for the risk ledger)


_BY = {"manual": "by hand", "other-bot": "by another perp-bot"}


def describe(b: Booked) -> Resolution:
    """What a fill booked outside the bot's own order did, in words."""
    f = b.fill
    stopped = b.trade is not None and b.trade.exit_reason == "stop_loss"
    who = ("by its stop (the owner's)" if stopped and b.source == "manual" else
           _BY.get(b.source, "by its stop" if stopped else "by the bot"))
    rule = "fill" if b.source == "bot" else b.source
    what = f"{f.dir} {f.sz:g} @ {f.px:g}"
    if b.kind == "opened" and b.opened is not None:
        return Resolution(rule, f.symbol, f"{what}: a position opened {who}, booked ({b.opened.entry_reason}) "
                                          f"with a stop at {b.opened.stop_price}")
    if b.kind == "increased" and b.trade is not None:
        return Resolution(rule, f.symbol, f"{what}: position increased {who} to {b.trade.size:g}; its stop follows")
    if b.kind == "reduced" and b.trade is not None:
        return Resolution(rule, f.symbol, f"{what}: position reduced {who} to {b.trade.size:g}; its stop follows")
    if b.kind in ("closed", "flipped") and b.trade is not None:
        text = f"{what}: position closed ({b.trade.exit_reason}) {who}, pnl {b.trade.pnl:+.2f}"
        if b.opened is not None:
            text += f"; the rest opened a {b.opened.side.value} {b.opened.size:g}, booked with a stop"
        return Resolution(rule, f.symbol, text, b.trade)
    return Resolution(rule, f.symbol, f"{what}: a fill of a position the bot never knew, recorded")
