"""Provides live trading's durable bookkeeping in bot_state: order intents, stop ids, partial exits.

Write-ahead: an order's intent (what it is for, the price expected, the stop it needs) is saved
under its cloid *before* the order is sent and dropped only once the trade row says what
happened. A daemon killed in between leaves the intent behind, and reconciliation finishes the
job from it: the exchange is asked what became of that cloid, and the trade is written as it
would have been.

Keys: `live:intents` {cloid: intent}, `live:stops` {entry cloid: stop cloid}, `live:realized`
{entry cloid: {"pnl", "fees"}} for exits that filled in part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from perpbot.execution.live_orders import Execution
from perpbot.models import Side, Trade
from perpbot.risk.state import StatePort

KEY_INTENTS = "live:intents"
KEY_STOPS = "live:stops"
KEY_REALIZED = "live:realized"


@dataclass(frozen=True, slots=True)
class Intent:
    """Why an order was sent (kind: entry, exit or stop)."""

    kind: str
    symbol: str
    side: str  # the trade's side (long/short), not the order's
    size: float
    expected_px: float
    reason: str
    sent_ms: int
    stop_px: float | None = None
    entry_cloid: str | None = None  # exits and stops: the trade they belong to
    extra: dict[str, Any] = field(default_factory=dict)


class LiveBook:
    """The live executor's durable notes, kept in the bot_state table."""

    def __init__(self, state: StatePort) -> None:
        self.state = state

    def _get(self, key: str) -> dict[str, Any]:
        return dict(self.state.get_state(key, {}) or {})

    def _put(self, key: str, value: dict[str, Any], now_ms: int) -> None:
        self.state.set_state(key, value, now_ms)

    # intents
    def intents(self) -> dict[str, Intent]:
        return {cloid: Intent(**raw) for cloid, raw in self._get(KEY_INTENTS).items()}

    def remember(self, cloid: str, intent: Intent) -> None:
        intents = self._get(KEY_INTENTS)
        intents[cloid] = asdict(intent)
        self._put(KEY_INTENTS, intents, intent.sent_ms)

    def forget(self, cloid: str, now_ms: int) -> None:
        intents = self._get(KEY_INTENTS)
        if intents.pop(cloid, None) is not None:
            self._put(KEY_INTENTS, intents, now_ms)

    # stops
    def stop_cloid(self, entry_cloid: str) -> str | None:
        return self._get(KEY_STOPS).get(entry_cloid)

    def stops(self) -> dict[str, str]:
        return self._get(KEY_STOPS)

    def set_stop(self, entry_cloid: str, stop_cloid: str | None, now_ms: int) -> None:
        stops = self._get(KEY_STOPS)
        if stop_cloid is None:
            stops.pop(entry_cloid, None)
        else:
            stops[entry_cloid] = stop_cloid
        self._put(KEY_STOPS, stops, now_ms)

    # partial exits
    def realized(self, entry_cloid: str) -> tuple[float, float]:
        """(pnl, fees) of exit fills booked before the trade closed in full."""
        raw = self._get(KEY_REALIZED).get(entry_cloid) or {}
        return float(raw.get("pnl", 0.0)), float(raw.get("fees", 0.0))

    def add_realized(self, entry_cloid: str, pnl: float, fees: float, now_ms: int) -> None:
        realized = self._get(KEY_REALIZED)
        old = realized.get(entry_cloid) or {"pnl": 0.0, "fees": 0.0}
        realized[entry_cloid] = {"pnl": old["pnl"] + pnl, "fees": old["fees"] + fees}
        self._put(KEY_REALIZED, realized, now_ms)

    def clear_trade(self, entry_cloid: str, now_ms: int) -> None:
        for key in (KEY_STOPS, KEY_REALIZED):
            values = self._get(key)
            if values.pop(entry_cloid, None) is not None:
                self._put(key, values, now_ms)


def trade_from_entry(intent: Intent, execution: Execution, cloid: str, now_ms: int, stop_px: float | None) -> Trade:
    """The open trade an entry fill makes (size and price as filled, not as asked)."""
    return Trade(symbol=intent.symbol, side=Side(intent.side), size=execution.size,
                 entry_time=execution.time_ms or now_ms, entry_price=float(execution.avg_px or intent.expected_px),
                 mode="live", stop_price=stop_px, fees=execution.fees, entry_reason=intent.reason,
                 expected_entry_price=intent.expected_px, entry_cloid=cloid)


def close_trade(trade: Trade, exits: list[Execution], reason: str, expected_px: float | None, now_ms: int,
                funding: float, earlier: tuple[float, float] = (0.0, 0.0)) -> Trade:
    """Book the exit of `trade` from its exit fills (price = their VWAP; pnl net of fees and funding)."""
    filled = [e for e in exits if e.filled]
    size = sum(e.size for e in filled)
    exit_fees = sum(e.fees for e in filled) + earlier[1]
    gross = sum(e.closed_pnl for e in filled) + earlier[0]
    trade.exit_price = sum(float(e.avg_px or 0.0) * e.size for e in filled) / size if size else expected_px
    trade.exit_time = max((e.time_ms or now_ms for e in filled), default=now_ms)
    trade.exit_reason = reason
    trade.expected_exit_price = expected_px
    trade.exit_cloid = filled[-1].cloid if filled else None
    trade.fees += exit_fees
    trade.funding = funding
    trade.pnl = gross - trade.fees - funding
    return trade
