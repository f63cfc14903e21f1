"""Provides start-up patience: a call to the exchange retried with growing waits while it fails transiently.

The HTTP client already retries each request a few times within a second or two; at start-up one
bad minute of the exchange (a run of 5xx, a 429 storm, a garbled answer) must not end the daemon
either, so what the start cannot do without (the exchange's time, its `meta`, the key's role) is
asked again for about a minute before the start gives up. A refusal (a 4xx, a bad key, a symbol
the exchange does not list) is final at once: waiting would not change it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from perpbot.clock import Clock
from perpbot.errors import MalformedResponseError, TransientExchangeError

log = logging.getLogger(__name__)

T = TypeVar("T")

START_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # ~1 minute in all, then the last failure is raised
TRANSIENT = (TransientExchangeError, MalformedResponseError)


def patiently(what: str, call: Callable[[], T], clock: Clock, delays_s: tuple[float, ...] = START_DELAYS_S) -> T:
    """`call()`, retried after each wait of `delays_s` while it fails transiently (logged each time).

    Raises:
        TransientExchangeError, MalformedResponseError: still failing after the last wait.
        ExchangeError, ConfigError: a refusal, at once.
    """
    for attempt, delay_s in enumerate((*delays_s, None), start=1):
        try:
            return call()
        except TRANSIENT as exc:
            if delay_s is None:
                raise
            log.warning("startup_retry", extra={"what": what, "attempt": attempt, "delay_s": delay_s,
                                                "error": str(exc)})
            clock.sleep(delay_s)
    raise AssertionError("unreachable")
