"""Provides the dashboard's sessions: hosting the engine, the offline demo, or attached to a daemon.

Each implements tui/session.py's `Session`: `start()` runs on the app's worker thread after the
first paint and returns the `SessionInfo` the screens use; `stop()` stops what it started.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perpbot.clock import Clock, WallClock
from perpbot.config import Settings
from perpbot.errors import DaemonNotRunning, PerpbotError
from perpbot.tui.session import EngineStoppedCallback, SessionInfo

if TYPE_CHECKING:  # the engine loads on the session's worker thread, after the first paint
    from perpbot.execution.engine import TradingEngine

log = logging.getLogger(__name__)

ENGINE_JOIN_S = 15.0
"""How long `stop()` waits for the engine to finish its current tick."""


class AttachedSession:
    """`perpbot tui`: the daemon runs elsewhere; talk to it over its socket, read its DB and log."""

    label = "attached"

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock_given = clock is not None
        self.clock = clock or WallClock()

    def connect(self) -> Any:
        """A SocketLink to the daemon, checked with a ping; the CLI calls it before opening the app.

        Raises:
            DaemonNotRunning: no socket, or nothing answers on it.
        """
        from perpbot.ipc.link import SocketLink

        path = self.settings.socket_path
        if not path.exists():
            raise DaemonNotRunning(f"no daemon socket at {path}",
                                   "start the daemon with `perpbot --headless trade` (same config), or run `perpbot` "
                                   "to host one here")
        link = SocketLink(path)
        try:
            reply = link.request("ping")
        except PerpbotError as exc:
            raise DaemonNotRunning(f"the daemon at {path} did not answer: {exc.message}",
                                   "check that `perpbot status` works") from None
        if not reply.get("ok"):
            raise DaemonNotRunning(f"the daemon at {path} did not answer: {reply.get('error', 'no reply')}",
                                   "check that `perpbot status` works")
        return link

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo:
        link = self.connect()
        path = self.settings.socket_path
        return SessionInfo(link=link, settings=self.settings, clock=self._daemon_clock(link),
                           db_path=self.settings.db_path, log_path=self.settings.log_path, label=self.label,
                           notice=f"attached to the daemon at {path}")

    def _daemon_clock(self, link: Any) -> Clock:
        """Ages and countdowns in the daemon's time: it may follow an accelerated simulator."""
        if self.clock_given or self.settings.execution.clock != "exchange":
            return self.clock
        from perpbot.execution.exchange_clock import FollowingClock

        def daemon_time() -> int:
            reply = link.request("ping")
            if not reply.get("ok"):
                raise PerpbotError(f"the daemon did not answer: {reply.get('error')}", "check `perpbot status`")
            return int(reply["data"]["time"])

        return FollowingClock(daemon_time, f"the daemon at {link.path}")

    def stop(self) -> None:
        """Nothing to stop: the daemon keeps running when the dashboard closes."""


class EngineSession:
    """`perpbot` (the dashboard): host the engine (host.py) and run its loop on a thread here.

    Paper unless the settings say live. Like the daemon, it takes the one-engine-per-database lock,
    serves the control socket (so `perpbot status` and `perpbot control` reach it too) and runs the
    alerts, the watchdog, the storage watch and Telegram control beside it.

    Args:
        settings: the loaded config.
        force: start despite the losing-weeks halt (as `trade --force`).
        adopt_account: live: take the account over from another perp-bot (as `trade --adopt-account`).
        clock: the engine's clock; None lets the composition choose (wall, or the exchange's).
        label: how the status bar names the session (default: the execution mode).
    """

    def __init__(self, settings: Settings, *, force: bool = False, clock: Clock | None = None,
                 label: str | None = None, adopt_account: bool = False) -> None:
        self.settings = settings
        self.force = force
        self.adopt_account = adopt_account
        self.clock = clock
        self.label = label or settings.execution.mode
        self.engine: TradingEngine | None = None
        self._host = ExitStack()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo:
        """Host the engine (lock, build: reaches the exchange, backfills; serve), start its thread.

        Raises:
            PerpbotError: another engine holds the database, the exchange cannot be reached, the halt.
        """
        from perpbot.cli.host import hosted_engine
        from perpbot.config_checks import config_warnings
        from perpbot.ipc.link import LocalLink

        hosted = self._host.enter_context(hosted_engine(self.settings, clock=self.clock, force=self.force,
                                                        adopt_account=self.adopt_account))
        self.engine = hosted.engine
        self._thread = threading.Thread(target=self._run, args=(hosted.engine, on_engine_stopped),
                                        name="perpbot-engine", daemon=True)
        self._thread.start()
        warnings = config_warnings(self.settings)  # the daemon prints these; the dashboard shows them
        return SessionInfo(link=LocalLink(hosted.commands), settings=self.settings, clock=hosted.engine.clock,
                           db_path=self.settings.db_path, log_path=self.settings.log_path, label=self.label,
                           notice=" ".join(f"Warning: {w}." for w in warnings))

    def _run(self, engine: TradingEngine, on_engine_stopped: EngineStoppedCallback) -> None:
        try:
            engine.run(self._stop)
        except Exception as exc:  # noqa: BLE001 - the thread's boundary: the UI shows it, trading stops
            log.exception("engine_crashed")
            on_engine_stopped(f"{type(exc).__name__}: {exc}")
            return
        on_engine_stopped(None)

    def stop(self) -> None:
        """Stop after the current tick, then release what hosting started (socket, engine, lock)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=ENGINE_JOIN_S)
            if self._thread.is_alive():
                log.warning("engine_stop_timeout", extra={"wait_s": ENGINE_JOIN_S})
        self.engine = None
        self._host.close()


class DemoSession:
    """`perpbot demo`: a seeded simulator in-process, and the engine paper-trading it on its clock.

    Args:
        folder: where the demo's database and log go (the CLI makes a fresh one per run).
        seed: the simulated market's seed.
        speed: simulated seconds per wall second.
    """

    label = "demo"

    def __init__(self, folder: Path, seed: int = 1, speed: float | None = None) -> None:
        from perpbot.cli.demo import DEFAULT_SPEED

        self.folder = folder
        self.seed = seed
        self.speed = DEFAULT_SPEED if speed is None else speed
        self.sim: Any = None
        self.engine_session: EngineSession | None = None

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo:
        """Serve the simulator on a free loopback port, then host the engine against it.

        Raises:
            PerpbotError: the simulator or the engine could not start.
        """
        from perpbot.cli.demo import demo_options, demo_settings
        from perpbot.sim.server import SimServer

        self.sim = SimServer(demo_options(self.seed, self.speed), host="127.0.0.1", port=0).start()
        try:
            settings = demo_settings(self.sim.url, self.folder, self.speed)
            # The simulator's own clock: the engine ticks on simulated time with no sampling lag.
            self.engine_session = EngineSession(settings, clock=self.sim.clock, label=self.label)
            info = self.engine_session.start(on_engine_stopped)
        except BaseException:
            self.sim.stop()
            self.sim = None
            raise
        notice = (f"Demo: paper trading a simulated exchange (seed {self.seed}, {self.speed:g}x time) at "
                  f"{self.sim.url}; files in {self.folder}")
        return replace(info, notice=notice)

    def stop(self) -> None:
        """Stop the engine first (it may be mid-request to the simulator), then the simulator."""
        if self.engine_session is not None:
            self.engine_session.stop()
        if self.sim is not None:
            self.sim.stop()
            self.sim = None
