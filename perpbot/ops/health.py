"""Provides the engine heartbeat: a periodic `heartbeat` log line and uptime fields in the state.

It listens to the engine's events (execution/events.py): `Started` sets the start, every
`Published` (each tick and poll) writes `uptime_s` and `heartbeat_at` into the EngineState and
logs one line every `every_minutes` of clock time (the Watchdog in ops/watchdog.py sends the
alert heartbeats and the no-tick alarm from its own thread).
"""

from __future__ import annotations

import logging
from typing import Any

from perpbot.clock import MINUTE_MS
from perpbot.execution.events import EngineEvent, Started
from perpbot.execution.state import EngineState

log = logging.getLogger(__name__)


class Heartbeat:
    """Heartbeat log lines and state fields.

    Args:
        state: the engine's state (gets `uptime_s`, `heartbeat_at`).
        started_ms: when the engine started (clock time).
        every_minutes: log interval in clock minutes (0: never log, state only).
    """

    def __init__(self, state: EngineState, started_ms: int, every_minutes: float = 15.0) -> None:
        self.state = state
        self.started_ms = started_ms
        self.every_ms = int(every_minutes * MINUTE_MS)
        self._next_ms = started_ms
        self.beats = 0

    def on_event(self, event: EngineEvent) -> None:
        """The engine's listener: the start resets the clock, every published pass beats."""
        if isinstance(event, Started):
            self.started_ms = self._next_ms = event.now_ms
            return
        self.beat(event.now_ms, equity=event.equity, positions=event.positions)

    def beat(self, now_ms: int, **fields: Any) -> bool:
        """Update the state; log a heartbeat line when due. Returns True when it logged."""
        uptime_s = max(0, now_ms - self.started_ms) / 1000
        self.state.update(uptime_s=uptime_s, heartbeat_at=now_ms)
        if self.every_ms <= 0 or now_ms < self._next_ms:
            return False
        while self._next_ms <= now_ms:
            self._next_ms += self.every_ms
        self.beats += 1
        log.info("heartbeat", extra={"uptime_s": uptime_s, "last_tick": self.state.get("last_tick"), **fields})
        return True
