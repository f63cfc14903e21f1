"""Provides the clocks that follow another process's time: the exchange's (`execution.clock:
exchange`) and, for `perpbot tui`, the daemon's.

They sample the time the other side reports (the `time` of an l2Book answer; the daemon's ping),
measure how fast that time runs against the wall clock, and extrapolate between samples; `sleep`
is scaled by the same rate. A daemon started against `perpbot sim --speed 60` thus ticks on
simulated time, and a dashboard attached to it shows ages in that time. Readings never go
backwards, even when a new sample says the estimate ran ahead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from perpbot.clock import Clock, WallClock
from perpbot.data.patience import START_DELAYS_S
from perpbot.data.ports import MarketData
from perpbot.errors import PerpbotError

log = logging.getLogger(__name__)

RESAMPLE_WALL_S = 1.0
"""Wall seconds between samples (each re-anchors the reading on the exchange's own time)."""
LAG_WALL_S = 0.02
"""The clock runs this much (wall time, times the rate) behind the exchange, so a bar is never
read as closed before the exchange has closed it (request latency makes every sample late)."""
RATE_BASELINE_WALL_S = 0.5
"""Wall seconds between the first two samples (the first rate estimate)."""


class FollowingClock:
    """Another process's time in epoch ms, sampled now and then and extrapolated at the measured rate.

    Args:
        sample: returns the other side's current time in epoch ms; raises PerpbotError when it cannot.
        source: names the other side in errors ("the exchange at ...", "the daemon at ...").
        wall: the local clock (injectable for tests).
        resample_s: wall seconds between samples.
        first_delays_s: wall waits before sampling again while the first sample fails (none: fail at once).

    Raises:
        PerpbotError: the first sample (and each retry) failed.
    """

    def __init__(self, sample: Callable[[], int], source: str, wall: Clock | None = None,
                 resample_s: float = RESAMPLE_WALL_S, first_delays_s: tuple[float, ...] = ()) -> None:
        self.sample_time = sample
        self.source = source
        self.wall = wall or WallClock()
        self.resample_ms = int(resample_s * 1000)
        self._lock = threading.Lock()
        self.speed = 1.0
        self._anchor: tuple[int, int] | None = None  # (wall ms, remote ms) of the first sample
        self._last: tuple[int, int] | None = None  # the latest sample
        self._returned = 0
        first = self._sample()
        for delay_s in first_delays_s:
            if first is not None:
                break
            self.wall.sleep(delay_s)
            first = self._sample()
        if first is None:
            raise PerpbotError(f"cannot read the time of {source}", "check that it is running and reachable, "
                               "or use execution.clock: wall")
        self._anchor = self._last = first
        self.wall.sleep(RATE_BASELINE_WALL_S)
        self._resample()

    def _sample(self) -> tuple[int, int] | None:
        before = self.wall.now_ms()
        try:
            remote = int(self.sample_time())
        except PerpbotError as exc:
            log.warning("clock_sample_failed", extra={"source": self.source, "error": str(exc)})
            return None
        after = self.wall.now_ms()
        return (before + after) // 2, remote

    def _resample(self) -> None:
        got = self._sample()
        if got is None or self._anchor is None:
            return
        wall_span = got[0] - self._anchor[0]
        with self._lock:
            if wall_span > 0 and got[1] > self._anchor[1]:
                self.speed = (got[1] - self._anchor[1]) / wall_span
            self._last = got
        log.debug("clock_sample", extra={"source": self.source, "speed": round(self.speed, 4), "remote_ms": got[1]})

    def now_ms(self) -> int:
        wall_now = self.wall.now_ms()
        assert self._last is not None
        if wall_now - self._last[0] >= self.resample_ms:
            self._resample()
        with self._lock:
            w, t = self._last
            now = t + int((wall_now - w - LAG_WALL_S * 1000) * self.speed)
            self._returned = max(self._returned, now)
            return self._returned

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.wall.sleep(seconds / self.speed)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0) / self.speed)

    def close(self) -> None:
        """Nothing to release; ExchangeClock closes its client."""


class ExchangeClock(FollowingClock):
    """The exchange's time: the `time` of an l2Book answer for `symbol`, followed as above. A first
    sample that fails is tried again for about a minute (data/patience.py): a daemon starting during
    a bad minute of the exchange waits it out.

    Raises:
        PerpbotError: the exchange cannot be sampled at construction.
    """

    def __init__(self, client: MarketData, symbol: str, wall: Clock | None = None,
                 resample_s: float = RESAMPLE_WALL_S) -> None:
        self.client = client
        self.symbol = symbol
        super().__init__(lambda: int(client.l2_book(symbol).time), f"the exchange at {client.base_url}", wall,
                         resample_s, START_DELAYS_S)

    def close(self) -> None:
        self.client.close()
