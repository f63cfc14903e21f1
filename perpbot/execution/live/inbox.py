"""Provides the inbox of the account's user streams: what orderUpdates and userFills reported, kept for the
live executor's next sync (which runs under the engine's lock), and a wake-up for the engine.

The feed's thread only files messages here; booking is the executor's. A userFills message with
`isSnapshot: true` opens every (re)subscription with recent fills: those are not booked from here
(a fresh database must not book an old history), a reconciliation is asked for instead, whose REST
read from the fills cursor finds whatever was missed; fills are booked once by their tid either way.
A reconnect (nothing missed is replayed) and an order canceled by someone other than the bot (a
stop canceled by hand or by the exchange) ask for one too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from perpbot.data.records import Fill, parse_fills

log = logging.getLogger(__name__)

CANCELED = ("canceled", "marginCanceled", "reduceOnlyCanceled", "liquidatedCanceled", "scheduledCancel",
            "siblingFilledCanceled", "delistedCanceled", "selfTradeCanceled", "openInterestCapCanceled")


class StreamInbox:
    """Thread-safe: `receive` on the feed's thread, `take` on the engine's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fills: list[Fill] = []
        self._due = False  # a reconciliation is wanted at the next sync
        self.wake: Callable[[], None] = lambda: None
        self.received = 0  # fills streamed (not snapshots), for tests and the log

    def receive(self, channel: str, data: Any) -> None:
        """One message of the account's streams (see data/ports.py AccountStream)."""
        fills: list[Fill] = []
        due = channel == "reconnected"
        try:
            if channel == "userFills" and isinstance(data, dict) and not data.get("isSnapshot"):
                fills = parse_fills(data.get("fills"))
            elif channel == "userFills":
                due = True
            elif channel == "orderUpdates" and isinstance(data, list):
                due = any(isinstance(u, dict) and u.get("status") in CANCELED for u in data)
        except (KeyError, TypeError, ValueError) as exc:  # an unreadable message: REST reads what it held
            log.warning("account_stream_malformed", extra={"channel": channel, "error": str(exc)})
            due = True
        if not fills and not due:
            return
        with self._lock:
            self._fills += fills
            self._due = self._due or due
            self.received += len(fills)
        self.wake()

    def take(self) -> tuple[list[Fill], bool]:
        """The fills streamed since the last take, and whether a reconciliation is wanted."""
        with self._lock:
            fills, due = self._fills, self._due
            self._fills, self._due = [], False
        return fills, due

    def again(self) -> None:
        """Booking what was taken failed: reconcile at the next sync instead."""
        with self._lock:
            self._due = True
