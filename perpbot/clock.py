"""Provides the injectable clocks: wall time lives here and nowhere else."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time in epoch milliseconds and can sleep."""

    speed: float
    """Clock seconds per wall second (1 for the wall and a manual clock; an accelerated simulator's rate)."""

    def now_ms(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep `seconds` of clock time, or until `stop` is set; True if it was set."""
        ...


class WallClock:
    """The real clock."""

    speed = 1.0

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0))


class FakeClock:
    """A manual clock for tests and simulated time; sleeping (and waiting) advances it at once."""

    speed = 1.0

    def __init__(self, start_ms: int = 1_704_067_200_000) -> None:  # 2024-01-01T00:00Z
        self._now_ms = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now_ms

    def set(self, ts_ms: int) -> None:
        with self._lock:
            self._now_ms = ts_ms

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now_ms += int(seconds * 1000)

    def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        self.sleep(seconds)
        return stop.is_set()


class ScaledClock:
    """Wall time running `speed` times faster from `start_ms` (the simulator's clock)."""

    def __init__(self, start_ms: int, speed: float = 1.0, wall: Clock | None = None) -> None:
        self._wall = wall or WallClock()
        self._origin_wall_ms = self._wall.now_ms()
        self._start_ms = start_ms
        self.speed = speed

    def now_ms(self) -> int:
        elapsed = self._wall.now_ms() - self._origin_wall_ms
        return self._start_ms + int(elapsed * self.speed)

    def sleep(self, seconds: float) -> None:
        self._wall.sleep(seconds / self.speed)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0) / self.speed)


MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

INTERVAL_MS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}


def interval_ms(interval: str) -> int:
    """Milliseconds in a Hyperliquid interval name ('1m', '15m', '1h', ...)."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(
            f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_MS)}"
        ) from None


def floor_ms(ts_ms: int, step_ms: int) -> int:
    """The start of the step that contains ts_ms."""
    return ts_ms - ts_ms % step_ms
