"""Provides the sessions the dashboard runs against: hosting the engine, the offline demo, or attached to a daemon.

A session's `start()` runs on a worker thread after the first paint (it may import heavy modules,
open the database, reach the exchange); it returns a `SessionInfo` with the link the UI talks
through. `stop()` stops whatever the session started and waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from perpbot.clock import Clock, WallClock
from perpbot.config import Settings
from perpbot.errors import DaemonNotRunning, PerpbotError

log = logging.getLogger(__name__)

ENGINE_JOIN_S = 15.0
"""How long `stop()` waits for the engine to finish its current tick."""


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
    """`perpbot` (the dashboard): build the engine from settings and run its loop on a thread here.

    Paper unless the settings say live. Like the daemon, it takes the one-engine-per-database lock
    and serves the control socket, so `perpbot status` and `perpbot control` reach it too.

    Args:
        settings: the loaded config.
        force: start despite the losing-weeks halt (as `trade --force`).
        adopt_account: live: take the account over from another perp-bot (as `trade --adopt-account`).
        clock: the engine's clock; None lets build_engine choose (wall, or the exchange's).
        events: the engine's event hook (alerts); None sends nothing.
        label: how the status bar names the session (default: the execution mode).
    """

    def __init__(self, settings: Settings, *, force: bool = False, clock: Clock | None = None,
                 events: Callable[[str, dict[str, Any]], None] | None = None, label: str | None = None,
                 adopt_account: bool = False) -> None:
        self.settings = settings
        self.force = force
        self.adopt_account = adopt_account
        self.clock = clock
        self.events = events
        self.label = label or settings.execution.mode
        self.engine: Any = None
        self._lock: Any = None
        self._server: Any = None
        self._telegram: Any = None
        self._storage: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo:
        """Lock the database, build the engine (reaches the exchange, backfills), start its thread.

        Raises:
            PerpbotError: another engine holds the database, the exchange cannot be reached, the halt.
        """
        from perpbot.execution.engine import build_engine
        from perpbot.ipc.link import LocalLink
        from perpbot.ipc.lock import DbLock
        from perpbot.ipc.server import StateServer
        from perpbot.ops.telegram import telegram_control
        from perpbot.ops.storage_watch import StorageWatch

        self._lock = DbLock(self.settings.db_path)
        self._lock.acquire()
        try:
            self.engine = build_engine(self.settings, clock=self.clock, force=self.force, events=self.events,
                                       adopt_account=self.adopt_account)
            self._server = StateServer(self.settings.socket_path, self.engine.handle)
            self._server.start()
            # Telegram commands (issue 21), as in the daemon: off unless configured.
            self._telegram = telegram_control(self.settings, self.engine.handle, self.engine.state.snapshot,
                                              self.engine.clock.now_ms, self.engine.store, self.events)
            self._telegram.start()
            self._storage = StorageWatch(self.settings.db_path, self.settings.data.backups,
                                         self.events or (lambda event, fields: None))
            self._storage.start()
        except BaseException:
            self._release()
            raise
        self._thread = threading.Thread(target=self._run, args=(on_engine_stopped,), name="perpbot-engine",
                                        daemon=True)
        self._thread.start()
        from perpbot.config_checks import config_warnings

        warnings = config_warnings(self.settings)  # the daemon prints these; the dashboard shows them
        return SessionInfo(link=LocalLink(self.engine), settings=self.settings, clock=self.engine.clock,
                           db_path=self.settings.db_path, log_path=self.settings.log_path, label=self.label,
                           notice=" ".join(f"Warning: {w}." for w in warnings))

    def _run(self, on_engine_stopped: EngineStoppedCallback) -> None:
        try:
            self.engine.run(self._stop)
        except Exception as exc:  # noqa: BLE001 - the thread's boundary: the UI shows it, trading stops
            log.exception("engine_crashed")
            on_engine_stopped(f"{type(exc).__name__}: {exc}")
            return
        on_engine_stopped(None)

    def stop(self) -> None:
        """Stop after the current tick, then close the engine, the socket and the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=ENGINE_JOIN_S)
            if self._thread.is_alive():
                log.warning("engine_stop_timeout", extra={"wait_s": ENGINE_JOIN_S})
        self._release()

    def _release(self) -> None:
        if self._telegram is not None:
            self._telegram.stop()
            self._telegram = None
        if self._storage is not None:
            self._storage.stop()
            self._storage = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


class DemoSession:
    """`perpbot demo`: a seeded simulator in-process, and the engine paper-trading it on its clock.

    Args:
        folder: where the demo's database and log go (the CLI makes a fresh one per run).
        seed: the simulated market's seed.
        speed: simulated seconds per wall second.
    """

    label = "demo"

    def __init__(self, folder: Path, seed: int = 1, speed: float | None = None) -> None:
        from perpbot.demo import DEFAULT_SPEED

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
        from perpbot.demo import demo_options, demo_settings
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
