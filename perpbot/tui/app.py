"""Provides PerpBotApp: the dashboard, hosting the engine (or attached to a daemon) with five screens.

The app paints first and starts its session on a worker thread, so it opens at once even when
the exchange is slow or down. It alone talks to the engine: snapshots arrive through the
bridge as messages, commands leave through the link on worker threads.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from perpbot.errors import PerpbotError
from perpbot.tui.bridge import POLL_INTERVAL_S, EngineBridge
from perpbot.tui.dialogs.confirm import ConfirmDialog
from perpbot.tui.messages import (
    CommandFinished,
    EngineStopped,
    LinkFailed,
    SessionFailed,
    SessionStarted,
    SessionStopped,
    SnapshotReceived,
)
from perpbot.tui.screens.base import CommandRequested
from perpbot.tui.screens.positions import PositionsScreen
from perpbot.tui.session import Session, SessionInfo
from perpbot.tui.state import Connection, EngineView

if TYPE_CHECKING:  # its request types load numpy: after the first paint
    from perpbot.tui.runs import Runner

SCREENS = (
    ("positions", "1", "Positions", "Open positions, recent trades, regime, risk and the price chart"),
    ("log", "2", "Log", "The bot's log, live, filtered by level and text"),
    ("backtest", "3", "Backtest", "Backtest the stored candles with a form of settings: metrics, curves, trades"),
    ("walk_forward", "4", "Walk-forward", "Run or load a walk-forward, or load a sensitivity sweep's heatmap"),
    ("reports", "5", "Reports", "Weekly review and the paper-vs-backtest comparison"),
)
"""(mode, key, title, description) of every screen, in key order."""

_SCREENS_GROUP = Binding.Group("Screens")

_DONE = {"pause": "Trading paused: no new entries (stops and exits still run)", "resume": "Trading resumed",
         "close": "Position closed; its cooldown started",
         "flatten": "Every position closed; entries paused until resume (p)"}


def _screen(module: str, name: str) -> Screen[None]:
    """The screen `name` from perpbot.tui.screens.<module>, imported on first visit.

    Only the positions screen is needed for the first paint; the others (numpy, plotext, the
    backtest) would add about half a second to every start.
    """
    cls = getattr(importlib.import_module(f"perpbot.tui.screens.{module}"), name)
    screen: Screen[None] = cls()
    return screen


class PerpBotApp(App[int]):
    """The perp-bot dashboard.

    Args:
        session: what to run against (a hosted engine, the demo, or a daemon's socket).
        runner: makes the backtests and searches the screens start (perpbot/cli/runner.py).
        poll_interval_s: how often the bridge asks the engine for a snapshot.

    Build it with the composition root's factory (perpbot/cli/dashboard.py `make_app`).
    """

    CSS_PATH = "app.tcss"
    TITLE = "perp-bot"
    MODES = {"positions": PositionsScreen, "log": lambda: _screen("log", "LogScreen"),
             "backtest": lambda: _screen("backtest", "BacktestScreen"),
             "walk_forward": lambda: _screen("walk_forward", "WalkForwardScreen"),
             "reports": lambda: _screen("reports", "ReportsScreen")}
    DEFAULT_MODE = "positions"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (160, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-normal-height"), (48, "-tall")]
    BINDINGS = [
        # One footer entry "1 2 3 4 5 Screens" keeps q visible at 80 columns; the palette names each screen.
        *(Binding(key, f"show('{mode}')", title, group=_SCREENS_GROUP) for mode, key, title, _ in SCREENS),
        Binding("p", "toggle_pause", "Pause"),
        Binding("q", "quit", "Quit"),
    ]

    view: reactive[EngineView | None] = reactive(None)
    connection: reactive[Connection] = reactive(Connection("starting", "starting the engine"))
    info: reactive[SessionInfo | None] = reactive(None)

    def __init__(self, session: Session, runner: Runner, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        super().__init__()
        self.session = session
        self.runner = runner
        self.bridge = EngineBridge(self, poll_interval_s)
        self._started = threading.Event()
        self._stopping = False

    def on_mount(self) -> None:
        self._start_session()

    # --- session lifecycle ------------------------------------------------------------------

    @work(thread=True, group="session")
    def _start_session(self) -> None:
        try:
            info = self.session.start(self.bridge.engine_stopped)
        except PerpbotError as exc:
            self.post_message(SessionFailed(exc.message, exc.hint or ""))
            return
        finally:
            self._started.set()
        self.post_message(SessionStarted(info))

    @work(thread=True, group="preload")
    def _preload_screens(self) -> None:
        """Import the other screens' modules off the UI thread, so a first visit is instant."""
        for module in ("log", "backtest", "walk_forward", "reports"):
            importlib.import_module(f"perpbot.tui.screens.{module}")

    def on_session_started(self, message: SessionStarted) -> None:
        if self._stopping:
            return
        self._preload_screens()
        self.info = message.info
        self.connection = Connection("up")
        self.bridge.attach(message.info.link)
        if message.info.notice:
            self.notify(message.info.notice, title="perp-bot", timeout=6)

    def on_session_failed(self, message: SessionFailed) -> None:
        detail = f"{message.error} ({message.hint})" if message.hint else message.error
        self.connection = Connection("failed", message.error)
        self.notify(detail, title="The engine is not running", severity="error", timeout=30)

    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        if self._stopping:
            return
        self.view = message.view
        if not self.connection.up:
            self.connection = Connection("up")

    def on_link_failed(self, message: LinkFailed) -> None:
        if self._stopping:
            return
        if self.connection.state != "down":
            self.notify(message.error, title="Lost the engine", severity="error")
        self.connection = Connection("down", message.error)

    def on_engine_stopped(self, message: EngineStopped) -> None:
        if message.error is not None and not self._stopping:
            self.connection = Connection("failed", f"the engine stopped: {message.error}")
            self.notify(message.error, title="The engine stopped", severity="error", timeout=30)

    # --- commands to the engine --------------------------------------------------------------

    @on(CommandRequested)
    def _command_requested(self, message: CommandRequested) -> None:
        self._send(message.command, message.args)

    @work(thread=True, group="commands")
    def _send(self, command: str, args: dict[str, object]) -> None:
        self.bridge.send(command, **args)

    def on_command_finished(self, message: CommandFinished) -> None:
        if message.ok:
            self.notify(_DONE.get(message.command, f"{message.command}: done"))
        else:
            self.notify(message.detail, title=f"{message.command} failed", severity="error")

    def action_toggle_pause(self) -> None:
        view = self.view
        if view is None:
            self.notify("The engine is not running, there is nothing to pause", severity="warning")
            return
        if view.paused:
            title, question, command, yes = "Resume trading", "Allow new entries again?", "resume", "Resume"
        else:
            title, question, command, yes = ("Pause trading", "Stop opening new positions? Open positions keep "
                                             "their stops and exits.", "pause", "Pause")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._send(command, {})

        self.push_screen(ConfirmDialog(title, question, yes=yes), answered)

    # --- navigation ---------------------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for mode, key, title, description in SCREENS:
            yield SystemCommand(f"{title} ({key})", description, lambda mode=mode: self.action_show(mode))
        yield SystemCommand("Pause or resume trading (p)", "Stop or allow new entries", self.action_toggle_pause)
        yield SystemCommand("Quit (q)", "Stop the engine cleanly and exit", self.action_quit)
        yield from super().get_system_commands(screen)

    # --- quitting ----------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.connection = Connection("stopping", "stopping the engine")
        self._stop_session()

    @work(thread=True, group="shutdown")
    def _stop_session(self) -> None:
        # Wait for a start still in progress so its engine is stopped rather than orphaned.
        self._started.wait(timeout=30)
        self.bridge.stop()
        try:
            self.session.stop()
        except PerpbotError as exc:
            self.post_message(SessionStopped(exc.message))
            return
        self.post_message(SessionStopped())

    def on_session_stopped(self, message: SessionStopped) -> None:
        self.exit(0 if message.error is None else 1, message=message.error)
