"""Provides the engine's upkeep half: the feed's health, regime and loss-cap alerts, events to the
alert hook and the listeners, and the state published after every pass (what `status` shows).

A mixin of TradingEngine, as EngineCommands is: it reads the attributes the engine sets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from perpbot.errors import ExchangeError
from perpbot.execution.engine_parts import PendingBook, RegimeSource, finite_or_none, position_view, regime_effect
from perpbot.execution.events import EventHook, Listener, Published, Started
from perpbot.execution.executor import Executor
from perpbot.execution.resting import MakerOrder
from perpbot.execution.state import EngineState
from perpbot.models import Trade
from perpbot.risk.manager import RiskManager
from perpbot.data.ports import PriceFeed
from perpbot.signals.prediction import RegimeState

log = logging.getLogger("perpbot.execution.engine")  # the engine's events keep the engine's logger


def resting_view(order: MakerOrder) -> dict[str, object]:
    """A resting maker order as `status` shows it: an entry buys for a long, an exit sells it."""
    buys = (order.kind == "entry") == (order.side == "long")
    return {"symbol": order.symbol, "kind": order.kind, "side": "buy" if buys else "sell", "size": order.size,
            "limit": order.limit, "placed_at": order.placed_ms, "reason": order.reason, "cloid": order.cloid}


class EngineUpkeep:
    """The upkeep half of TradingEngine (which sets these attributes)."""

    executor: Executor
    feed: PriceFeed
    risk: RiskManager
    regime: RegimeSource
    state: EngineState
    pending: PendingBook
    events: EventHook
    listeners: list[Listener]
    symbols: list[str]
    _equity: float | None
    _stale_looks: int
    _feed_stale: bool
    _last_regime: str | None
    _capped: bool
    _announced: set[int | None]
    _booked: Callable[[Trade], None]
    _hold_for_executor: Callable[[], None]

    def _feed_upkeep(self, now: int) -> None:
        stale = bool(self.feed.is_stale())
        # Alert on the second stale look in a row: the first look after a start (no prices yet)
        # or one missed message is healed at once by the REST refresh below.
        self._stale_looks = self._stale_looks + 1 if stale else 0
        if self._stale_looks == 2:
            self._emit("stale_feed", text="price feed stale: reconnecting, REST prices meanwhile")
        if stale:
            self.feed.reconnect()
            self.feed.refresh_rest()
            if self.executor.mode == "live":
                for trade in self.executor.sync(now, force=True):
                    self._booked(trade)
        self._feed_stale = stale

    def _note_regime(self, regime: RegimeState) -> None:
        name = regime.regime.value
        if self._last_regime is None and name != "NORMAL":
            self._emit("regime_change", text=f"regime {name} at start: {regime_effect(regime)}", score=regime.score)
        elif self._last_regime is not None and name != self._last_regime:
            self._emit("regime_change", text=f"regime {self._last_regime} -> {name}: {regime_effect(regime)}",
                       score=regime.score)
        self._last_regime = name

    def _note_cap(self, reason: str | None) -> None:
        capped = reason == "daily_loss_cap" or any(b.startswith("daily loss cap") for b in self.risk.blocks())
        if capped and not self._capped:
            self._emit("daily_loss_cap", text="daily loss cap reached: no new entries until UTC midnight")
        self._capped = capped

    def _emit(self, event: str, **fields: object) -> None:
        try:
            self.events(event, fields)
        except Exception:  # noqa: BLE001 - an alert sink must never stop trading
            log.exception("event hook failed", extra={"alert_event": event})

    def _announce(self, trade: Trade) -> None:
        """trade_open, once per trade: a taker entry as it fills, a resting maker entry when `_publish` first
        sees its trade. Positions opened by hand or by another bot are told by reconciliation instead."""
        self._announced.add(trade.id)
        if trade.by_hand:
            return
        self._emit("trade_open", text=f"{trade.symbol} {trade.side.value} {trade.size:g} @ {trade.entry_price:.6g}",
                   symbol=trade.symbol, side=trade.side.value, size=trade.size, price=trade.entry_price,
                   reason=trade.entry_reason)

    def _tell(self, event: Started | Published) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener must never stop trading
                log.exception("engine listener failed", extra={"engine_event": type(event).__name__})

    def _publish_at_start(self, now: int) -> None:
        """The first publish: an account the exchange cannot report right now (a 5xx, a 429 storm) holds
        entries until a pass reads it, instead of ending the start; the loss cap needs the day's equity."""
        try:
            self._publish(now, full=True)
        except ExchangeError as exc:
            reason = f"account state not read yet ({exc.message}); retrying every pass"
            self.risk.hold("equity", reason)
            log.warning("start_equity_unread", extra={"error": str(exc)})
            self._emit("error", text=f"{reason}: no new entries until it reads, open positions keep their stops")

    def _publish(self, now: int, full: bool) -> None:
        if full or self._equity is None:
            self._equity = self.executor.equity()
            self.risk.note_equity(self._equity, now)
            self.risk.hold("equity", None)
        trades = self.executor.open_trades()
        for trade in trades:
            if trade.id not in self._announced:
                self._announce(trade)
        self._announced &= {t.id for t in trades}
        views = self.executor.position_marks(trades, now)
        positions = [position_view(t, views.get(t.symbol, {}), self.risk.timeout_ms) for t in trades]
        marks = {t.symbol: views.get(t.symbol, {}).get("mark") for t in trades}
        for symbol, price in self.feed.mids().items():
            if symbol in self.symbols and marks.get(symbol) is None:
                marks[symbol] = price
        regime = self.regime.state
        self._hold_for_executor()
        self.state.update(
            mode=self.executor.mode, paused=self.risk.paused, halted=self.risk.halt_reason is not None,
            halt_reason=self.risk.halt_reason, equity=self._equity, pnl_today=self.risk.pnl_today(now),
            regime=regime.regime.value, regime_score=finite_or_none(regime.score), feed=self.feed.health(),
            risk_blocks=self.risk.blocks(now, regime), cooldowns=self.risk.cooldowns(now), marks=marks,
            unresolved=sorted(self.executor.unresolved_symbols()),
            resting_orders=[resting_view(o) for o in self.executor.resting()],
            positions=positions, pending=[{"symbol": p.symbol, "side": p.side, "fill_at": p.fill_ms}
                                          for p in self.pending.items.values()])
        self._tell(Published(now, self._equity, len(positions)))

