"""Provides what the dashboard runs against, as ports: a `Session` and the `SessionInfo` it starts.

The composition root passes the app a session (perpbot/cli/sessions.py: hosting the engine, the
offline demo, or attached to a daemon). Its `start()` runs on a worker thread after the first paint
(it may import heavy modules, open the database, reach the exchange); it returns a `SessionInfo`
with the link the UI talks through. `stop()` stops whatever the session started and waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from perpbot.clock import Clock
from perpbot.config import Settings


class EngineLink(Protocol):
    """The one way into the engine (docs/interfaces.md: perpbot/ipc/link.py)."""

    def request(self, cmd: str, **args: Any) -> dict[str, Any]: ...


EngineStoppedCallback = Callable[[str | None], None]
"""Called from the engine's thread when it ends: None after a requested stop, else the error."""


@dataclass(frozen=True)
class SessionInfo:
    """What the screens need once the session runs."""

    link: EngineLink
    settings: Settings
    clock: Clock
    """The engine's clock (the simulator's in the demo): ages and countdowns use it."""
    db_path: Path
    log_path: Path
    label: str
    """How the status bar names the session: paper, live, attached, demo."""
    notice: str = ""
    """A line for the user once started (the demo says where its simulator and files are)."""


class Session(Protocol):
    """Something that runs or reaches an engine for the dashboard."""

    label: str

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo: ...

    def stop(self) -> None: ...
