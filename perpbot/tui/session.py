"""Provides the sessions the dashboard runs against: one hosting the engine, one attached to a daemon.

A session's `start()` runs on a worker thread after the first paint (it may import heavy modules,
open the database, reach the exchange); it returns a `SessionInfo` with the link the UI talks
through. `stop()` stops whatever the session started and waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from perpbot.clock import Clock, WallClock
from perpbot.config import Settings
from perpbot.errors import PerpbotError


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


class AttachedSession:
    """`perpbot tui`: the daemon runs elsewhere; talk to it over its socket, read its DB and log."""

    label = "attached"

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or WallClock()

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo:
        from perpbot.ipc.link import SocketLink

        path = self.settings.socket_path
        if not path.exists():
            raise PerpbotError(f"no daemon socket at {path}",
                               "start the daemon with `perpbot --headless trade` (same config), or run `perpbot` to host one here")
        link = SocketLink(path)
        reply = link.request("ping")
        if not reply.get("ok"):
            raise PerpbotError(f"the daemon at {path} did not answer: {reply.get('error', 'no reply')}",
                               "check that `perpbot status` works")
        return SessionInfo(link=link, settings=self.settings, clock=self.clock, db_path=self.settings.db_path,
                           log_path=self.settings.log_path, label=self.label,
                           notice=f"attached to the daemon at {path}")

    def stop(self) -> None:
        """Nothing to stop: the daemon keeps running when the dashboard closes."""
