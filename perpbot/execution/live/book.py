"""Provides live trading's durable notes in bot_state: order intents, stops, the fills cursor, the instance.

Write-ahead: an order's intent (what it is for, the price expected) is saved under its cloid
*before* the order is sent and dropped only once the exchange's answer is booked. A daemon killed
in between leaves the intent behind; reconciliation asks the exchange what became of that cloid and
books it as it would have been. Until then an entry intent counts as a position on its coin.

Keys:
  live:intents   {cloid: intent}
  live:stops     {entry cloid: {"cloid", "px", "prev", "v"}}: the trade's stop order, the trigger the bot
                 last set, the one before (a move that may not have landed) and the cloid's version
  live:fills     the time from which the exchange's fills are read (fills are booked by tid, so
                 reading some twice is harmless)
  live:instance  {"id", "since", "adopted": {id: ms}}: this bot's instance id (in every cloid), when it
                 first traded, and instances of other bots it took the account over from
  live:realized  {entry cloid: {"pnl", "fees"}}: partial exits of databases from before fill identity
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from perpbot.execution.cloids import new_instance_id
from perpbot.risk.state import StatePort

KEY_INTENTS = "live:intents"
KEY_STOPS = "live:stops"
KEY_REALIZED = "live:realized"
KEY_FILLS = "live:fills"
KEY_INSTANCE = "live:instance"


@dataclass(frozen=True, slots=True)
class Intent:
    """Why an order was sent (kind: entry or exit)."""

    kind: str
    symbol: str
    side: str  # the trade's side (long/short), not the order's
    size: float
    expected_px: float
    reason: str
    sent_ms: int
    stop_px: float | None = None
    entry_cloid: str | None = None  # exits: the trade they belong to
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StopRecord:
    """A trade's stop as the bot last set it."""

    cloid: str
    px: float | None = None  # the trigger the bot last asked for
    prev: float | None = None  # the trigger before that, until the change is seen on the exchange
    v: int = 0  # the cloid's version (a replaced stop gets the next)

    def is_ours(self, trigger: float) -> bool:
        """A trigger the bot set (else someone moved the stop by hand)."""
        return any(p is not None and abs(p - trigger) <= 1e-9 * max(abs(p), 1.0) for p in (self.px, self.prev))


@dataclass(frozen=True, slots=True)
class Instance:
    """This bot's identity on the account."""

    id: str
    since: int
    adopted: dict[str, int] = field(default_factory=dict)  # another instance's id -> when it was taken over


class LiveBook:
    """The live executor's durable notes, kept in the bot_state table."""

    def __init__(self, state: StatePort) -> None:
        self.state = state

    def _get(self, key: str) -> dict[str, Any]:
        return dict(self.state.get_state(key, {}) or {})

    def _put(self, key: str, value: Any, now_ms: int) -> None:
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
    def stop(self, entry_cloid: str) -> StopRecord | None:
        raw = self._get(KEY_STOPS).get(entry_cloid)
        if raw is None:
            return None
        return StopRecord(raw) if isinstance(raw, str) else StopRecord(**raw)  # a string: before records

    def stop_cloid(self, entry_cloid: str) -> str | None:
        record = self.stop(entry_cloid)
        return record.cloid if record is not None else None

    def stops(self) -> dict[str, StopRecord]:
        return {key: rec for key in self._get(KEY_STOPS) if (rec := self.stop(key)) is not None}

    def set_stop(self, entry_cloid: str, record: StopRecord | None, now_ms: int) -> None:
        stops = self._get(KEY_STOPS)
        if record is None:
            stops.pop(entry_cloid, None)
        else:
            stops[entry_cloid] = asdict(record)
        self._put(KEY_STOPS, stops, now_ms)

    # partial exits of old databases
    def realized(self, entry_cloid: str | None) -> tuple[float, float]:
        """(pnl, fees) of exit fills booked before fills had identities and the trade closed in full."""
        raw = self._get(KEY_REALIZED).get(entry_cloid or "") or {}
        return float(raw.get("pnl", 0.0)), float(raw.get("fees", 0.0))

    def clear_trade(self, entry_cloid: str, now_ms: int) -> None:
        for key in (KEY_STOPS, KEY_REALIZED):
            values = self._get(key)
            if values.pop(entry_cloid, None) is not None:
                self._put(key, values, now_ms)

    # the fills cursor
    def fills_since(self) -> int | None:
        value = self.state.get_state(KEY_FILLS)
        return int(value) if value is not None else None

    def set_fills_since(self, ms: int, now_ms: int) -> None:
        self._put(KEY_FILLS, int(ms), now_ms)

    # the instance
    def instance(self, now_ms: int) -> Instance:
        """This database's instance, created (with a fresh id) the first time live trading starts."""
        raw = self.state.get_state(KEY_INSTANCE)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            return Instance(raw["id"], int(raw.get("since") or now_ms), dict(raw.get("adopted") or {}))
        instance = Instance(new_instance_id(), now_ms)
        self._put(KEY_INSTANCE, asdict(instance), now_ms)
        return instance

    def adopt(self, instance: Instance, others: set[str], now_ms: int) -> Instance:
        """Record that this instance took the account over from `others` now."""
        taken = Instance(instance.id, instance.since, {**instance.adopted, **{o: now_ms for o in others}})
        self._put(KEY_INSTANCE, asdict(taken), now_ms)
        return taken
