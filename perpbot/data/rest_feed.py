"""Provides a REST-only price feed: allMids polled on demand, with the WebSocket feed's interface.

A `PriceFeed` (data/ports.py) like the WebSocket feed (data/ws_client.py), for when that one is not
wanted (tests on a FakeClock, the parity replay, `bench/tick.py`); the WebSocket feed falls back to
the same call while its socket is down.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from perpbot.clock import Clock
from perpbot.data.ports import MarketData
from perpbot.errors import ExchangeError

log = logging.getLogger(__name__)


class RestPriceFeed:
    """Mids from `client.all_mids()`, refreshed when older than `max_age_s` of clock time.

    Args:
        client: the REST client (its retries apply).
        clock: ages are measured on it.
        symbols: the coins reported by `health()`.
        max_age_s: a cached mid older than this is fetched again on `mid()`.
        stale_s: a mid older than this counts as stale.
    """

    source = "rest"

    def __init__(self, client: MarketData, clock: Clock, symbols: list[str], max_age_s: float = 0.0,
                 stale_s: float = 60.0) -> None:
        self.client = client
        self.clock = clock
        self.symbols = list(symbols)
        self.max_age_ms = int(max_age_s * 1000)
        self.stale_ms = int(stale_s * 1000)
        self._mids: dict[str, tuple[float, int]] = {}
        self._fetched_ms: int | None = None
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self._fetched_ms is not None

    def start(self) -> None:
        self.refresh_rest()

    def stop(self) -> None:
        return None

    def reconnect(self) -> None:
        self.refresh_rest()

    def refresh_rest(self) -> bool:
        """Fetch every mid now; False (and the old values kept) when the exchange fails."""
        try:
            mids = self.client.all_mids()
        except ExchangeError as exc:
            log.warning("rest_mids_failed", extra={"error": str(exc)})
            return False
        now = self.clock.now_ms()
        with self._lock:
            self._mids.update({s: (float(p), now) for s, p in mids.items()})
            self._fetched_ms = now
        return True

    def mid(self, symbol: str) -> float | None:
        now = self.clock.now_ms()
        if self._fetched_ms is None or now - self._fetched_ms > self.max_age_ms:
            self.refresh_rest()
        with self._lock:
            got = self._mids.get(symbol)
        return got[0] if got else None

    def mids(self) -> dict[str, float]:
        with self._lock:
            return {s: p for s, (p, _) in self._mids.items()}

    def is_stale(self, symbol: str | None = None) -> bool:
        """Polled on demand, so stale means: a fresh fetch now fails (or lacks the symbol)."""
        now = self.clock.now_ms()
        if self._fetched_ms is None or now - self._fetched_ms > self.max_age_ms:
            self.refresh_rest()
        with self._lock:
            names = [symbol] if symbol else self.symbols
            return any(s not in self._mids or now - self._mids[s][1] > self.stale_ms for s in names)

    def health(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now_ms()
        out = {}
        with self._lock:
            for s in self.symbols:
                got = self._mids.get(s)
                age_s = (now - got[1]) / 1000 if got else None
                out[s] = {"healthy": got is not None and now - got[1] <= self.stale_ms,
                          "age_s": age_s, "source": self.source}
        return out
