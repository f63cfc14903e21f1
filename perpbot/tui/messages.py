"""Provides the app-wide messages: session lifecycle, engine state and command results.

Messages are small dataclasses posted with `post_message`, the one thread-safe way in from the
engine's and the workers' threads. Widget-local messages live in their widgets instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from perpbot.tui.session import SessionInfo
from perpbot.tui.state import EngineView


@dataclass
class SessionStarted(Message):
    """The engine runs (or the daemon answered): screens can read the DB and the link."""

    info: SessionInfo


@dataclass
class SessionFailed(Message):
    """The engine could not be started or reached; the app stays open and says why."""

    error: str
    hint: str = ""


@dataclass
class SnapshotReceived(Message):
    """A fresh engine snapshot. Only the newest matters, so a queued one is replaced."""

    view: EngineView

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReceived)


@dataclass
class LinkFailed(Message):
    """The engine did not answer a snapshot request (the link or the daemon is down)."""

    error: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LinkFailed)


@dataclass
class EngineStopped(Message):
    """The hosted engine's thread ended: on request (error None) or because it failed."""

    error: str | None


@dataclass
class CommandFinished(Message):
    """The engine's answer to a pause, resume, close or flatten request."""

    command: str
    ok: bool
    detail: str


@dataclass
class SessionStopped(Message):
    """The engine stopped cleanly after `q`: the app can exit."""

    error: str | None = None
