"""Provides what the engine tells the world: alert events by name, and typed events for listeners.

Alerts (`EventHook`): `hook("trade_open", {"text": ..., **fields})` for every event a user may
want on a phone (config.ALERT_EVENTS); the host forwards them to the alert sink. Listeners get
the engine's own progress as objects: `Started` once, `Published` after every tick and poll (the
heartbeat in ops/health.py keeps uptime and `heartbeat_at` from these, which the watchdog reads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EventHook = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Started:
    """The engine recovered its state and is about to trade (clock time)."""

    now_ms: int


@dataclass(frozen=True, slots=True)
class Published:
    """A pass (tick or poll) ended and the state was published."""

    now_ms: int
    equity: float | None
    positions: int


EngineEvent = Started | Published
Listener = Callable[[EngineEvent], None]
