"""Provides the storage watch of a running engine: a daily online backup of the database into
`<db dir>/backups/` (keeping the last `data.backups`) and a free-space watch, each alerting on
trouble.

It runs on its own thread with the wall clock (a backup is a wall-time matter even when the
engine follows an accelerated exchange clock), and never stops trading: a failed backup is
alerted and tried again an hour later; low disk space is alerted once, and its end once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perpbot.clock import HOUR_MS, Clock, WallClock
from perpbot.data.backups import online_backup, prune_backups
from perpbot.data.storage import LOW_FREE_BYTES, daily_backup_path, free_bytes
from perpbot.errors import StorageError

log = logging.getLogger(__name__)

POLL_S = 60.0
"""Wall seconds between looks (a new UTC day, the free space)."""
RETRY_MS = HOUR_MS
"""After a failed backup, the next try comes this much later."""
RECOVER_FACTOR = 1.25
"""Low space is over only above LOW_FREE_BYTES times this, so a disk hovering at the line alerts once."""

EventHook = Callable[[str, dict[str, Any]], None]


class StorageWatch:
    """Daily backups and the free-space alarm for one database.

    Args:
        db_path: the database.
        keep: backups to keep (data.backups); 0 makes none.
        events: the engine's event hook, `events("error", {"text": ...})`.
        clock: decides the backup's day and the retry time (wall clock by default).
        poll_s: wall seconds between looks on the thread.
    """

    def __init__(self, db_path: Path, keep: int, events: EventHook, clock: Clock | None = None,
                 poll_s: float = POLL_S) -> None:
        self.db_path = Path(db_path)
        self.keep = keep
        self._events = events
        self._clock = clock or WallClock()
        self._poll_s = poll_s
        self._retry_at_ms = 0
        self._low = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Look now (today's backup if missing), then every poll_s on a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="storage-watch", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the thread boundary: a bad look must not end the watch
                log.exception("storage watch check failed")
            if self._stop.wait(self._poll_s):
                return

    def check(self) -> list[str]:
        """One look; returns what happened ("backup", "backup_failed", "low_space", "space_ok")."""
        now = self._clock.now_ms()
        done = []
        if self.keep > 0 and now >= self._retry_at_ms:
            done += self._daily_backup(now)
        done += self._watch_space()
        return done

    def _daily_backup(self, now_ms: int) -> list[str]:
        target = daily_backup_path(self.db_path, now_ms)
        if target.exists():
            return []
        try:
            size = online_backup(self.db_path, target)
        except StorageError as exc:
            self._retry_at_ms = now_ms + RETRY_MS
            log.error("backup_failed", extra={"path": str(target), "error": str(exc)})
            self._alert(f"daily backup of the database failed: {exc.message}; trying again in an hour",
                        hint=exc.hint)
            return ["backup_failed"]
        gone = prune_backups(self.db_path, self.keep)
        log.info("backup_written", extra={"path": str(target), "bytes": size, "pruned": [p.name for p in gone]})
        return ["backup"]

    def _watch_space(self) -> list[str]:
        folder = self.db_path.parent
        try:
            free = free_bytes(folder)
        except OSError as exc:
            log.warning("free_space_unknown", extra={"path": str(folder), "error": str(exc)})
            return []
        if free < LOW_FREE_BYTES and not self._low:
            self._low = True
            log.warning("low_disk_space", extra={"path": str(folder), "free_bytes": free})
            self._alert(f"low disk space: {free / 2**20:.0f} MB free on {folder}; writes stop when it is full",
                        hint=f"free space on {folder}")
            return ["low_space"]
        if free > LOW_FREE_BYTES * RECOVER_FACTOR and self._low:
            self._low = False
            log.info("disk_space_ok", extra={"path": str(folder), "free_bytes": free})
            self._alert(f"disk space ok again: {free / 2**20:.0f} MB free on {folder}")
            return ["space_ok"]
        return []

    def _alert(self, text: str, **fields: Any) -> None:
        try:
            self._events("error", {"text": text, **fields})
        except Exception:  # noqa: BLE001 - an alert sink must never stop the watch
            log.exception("event hook failed")
