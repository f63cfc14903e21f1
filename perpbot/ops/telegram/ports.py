"""Provides the narrow interface Telegram control needs from whatever hosts the engine.

The controller never sees the engine itself: it gets the engine's command handler (the one
`perpbot control` reaches over the socket), a snapshot reader, the engine's clock, and the parts
of the store it reads and writes. Whoever hosts the engine (the daemon, the dashboard) builds
these from its objects, so moving that wiring is a few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from perpbot.models import Trade

CommandHandler = Callable[[str, dict[str, Any]], dict[str, Any]]
"""`handler("pause", {})`: a reply `{"ok": True, "data": {...}}` or `{"ok": False, "error": "..."}`."""

EventHook = Callable[[str, dict[str, Any]], None]
"""Where alerts go: `hook("error", {"text": ...})`, the engine's event hook shape."""


@dataclass(frozen=True, slots=True)
class EnginePorts:
    """What the controller asks of the hosted engine.

    Attributes:
        commands: the engine's command path (pause, resume, close {symbol}, flatten).
        snapshot: the engine state as `perpbot status` prints it.
        now_ms: the engine's clock (ages and report periods; a simulator's clock may run fast).
    """

    commands: CommandHandler
    snapshot: Callable[[], dict[str, Any]]
    now_ms: Callable[[], int]


class BotStore(Protocol):
    """The parts of data/db.py's Store the controller uses (bot_state, trades, the audit table)."""

    def get_state(self, key: str, default: Any = None) -> Any: ...

    def set_state(self, key: str, value: Any, now_ms: int = 0) -> None: ...

    def closed_trades(self, start: int | None = None, end: int | None = None, mode: str | None = None) -> list[Trade]: ...

    def open_trades(self, mode: str | None = None) -> list[Trade]: ...

    def add_remote_command(self, at_ms: int, channel: str, chat_id: str, user_id: str, user_name: str,
                           command: str, result: str, detail: str = "") -> int: ...

    def finish_remote_command(self, record_id: int, result: str, detail: str, finished_ms: int) -> None: ...

    def close(self) -> None: ...
