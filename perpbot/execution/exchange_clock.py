"""Provides the exchange-following clock (`execution.clock: exchange`).

It samples the time the exchange reports (the `time` of an l2Book answer), measures how fast
that time runs against the wall clock, and extrapolates between samples; `sleep` is scaled by
the same rate. A daemon started against `perpbot sim --speed 60` thus ticks on simulated time.
Readings never go backwards, even when a new sample says the estimate ran ahead.
"""

from __future__ import annotations

import logging
import threading

from perpbot.clock import Clock, WallClock
from perpbot.data.client import HyperliquidClient
from perpbot.errors import ExchangeError, PerpbotError

log = logging.getLogger(__name__)

RESAMPLE_WALL_S = 1.0
"""Wall seconds between samples (each re-anchors the reading on the exchange's own time)."""
LAG_WALL_S = 0.02
"""The clock runs this much (wall time, times the rate) behind the exchange, so a bar is never
read as closed before the exchange has closed it (request latency makes every sample late)."""
RATE_BASELINE_WALL_S = 0.5
"""Wall seconds between the first two samples (the first rate estimate)."""


class ExchangeClock:
    """The exchange's time in epoch ms, extrapolated at the measured rate.

    Args:
        client: the REST client the samples are taken with.
        symbol: the coin whose l2Book carries the time.
        wall: the local clock (injectable for tests).
        resample_s: wall seconds between samples.

    Raises:
        PerpbotError: the exchange cannot be sampled at construction.
    """

    def __init__(self, client: HyperliquidClient, symbol: str, wall: Clock | None = None,
                 resample_s: float = RESAMPLE_WALL_S) -> None:
        self.client = client
        self.symbol = symbol
        self.wall = wall or WallClock()
        self.resample_ms = int(resample_s * 1000)
        self._lock = threading.Lock()
        self.speed = 1.0
        self._anchor: tuple[int, int] | None = None  # (wall ms, exchange ms) of the first sample
        self._last: tuple[int, int] | None = None  # the latest sample
        self._returned = 0
        first = self._sample()
        if first is None:
            raise PerpbotError(f"cannot read the exchange's time from {client.base_url}",
                               "check exchange.base_url, or use execution.clock: wall")
        self._anchor = self._last = first
        self.wall.sleep(RATE_BASELINE_WALL_S)
        self._resample()

    def _sample(self) -> tuple[int, int] | None:
        before = self.wall.now_ms()
        try:
            book = self.client.l2_book(self.symbol)
        except ExchangeError as exc:
            log.warning("exchange_clock_sample_failed", extra={"error": str(exc)})
            return None
        after = self.wall.now_ms()
        return (before + after) // 2, int(book.time)

    def _resample(self) -> None:
        got = self._sample()
        if got is None or self._anchor is None:
            return
        wall_span = got[0] - self._anchor[0]
        with self._lock:
            if wall_span > 0 and got[1] > self._anchor[1]:
                self.speed = (got[1] - self._anchor[1]) / wall_span
            self._last = got
        log.debug("exchange_clock_sample", extra={"speed": round(self.speed, 4), "exchange_ms": got[1]})

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

    def close(self) -> None:
        self.client.close()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.wall.sleep(seconds / self.speed)
