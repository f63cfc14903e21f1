"""Provides DashboardScreen, the base of every screen: it follows the app's engine state.

The app owns three reactives (`view`, `connection`, `info`); each screen watches them and
passes what its widgets need down as attributes. Screens ask the engine for something by
posting `CommandRequested` up to the app, which alone talks to the link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.screen import Screen

from perpbot.tui.session import SessionInfo
from perpbot.tui.state import Connection, EngineView
from perpbot.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:  # its request types load numpy: after the first paint
    from perpbot.tui.runs import Runner


@dataclass
class CommandRequested(Message):
    """A screen asks the app to send a command to the engine (after the user confirmed it)."""

    command: str
    args: dict[str, Any] = field(default_factory=dict)


class DashboardScreen(Screen[None]):
    """Keeps the status bar current and calls `show_view` / `show_info` on changes."""

    def on_mount(self) -> None:
        # watch() calls back at once with the current value, so a screen opened late is current.
        self.watch(self.app, "info", self._info_changed)
        self.watch(self.app, "connection", self._connection_changed)
        self.watch(self.app, "view", self._view_changed)

    @property
    def info(self) -> SessionInfo | None:
        return getattr(self.app, "info", None)

    @property
    def runner(self) -> Runner:
        """Makes the backtests and searches the screen starts (the app's, from the composition root)."""
        runner: Runner = self.app.runner  # type: ignore[attr-defined]  # PerpBotApp's
        return runner

    @property
    def engine_view(self) -> EngineView | None:
        return getattr(self.app, "view", None)

    def now_ms(self) -> int:
        """The engine's time (the simulator's in the demo, a fixed clock in tests)."""
        info = self.info
        return info.clock.now_ms() if info is not None else 0

    def _info_changed(self, info: SessionInfo | None) -> None:
        self.query_one(StatusBar).label = info.label if info is not None else ""
        if info is not None:
            self.show_info(info)

    def _connection_changed(self, connection: Connection) -> None:
        self.query_one(StatusBar).connection = connection
        self.show_connection(connection)

    def _view_changed(self, view: EngineView | None) -> None:
        # Hidden screens skip snapshots (two a second): redrawing tables and charts nobody sees
        # made switching screens lag. The newest view is applied when the screen comes back.
        if not self.is_current:
            self._stale_view = True
            return
        self._stale_view = False
        self.query_one(StatusBar).view = view
        if view is not None:
            self.show_view(view)

    def on_screen_resume(self) -> None:
        if getattr(self, "_stale_view", False):
            self._view_changed(self.engine_view)

    def show_info(self, info: SessionInfo) -> None:
        """The session started: the database, the log and the settings are known."""

    def show_connection(self, connection: Connection) -> None:
        """The link to the engine changed state."""

    def show_view(self, view: EngineView) -> None:
        """A new engine snapshot arrived."""
