"""Provides the hosted engine: what runs around the trading engine, for the daemon and the dashboard alike.

`hosted_engine(settings, ...)` takes the one-engine-per-database lock, builds the engine
(compose.py) with its alerts, serves the control socket (`perpbot status` / `control`), and runs
beside it the watchdog, the storage watch (backups, free space) and Telegram control, and loads
the compiled code (indicator kernels, backtest loops) on a thread of its own. On exit it
stops them in reverse order, closes the engine and the alerts (delivering what is queued) and
releases the lock. The headless daemon (trading.py) runs the engine's loop on its own thread; the
dashboard (sessions.py) on a thread of the app's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from perpbot.cli.compose import build_engine
from perpbot.clock import Clock
from perpbot.config import Settings
from perpbot.execution.engine import TradingEngine
from perpbot.execution.events import EventHook
from perpbot.execution.state import EngineState
from perpbot.ipc.commands import handler
from perpbot.ipc.lock import DbLock
from perpbot.ipc.protocol import Handler
from perpbot.ipc.server import StateServer
from perpbot.ops.alerts import AlertSink
from perpbot.ops.storage_watch import StorageWatch
from perpbot.ops.telegram import telegram_control
from perpbot.ops.watchdog import AlertPort, Watchdog

log = logging.getLogger(__name__)
# The compiled code is loaded at start only for an engine on (about) wall time: against an accelerated
# simulator a second of loading on a busy machine is hours of its time, and a tick loop that seems stuck.
PRELOAD_BELOW_SPEED = 2.0


@dataclass(frozen=True, slots=True)
class Hosted:
    """The running engine and its command path (what the socket, the dashboard and Telegram call)."""

    engine: TradingEngine
    commands: Handler


def alert_hook(sink: AlertPort) -> EventHook:
    """The engine's event hook that forwards events to an AlertSink (never blocks)."""

    def hook(event: str, fields: dict[str, Any]) -> None:
        extra = {k: v for k, v in fields.items() if k != "text" and isinstance(v, (str, int, float, bool))}
        sink.send(event, str(fields.get("text", event)), **extra)

    return hook


def last_pass_ms(state: EngineState) -> int | None:
    """When the tick loop last completed a pass: a tick at a bar close, or a poll in between.

    The watchdog must watch this, not `last_tick`: bar ticks come only once per timeframe (15m by
    default, longer than the default alerts.no_tick_minutes), while a live loop polls every
    execution.tick_seconds and stamps `heartbeat_at` on each pass.
    """
    stamps = [t for t in (state.get("heartbeat_at"), state.get("last_tick")) if t is not None]
    return max(stamps) if stamps else None


def preload_in_background() -> threading.Thread:
    """Load the compiled code (the indicators' kernels, the backtest loops) on a thread of its own.

    Off the tick path: until it is done, ticks keep to the numpy path (signals/indicators.py), so a
    first-ever compile (~10 s) delays nothing; afterwards the live window's indicators run in the
    kernels (~20x less work, without the GIL) and the dashboard's backtests start compiled. A
    failure to load numba costs only speed, so it is logged, not raised.
    """
    def load() -> None:
        try:
            from perpbot.backtest.engine import preload_compiled

            preload_compiled()
        except Exception:  # noqa: BLE001 - numba missing or broken: numpy and the Python loop still run
            log.warning("preload_compiled_failed", exc_info=True)

    thread = threading.Thread(target=load, name="preload-compiled", daemon=True)
    thread.start()
    return thread


@contextmanager
def hosted_engine(settings: Settings, *, clock: Clock | None = None, force: bool = False,
                  adopt_account: bool = False) -> Iterator[Hosted]:
    """Lock, build and serve the engine with everything that watches it; release it all on exit.

    Args:
        clock: the engine's clock (the demo's simulator clock); None picks it from execution.clock.
        force: start despite the losing-weeks halt (`trade --force`).
        adopt_account: live: take the account over from another perp-bot (`--adopt-account`).

    Raises:
        DaemonRunning: another engine holds the database.
        PerpbotError: composition failed (exchange unreachable, losing-week halt, bad key, ...).
    """
    with ExitStack() as stack:
        lock = DbLock(settings.db_path)
        lock.acquire()
        stack.callback(lock.release)
        sink = AlertSink.from_settings(settings)
        stack.callback(sink.close)
        events = alert_hook(sink)
        engine = build_engine(settings, clock=clock, force=force, events=events, adopt_account=adopt_account)
        stack.callback(engine.close)
        if engine.clock.speed < PRELOAD_BELOW_SPEED:
            preload_in_background()
        commands = handler(engine)
        state = engine.state
        server = StateServer(settings.socket_path, commands)
        watchdog = Watchdog.from_settings(settings, sink, lambda: last_pass_ms(state), engine.clock,
                                          status=lambda: {"equity": state.get("equity"),
                                                          "positions": len(state.get("positions") or [])})
        storage = StorageWatch(settings.db_path, settings.data.backups, events)
        # Telegram commands (issue 21): the engine's own command path, state and clock; off unless configured.
        telegram = telegram_control(settings, commands, state.snapshot, engine.clock.now_ms, engine.store, events)
        for part in (server, watchdog, storage, telegram):
            part.start()
            stack.callback(part.stop)
        yield Hosted(engine, commands)
