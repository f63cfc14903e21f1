"""Provides the StatePort protocol (durable key/value state) and its in-memory form."""

from __future__ import annotations

import json
from typing import Any, Protocol


class StatePort(Protocol):
    """Durable JSON-able key/value state; perpbot.data.db.Store satisfies it."""

    def get_state(self, key: str, default: Any = None) -> Any: ...

    def set_state(self, key: str, value: Any, now_ms: int = 0) -> None: ...


class MemoryState:
    """A dict-backed StatePort for the backtest and tests.

    Values go through JSON like the Store's do, so code that works here works on SQLite
    (tuples come back as lists, int keys as strings).
    """

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self.updated_at: dict[str, int] = {}

    def get_state(self, key: str, default: Any = None) -> Any:
        raw = self._data.get(key)
        return json.loads(raw) if raw is not None else default

    def set_state(self, key: str, value: Any, now_ms: int = 0) -> None:
        self._data[key] = json.dumps(value)
        self.updated_at[key] = now_ms

    def delete_state(self, key: str) -> None:
        self._data.pop(key, None)
        self.updated_at.pop(key, None)

    def keys(self) -> list[str]:
        return sorted(self._data)
