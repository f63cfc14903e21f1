"""Provides fault injection for the simulator: 5xx, 429, latency, malformed bodies, websocket stalls,
and on /exchange a 5xx before the action runs or an answer lost after it ran.

`FaultConfig` is a plain mutable dataclass so tests and the CLI can turn knobs while the server
runs (`sim.faults.error_rate = 0.3`). Every random decision comes from the injector's own
seeded RNG, so a run with the same seed and the same requests fails the same way.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from perpbot.errors import ConfigError


@dataclass
class FaultConfig:
    """Fault knobs; rates are probabilities per /info request."""

    error_rate: float = 0.0
    """Share of requests answered with HTTP 500/502/503."""
    rate_limit_rate: float = 0.0
    """Share of requests answered with HTTP 429."""
    latency_ms: int = 0
    """Delay added before every /info answer."""
    malformed_rate: float = 0.0
    """Share of requests answered 200 with a truncated, non-JSON or wrongly shaped body."""
    ws_stall: bool = False
    """Websockets stay open but the server sends nothing (no data, acks or pongs)."""
    exchange_error_rate: float = 0.0
    """Share of /exchange requests answered HTTP 502 before the exchange sees them (nothing runs)."""
    exchange_lost_rate: float = 0.0
    """Share of /exchange requests that run and then lose their answer (HTTP 502 instead of it)."""

    def validate(self) -> None:
        """Raise ConfigError naming a knob outside its range."""
        for name in ("error_rate", "rate_limit_rate", "malformed_rate", "exchange_error_rate", "exchange_lost_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} must be a probability between 0 and 1 (got {value:g})", f"e.g. {flag} 0.05")
        if self.latency_ms < 0:
            raise ConfigError(f"--latency-ms must be >= 0 (got {self.latency_ms})", "e.g. --latency-ms 200")


@dataclass(frozen=True, slots=True)
class HttpFault:
    status: int
    body: str
    content_type: str = "text/plain"


_GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
_SERVER_ERRORS = (
    HttpFault(500, "null", "application/json"),  # what the exchange answers when its handler fails
    HttpFault(502, _GATEWAY_PAGE, "text/html"),
    HttpFault(503, "Service Temporarily Unavailable"),
)


class FaultInjector:
    """Rolls the dice for each request against the current FaultConfig."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._rng = random.Random(seed * 7919 + 17)  # offset: independent of the market's RNG
        self._lock = threading.Lock()

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._rng.random() < rate

    def http_fault(self) -> HttpFault | None:
        """A failure status to answer instead of the real one, or None."""
        if self._roll(self.config.rate_limit_rate):
            return HttpFault(429, "Too Many Requests")
        if self._roll(self.config.error_rate):
            with self._lock:
                return self._rng.choice(_SERVER_ERRORS)
        return None

    def exchange_fault(self, after: bool) -> bool:
        """Fail this /exchange request: before it runs (`after` False) or by losing its answer after."""
        return self._roll(self.config.exchange_lost_rate if after else self.config.exchange_error_rate)

    def malform(self, text: str) -> str | None:
        """A broken version of a 200 body, or None to send it intact.

        Variants: the body cut short, an HTML page where JSON belongs, and valid JSON of the
        wrong shape (an object where a list belongs and the reverse).
        """
        if not self._roll(self.config.malformed_rate):
            return None
        with self._lock:
            kind = self._rng.randrange(3)
            cut = self._rng.randrange(max(len(text) - 1, 1))
        if kind == 0:
            return text[: max(cut, 1)] if len(text) > 1 else "{"
        if kind == 1:
            return _GATEWAY_PAGE
        return '{"error":"unexpected"}' if text.startswith("[") else '["unexpected"]'
