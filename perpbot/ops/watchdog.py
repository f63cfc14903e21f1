"""Provides the health watchdog: scheduled heartbeat alerts and the "no tick for N minutes" alarm.

The watchdog runs on its own thread and only calls a function that returns the engine's last
tick time, so it keeps reporting when the tick loop is stuck in a call or has died. A stall is
announced once (event `error`) and its end once ("tick loop resumed", also `error`, so a user
who silenced heartbeats still hears the all-clear).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from perpbot.clock import MINUTE_MS, Clock
from perpbot.config import Settings

log = logging.getLogger(__name__)

POLL_S = 5.0
"""Wall seconds between checks; small against any sensible alerts.no_tick_minutes."""


class AlertPort(Protocol):
    """What the watchdog needs from the alert sink."""

    def send(self, event: str, text: str, **fields: Any) -> bool: ...


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _age(ms: int) -> str:
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class Watchdog:
    """Heartbeats every `heartbeat_minutes` and an alarm when no tick came for `no_tick_minutes`.

    Args:
        alerts: where alerts go (an AlertSink).
        last_tick_ms: returns the engine's last tick time (epoch ms), None before the first.
        clock: the engine's clock (the simulator's, or a FakeClock in tests).
        no_tick_minutes: silence that raises the alarm; counted from start() before any tick.
        heartbeat_minutes: heartbeat interval; 0 turns heartbeats off.
        status: optional extra heartbeat fields (e.g. equity, open positions) from the engine.
        poll_s: wall seconds between checks on the thread.
    """

    def __init__(self, alerts: AlertPort, last_tick_ms: Callable[[], int | None], clock: Clock,
                 no_tick_minutes: float, heartbeat_minutes: float = 0.0,
                 status: Callable[[], dict[str, Any]] | None = None, poll_s: float = POLL_S) -> None:
        self._alerts = alerts
        self._last_tick_ms = last_tick_ms
        self._clock = clock
        self._no_tick_ms = int(no_tick_minutes * MINUTE_MS)
        self._heartbeat_ms = int(heartbeat_minutes * MINUTE_MS)
        self._status = status
        self._poll_s = poll_s
        self._started_ms = clock.now_ms()
        self._next_heartbeat_ms = self._started_ms + self._heartbeat_ms
        self._stalled_since: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, alerts: AlertPort, last_tick_ms: Callable[[], int | None],
                      clock: Clock, status: Callable[[], dict[str, Any]] | None = None) -> "Watchdog":
        cfg = settings.alerts
        return cls(alerts, last_tick_ms, clock, cfg.no_tick_minutes, cfg.heartbeat_minutes, status)

    @property
    def stalled(self) -> bool:
        return self._stalled_since is not None

    def start(self) -> None:
        """Start checking on a daemon thread (the schedule counts from now)."""
        if self._thread is not None:
            return
        self._started_ms = self._clock.now_ms()
        self._next_heartbeat_ms = self._started_ms + self._heartbeat_ms
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the thread boundary: a bad check must not end the watchdog
                log.exception("watchdog check failed")

    def check(self) -> list[str]:
        """One look at the clock and the last tick; returns the alerts it sent ("no_tick", ...)."""
        now = self._clock.now_ms()
        last = self._last_tick_ms()
        sent = []
        silent_ms = now - (last if last is not None else self._started_ms)
        if silent_ms >= self._no_tick_ms and self._stalled_since is None:
            self._stalled_since = now - silent_ms
            since = _utc(last) if last is not None else f"start ({_utc(self._started_ms)})"
            log.error("no tick", extra={"silent_s": silent_ms / 1000, "last_tick": last})
            self._alerts.send("error", f"no tick for {_age(silent_ms)}: the tick loop is stuck or dead",
                              last_tick=since)
            sent.append("no_tick")
        elif silent_ms < self._no_tick_ms and self._stalled_since is not None:
            stall_ms = (last if last is not None else now) - self._stalled_since
            self._stalled_since = None
            log.info("ticks resumed", extra={"stalled_s": stall_ms / 1000})
            self._alerts.send("error", f"tick loop resumed after {_age(stall_ms)}")
            sent.append("resumed")
        if self._heartbeat_ms > 0 and now >= self._next_heartbeat_ms:
            # Keep to the schedule (no drift), but send one heartbeat after a long gap, not a burst.
            while self._next_heartbeat_ms <= now:
                self._next_heartbeat_ms += self._heartbeat_ms
            self._send_heartbeat(now, silent_ms, last)
            sent.append("heartbeat")
        return sent

    def _send_heartbeat(self, now: int, silent_ms: int, last: int | None) -> None:
        fields: dict[str, Any] = {"last_tick": "never" if last is None else f"{_age(silent_ms)} ago"}
        if self._status is not None:
            try:
                fields.update(self._status())
            except Exception:  # noqa: BLE001 - a heartbeat without details still proves the process lives
                log.exception("heartbeat status failed")
                fields["status"] = "unavailable"
        state = "STALLED" if self._stalled_since is not None else "running"
        self._alerts.send("heartbeat", f"{state}, up {_age(now - self._started_ms)}", **fields)
