"""Provides the paper executor: simulated fills at the live mid, with the backtest's cost rules.

Fill semantics are issue 5's, applied to live prices (docs/design.md, "Paper trading"), and their
arithmetic is `perpbot.execution.fills`, which the backtest calls and compiles too:
* every fill is the mid moved `execution.slippage_bps` against the trader; the taker fee is
  charged on its notional;
* the stop is `RiskManager.stop_price` of the entry fill. It fills at the stop price when the
  sampled mid crosses it (or when a closed bar's low/high shows a touch the sampling missed),
  and at the mid (or the bar's open) when the price was already beyond it at the first look;
* funding: at each hourly funding time T after the entry bar, the position pays rate x size x
  the open of the bar starting at T (the mid until that bar is stored); positive rate: longs pay.
* maker orders (issue 19) rest until a closed bar trades through their limit by
  `execution.maker_fill_ticks` ticks (the backtest's rule, `fills.maker_filled`): the fill is at the
  limit, at that bar's open time, with the maker fee and no slippage; while an exit rests, each bar
  is checked for the stop first (a bar reaching both is the stop's), and a stop cancels the exit.
  Resting orders are kept in `bot_state`, so a restart carries on with them.
Every trade is a row in `trades` (mode "paper"); the entry's client order id is derived from
the decision's key, so a restarted daemon never opens the same decision twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from perpbot.clock import DAY_MS, HOUR_MS, floor_ms, interval_ms
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.execution import fills
from perpbot.execution.cloids import derive_cloid
from perpbot.execution.resting import ENTRY, MakerOrder
from perpbot.models import Side, Trade

log = logging.getLogger(__name__)

KEY_RESTING = "paper:resting"
PriceSource = Callable[[str], "float | None"]
StopRule = Callable[[Side, float], float]


class PaperExecutor:
    """Paper trades on one Store, marked to `price(symbol)` (the feed's mid).

    Args:
        settings: execution (costs, paper_equity), strategy.timeframe (bar checks, funding prices).
        store: where trades live; the only source of truth across restarts.
        price: the current mid of a symbol, or None when unknown.
        stop_rule: the stop price of an entry fill (RiskManager.stop_price).
    """

    mode = "paper"

    def __init__(self, settings: Settings, store: Store, price: PriceSource, stop_rule: StopRule) -> None:
        ex = settings.execution
        self.store = store
        self.price = price
        self.stop_rule = stop_rule
        self.slip = fills.slippage(ex.slippage_bps)
        self.taker_fee = ex.taker_fee
        self.maker_fee, self.fill_ticks = ex.maker_fee, float(ex.maker_fill_ticks)
        self.sz_decimals: dict[str, int] = {}  # the exchange's, for price ticks (set by the composition)
        self.base_equity = ex.paper_equity
        self.timeframe = settings.strategy.timeframe
        self.step_ms = interval_ms(self.timeframe)
        self._open: dict[int, Trade] = {}
        self._last_mid: dict[int, float] = {}  # trade id -> last mid seen on the safe side of the stop
        self._checked_bar: dict[int, int] = {}  # trade id -> next bar open time to check against the stop
        self._realized = 0.0
        self._now_ms = 0  # the latest time seen (equity() takes none; funding accrues up to it)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, now_ms: int) -> list[Any]:
        """Load open paper trades and realized pnl from the store (a restart carries on)."""
        self._now_ms = now_ms
        self._open = {t.id: t for t in self.store.open_trades(mode=self.mode) if t.id is not None}
        self._realized = sum(t.pnl or 0.0 for t in self.store.closed_trades(mode=self.mode))
        self._last_mid.clear()  # a restart cannot know the path it missed: the first look fills at the mid
        self._checked_bar = {i: self._first_bar(t) for i, t in self._open.items()}
        self._resting = {o["cloid"]: MakerOrder(**o) for o in self.store.get_state(KEY_RESTING) or []}
        return []

    def listen(self, wake: Callable[[], None]) -> bool:
        return False  # paper stops are found by sync() itself, on the mids and bars

    def open_trades(self) -> list[Trade]:
        return sorted(self._open.values(), key=lambda t: (t.entry_time, t.id or 0))

    # --- orders --------------------------------------------------------------------------------

    def entry_cloid(self, symbol: str, side: Side, key: object) -> str:
        return derive_cloid("paper-entry", symbol, side.value, key)

    def exit_cloid(self, trade: Trade, placed_ms: int = 0) -> str:
        return derive_cloid("paper-exit", trade.entry_cloid)

    # --- maker orders (execution/resting.py) -----------------------------------------------------

    def rest(self, order: MakerOrder, now_ms: int) -> MakerOrder | None:
        """Rest a maker order; None if this entry's decision was filled before."""
        if order.kind == ENTRY and self.store.trade_by_cloid(order.cloid) is not None:
            return None
        self._resting[order.cloid] = order
        self._save_resting(now_ms)
        self.store.maker_placed(order.cloid, self.mode, order.symbol, order.kind, order.side, order.size, order.limit,
                                order.placed_ms)
        log.info("paper_maker_placed", extra={"symbol": order.symbol, "kind": order.kind, "limit": order.limit,
                                              "size": order.size, "cloid": order.cloid})
        return order

    def reprice(self, order: MakerOrder, limit: float, now_ms: int) -> MakerOrder | None:
        """Move a resting order's limit (bars not yet checked are judged against the new one)."""
        if order.cloid not in self._resting:
            return None
        moved = self._resting[order.cloid] = replace(self._resting[order.cloid], limit=limit)
        self._save_resting(now_ms)
        return moved

    def cancel_resting(self, order: MakerOrder, now_ms: int, outcome: str = "cancelled") -> bool:
        gone = self._resting.pop(order.cloid, None) is not None
        if gone:
            self._save_resting(now_ms)
            self.store.maker_ended(order.cloid, outcome, now_ms)
        return gone

    def resting(self) -> list[MakerOrder]:
        return sorted(self._resting.values(), key=lambda o: (o.placed_ms, o.symbol))

    def open(self, symbol: str, side: Side, size: float, reason: str, key: object, now_ms: int,
             mid: float | None = None) -> Trade | None:
        """Fill `size` at the mid plus slippage; None if this decision was filled before or no price."""
        cloid = self.entry_cloid(symbol, side, key)
        if self.store.trade_by_cloid(cloid) is not None:
            log.info("paper_entry_known", extra={"symbol": symbol, "cloid": cloid})
            return None
        mid = mid if mid is not None else self.price(symbol)
        if mid is None or not mid > 0 or size <= 0:
            log.warning("paper_entry_skipped", extra={"symbol": symbol, "mid": mid, "size": size})
            return None
        self._now_ms = max(self._now_ms, now_ms)
        fill = fills.fill_price(mid, side.sign, self.slip)
        trade = Trade(symbol=symbol, side=side, size=size, entry_time=now_ms, entry_price=fill, mode=self.mode,
                      stop_price=self.stop_rule(side, fill), fees=fills.fee(size, fill, self.taker_fee),
                      entry_reason=reason, expected_entry_price=mid, entry_cloid=cloid)
        self.store.insert_trade(trade)
        assert trade.id is not None
        self._open[trade.id] = trade
        self._last_mid[trade.id] = mid
        self._checked_bar[trade.id] = self._first_bar(trade)
        log.info("paper_entry", extra={"symbol": symbol, "side": side.value, "size": size, "price": fill,
                                       "mid": mid, "stop": trade.stop_price, "reason": reason, "cloid": cloid})
        return trade

    def close(self, trade: Trade, reason: str, now_ms: int, mid: float | None = None) -> Trade | None:
        """Exit at the mid less slippage; None if it is not open (closed already, or no price)."""
        mine = self._open.get(trade.id) if trade.id is not None else None
        if mine is None:
            return None
        mid = mid if mid is not None else self.price(trade.symbol)
        if mid is None or not mid > 0:
            log.warning("paper_exit_no_price", extra={"symbol": trade.symbol, "reason": reason})
            return None
        return self._book_exit(mine, reason, now_ms, mid)

    def sync(self, now_ms: int, force: bool = False) -> list[Trade]:
        """Stops hit since the last look, by the mids and by the closed bars; the trades closed."""
        self._now_ms = max(self._now_ms, now_ms)
        self._fill_entries(now_ms)
        closed = []
        for trade in self.open_trades():
            by_bar = self._stop_by_bars(trade, now_ms)
            if by_bar is not None:  # booked at the open of the bar that touched it (when is unknown within)
                price, when, maker_exit = by_bar
                reason = maker_exit.reason if maker_exit is not None else "stop_loss"
                closed.append(self._book_exit(trade, reason, when, price, maker=maker_exit is not None))
                continue
            hit = self._stop_by_mid(trade)
            if hit is not None:
                closed.append(self._book_exit(trade, "stop_loss", now_ms, hit))
        return closed

    # --- account -------------------------------------------------------------------------------

    def unrealized(self, trade: Trade, mark: float | None, now_ms: int) -> float:
        """Pnl if closed at `mark` now, net of the entry fee and funding so far (not the exit fee)."""
        if mark is None:
            return -trade.fees - trade.funding
        return fills.trade_pnl(trade.side.sign, trade.size, trade.entry_price, mark, trade.fees, 0.0,
                               self._funding(trade, now_ms))

    def position_marks(self, trades: list[Trade], now_ms: int) -> dict[str, dict[str, Any]]:
        """Each open trade's mark (the feed's mid) and unrealized pnl, by symbol."""
        out = {}
        for trade in trades:
            mark = self.price(trade.symbol)
            out[trade.symbol] = {"mark": mark, "unrealized_pnl": self.unrealized(trade, mark, now_ms)}
        return out

    def unresolved_symbols(self) -> set[str]:
        """Paper fills at once: no entry is ever of unknown outcome."""
        return set()

    def entry_blocks(self) -> list[str]:
        return []

    def equity(self) -> float:
        """execution.paper_equity + realized paper pnl + open positions at the mid."""
        eq = self.base_equity + self._realized
        for trade in self._open.values():
            eq += self.unrealized(trade, self.price(trade.symbol), max(self._now_ms, trade.entry_time))
        return eq

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "paper_equity": self.base_equity, "slippage_bps": self.slip * 10_000,
                "taker_fee": self.taker_fee}

    # --- internals -----------------------------------------------------------------------------

    def _first_bar(self, trade: Trade) -> int:
        return floor_ms(trade.entry_time, self.step_ms)

    def _stop_by_mid(self, trade: Trade) -> float | None:
        """The pre-slippage exit price if the mid is beyond the stop, else None."""
        mid = self.price(trade.symbol)
        stop = trade.stop_price
        if mid is None or stop is None or trade.id is None:
            return None
        if not fills.stop_touched(trade.side.sign, mid, mid, stop):
            self._last_mid[trade.id] = mid
            return None
        crossed = trade.id in self._last_mid  # seen on the safe side before: it crossed between two looks
        return stop if crossed else mid

    def _stop_by_bars(self, trade: Trade, now_ms: int) -> tuple[float, int, MakerOrder | None] | None:
        """(price, bar open, None) of a stop touch inside a closed bar the mid sampling missed, or
        (limit, bar open, the order) of a resting exit a bar traded through first."""
        assert trade.id is not None
        start = self._checked_bar.get(trade.id, self._first_bar(trade))
        stop = trade.stop_price
        if start + self.step_ms > now_ms:
            return None  # no bar has closed since the last look
        bars = self.store.load_candles(trade.symbol, self.timeframe, start, floor_ms(now_ms, self.step_ms))
        if len(bars) == 0 or stop is None:
            return None
        touch = fills.stop_touched(trade.side.sign, bars.low, bars.high, stop)
        exit_order = next((o for o in self._resting.values() if o.trade_id == trade.id), None)
        filled = self._maker_fills(exit_order, bars) if exit_order is not None else None
        first_fill = int(np.argmax(filled)) if filled is not None and filled.any() else len(bars)
        if not touch[:first_fill + 1].any():
            if first_fill < len(bars):  # at the limit, at that bar's open (the stop wins a bar reaching both)
                return exit_order.limit, max(int(bars.t[first_fill]), trade.entry_time), exit_order
            self._checked_bar[trade.id] = int(bars.t[-1]) + self.step_ms
            if exit_order is not None:
                self._checked(exit_order, int(bars.t[-1]) + self.step_ms)
            return None  # a touch found stays found until its exit is booked (a failed write retries it)
        i = int(np.argmax(touch))
        # Booked at that bar's open, but never before the current UTC day (the risk ledger's day), nor
        # before the entry: an entry filled after its bar opened must not exit before it entered.
        return (fills.stop_fill(trade.side.sign, float(bars.open[i]), stop),
                max(int(bars.t[i]), trade.entry_time, floor_ms(now_ms, DAY_MS)), None)

    def _maker_fills(self, order: MakerOrder, bars) -> np.ndarray:
        """Per bar: does it trade through the resting order (bars before its `checked_ms` never do)?"""
        tick = fills.tick_size(order.limit, self.sz_decimals.get(order.symbol, 0))
        through = fills.maker_filled(order.sign, bars.low, bars.high, order.limit, tick, self.fill_ticks)
        return np.asarray(through) & (bars.t >= order.checked_ms)

    def _checked(self, order: MakerOrder, next_open: int) -> None:
        if order.cloid in self._resting and next_open > order.checked_ms:
            self._resting[order.cloid] = replace(order, checked_ms=next_open)
            self._save_resting(self._now_ms)

    def _fill_entries(self, now_ms: int) -> None:
        """Resting entries the closed bars traded through open at their limit, at that bar's open."""
        for order in [o for o in self.resting() if o.kind == ENTRY]:
            if order.checked_ms + self.step_ms > now_ms:
                continue
            bars = self.store.load_candles(order.symbol, self.timeframe, order.checked_ms,
                                           floor_ms(now_ms, self.step_ms))
            if len(bars) == 0:
                continue
            filled = self._maker_fills(order, bars)
            if not filled.any():
                self._checked(order, int(bars.t[-1]) + self.step_ms)
                continue
            self._open_at_limit(order, int(bars.t[int(np.argmax(filled))]))

    def _open_at_limit(self, order: MakerOrder, bar_open: int) -> Trade:
        side = Side(order.side)
        trade = Trade(symbol=order.symbol, side=side, size=order.size, entry_time=bar_open, entry_price=order.limit,
                      mode=self.mode, stop_price=self.stop_rule(side, order.limit),
                      fees=fills.maker_fee(order.size, order.limit, self.maker_fee), entry_reason=order.reason,
                      expected_entry_price=order.limit, entry_cloid=order.cloid)
        self.store.insert_trade(trade)  # written before the order goes: a failed write leaves it resting
        assert trade.id is not None
        self._resting.pop(order.cloid, None)
        self._save_resting(bar_open)
        self.store.maker_ended(order.cloid, "filled", bar_open, trade.fees)
        self._open[trade.id] = trade
        self._last_mid[trade.id] = order.limit  # filled on the safe side of its stop
        self._checked_bar[trade.id] = bar_open  # the stop is checked from the fill's bar on
        log.info("paper_entry", extra={"symbol": trade.symbol, "side": side.value, "size": trade.size,
                                       "price": trade.entry_price, "stop": trade.stop_price, "maker": True,
                                       "reason": trade.entry_reason, "cloid": trade.entry_cloid})
        return trade

    def _save_resting(self, now_ms: int) -> None:
        self.store.set_state(KEY_RESTING, [o.to_dict() for o in self.resting()], now_ms)

    def _book_exit(self, open_trade: Trade, reason: str, now_ms: int, price: float, maker: bool = False) -> Trade:
        assert open_trade.id is not None and open_trade.entry_cloid
        sign = open_trade.side.sign
        fill = price if maker else fills.fill_price(price, -sign, self.slip)
        funding = self._funding(open_trade, now_ms)
        exit_fee = fills.maker_fee(open_trade.size, fill, self.maker_fee) if maker else fills.fee(
            open_trade.size, fill, self.taker_fee)
        # The exit is built on a copy and written before anything here changes: if the write fails (a
        # full disk) the position stays open as it was, and the next look books it once.
        trade = replace(open_trade, exit_time=now_ms, exit_price=fill, expected_exit_price=price, exit_reason=reason,
                        funding=funding, fees=open_trade.fees + exit_fee,
                        exit_cloid=self.exit_cloid(open_trade),
                        pnl=fills.trade_pnl(sign, open_trade.size, open_trade.entry_price, fill, open_trade.fees,
                                            exit_fee, funding))
        self.store.update_trade(trade)
        if maker:
            self._resting.pop(trade.exit_cloid or "", None)
            self._save_resting(now_ms)
            self.store.maker_ended(trade.exit_cloid or "", "filled", now_ms, exit_fee)
        assert trade.id is not None and trade.pnl is not None
        self._open.pop(trade.id, None)
        self._last_mid.pop(trade.id, None)
        self._checked_bar.pop(trade.id, None)
        for order in [o for o in self._resting.values() if o.trade_id == trade.id]:  # never a double close
            self.cancel_resting(order, now_ms)
        self._realized += trade.pnl
        log.info("paper_exit", extra={"symbol": trade.symbol, "side": trade.side.value, "price": fill,
                                      "reason": reason, "pnl": round(trade.pnl, 6), "cloid": trade.exit_cloid})
        return trade

    def _funding(self, trade: Trade, now_ms: int) -> float:
        """Funding paid so far (positive: paid): rate x size x the open of the bar at each funding time."""
        first_bar = self._first_bar(trade)
        times, rates = self.store.load_funding(trade.symbol, first_bar + self.step_ms, now_ms + 1)
        if len(times) == 0:
            return 0.0
        hours = (times + HOUR_MS // 2) // HOUR_MS * HOUR_MS  # a rate lands ms after its hour: snap, as the backtest does
        bar_t = hours - hours % self.step_ms
        keep = (bar_t > first_bar) & (bar_t <= now_ms)
        if not keep.any():
            return 0.0
        bars = self.store.load_candles(trade.symbol, self.timeframe, int(bar_t[keep][0]), int(bar_t[keep][-1]) + 1)
        opens = dict(zip(bars.t.tolist(), bars.open.tolist()))
        per_unit = 0.0
        for t, rate in zip(bar_t[keep].tolist(), rates[keep].tolist()):
            px = opens.get(t)
            if px is None:
                px = self.price(trade.symbol) or trade.entry_price
            per_unit += fills.funding_per_unit(rate, px)
        return fills.funding_paid(trade.side.sign, trade.size, per_unit)
