"""Provides the engine's shared state: a thread-safe container the socket and the dashboard read.

The engine thread writes (`update`, `add_signal`); any thread reads `snapshot()`, which returns
a deep copy in the shape docs/interfaces.md lists, so a reader never sees a half-written tick.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from typing import Any

MAX_SIGNALS = 50
"""Recent signals kept for the snapshot (the newest last)."""

SNAPSHOT_FIELDS = (
    "mode", "paused", "halted", "halt_reason", "equity", "pnl_today", "regime", "regime_score", "last_tick",
    "started_at", "timeframe", "symbols", "feed", "risk_blocks", "cooldowns", "recent_signals", "marks", "positions",
    "signals",
)


def _empty() -> dict[str, Any]:
    return {
        "mode": "paper", "paused": False, "halted": False, "halt_reason": None, "equity": None, "pnl_today": 0.0,
        "regime": None, "regime_score": None, "last_tick": None, "started_at": None, "timeframe": None,
        "symbols": [], "feed": {}, "risk_blocks": [], "cooldowns": {}, "recent_signals": [], "marks": {},
        "positions": [], "signals": [], "pending": [], "resting_orders": [],
    }


class EngineState:
    """The volatile runtime state of one engine (positions, equity, regime, feed health, ...).

    Extra keys (e.g. `uptime_s`, `heartbeat_at` from ops/health.py) are kept and served too.
    """

    def __init__(self, **initial: Any) -> None:
        self._lock = threading.Lock()
        self._data = _empty()
        self._signals: deque[dict[str, Any]] = deque(maxlen=MAX_SIGNALS)
        self._data.update(initial)

    def update(self, **fields: Any) -> None:
        """Replace the given top-level fields at once."""
        with self._lock:
            self._data.update(fields)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return copy.deepcopy(self._data.get(key, default))

    def add_signal(self, time_ms: int, symbol: str, action: str, reason: str) -> None:
        """Remember one decision for `recent_signals` (bounded)."""
        with self._lock:
            self._signals.append({"time": time_ms, "symbol": symbol, "action": action, "reason": reason})

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of everything, `recent_signals` newest last."""
        with self._lock:
            out = copy.deepcopy(self._data)
            out["recent_signals"] = [dict(s) for s in self._signals]
        return out
