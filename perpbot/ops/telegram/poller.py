"""Provides the poller: long-polls getUpdates on its own thread, remembers the last update handled, recovers.

The update_id of each update is written to `bot_state` before the update is handed on, so a
command runs at most once: Telegram confirms an update only when the next getUpdates asks for a
higher offset, and after a crash in between it delivers the update again, which is then skipped.
Failures never end the thread: a 429 waits the server's `retry_after`; 5xx, timeouts and lost
networks back off (1 s doubling to 60 s) and recover on their own; a webhook on the token is
deleted (getUpdates cannot work beside one); another poller on the same token (409 Conflict)
backs off and raises one alert once it has lasted `CONFLICT_ALERT_S`. The tick loop never waits
on any of it: the poller shares nothing with it but the engine's command handler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from perpbot.clock import DAY_MS, Clock
from perpbot.ops.telegram import api as bot
from perpbot.ops.telegram.api import BotApi, BotApiError
from perpbot.ops.telegram.ports import BotStore

log = logging.getLogger(__name__)

STATE_KEY = "telegram_update_id"
"""bot_state key: {"update_id": the last update handled, "at_ms": when (wall), "bot_id": whose (getMe)}.

Update ids belong to one bot: with another token (another bot) the stored id means nothing, and its
lower ids would be skipped as handled (against Telegram, offset=id+1 would even discard them).
A stored id without a bot_id (written before the id was kept) is trusted: at most once comes first."""
POLL_S = 25.0
"""How long Telegram may hold a getUpdates open when nothing happens."""
BACKOFF_S = 1.0
BACKOFF_CAP_S = 60.0
UNAUTHORIZED_WAIT_S = 300.0
"""A rejected token is a human's job: ask again every five minutes, not every minute."""
MAX_RETRY_AFTER_S = 600.0
CONFLICT_ALERT_S = 60.0
"""Alert when 409 conflicts have gone on this long."""
CONFLICT_GAP_S = 120.0
"""A conflict episode ends after this long without a 409 (more than a long poll plus the longest backoff)."""
BUSY_WAIT_S = 15.0
"""How long stop() waits for a command being handled (a live close, its reply)."""
STALE_OFFSET_MS = 7 * DAY_MS
"""After a week without updates Telegram may restart update ids anywhere: a stored id that old is dropped."""


class Poller:
    """The getUpdates loop.

    Args:
        api: the Bot API client (used from the poller's thread only).
        store: bot_state for the last update_id.
        on_update: handles one new update (exceptions are logged, the loop goes on).
        on_ready: called with the bot's getMe answer before the first poll.
        on_idle: called after every poll, with or without updates (expiring confirmations).
        alert: sends one alert text (persistent conflict, rejected token).
        wall: the wall clock (state stamps, how long a conflict lasted).
        poll_s: the long poll's length.
        sleep: waits between retries; None waits on the stop event (tests pass a fake that records).
    """

    def __init__(self, api: BotApi, store: BotStore, on_update: Callable[[dict[str, Any]], None],
                 on_ready: Callable[[dict[str, Any]], None], on_idle: Callable[[], None],
                 alert: Callable[[str], None], wall: Clock, poll_s: float = POLL_S,
                 sleep: Callable[[float], None] | None = None) -> None:
        self._api, self._store, self._wall = api, store, wall
        self._on_update, self._on_ready, self._on_idle, self._alert = on_update, on_ready, on_idle, alert
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._busy = threading.Lock()  # held while an update is handled
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._ready = False
        self._last: int | None = None
        self._bot_id: int | None = None  # getMe's id: the stored update_id is this bot's only
        self._last_at_ms = 0  # wall time the last update was handled
        self._failures = 0
        self._conflict_since: int | None = None
        self._conflict_last = 0
        self._alerted: set[str] = set()
        self._webhook_deleted = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="telegram-poller", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 0.5) -> bool:
        """Stop: wait up to BUSY_WAIT_S for an update being handled (a /flatten half done must finish
        before the engine closes), then up to `timeout_s` for the thread. An idle long poll is not
        waited for: the thread is a daemon and handles nothing once stopping.

        Returns:
            True if the thread ended in time.
        """
        self._stop.set()
        if self._busy.acquire(timeout=BUSY_WAIT_S):
            self._busy.release()
        else:
            log.warning("telegram_stop_busy", extra={"wait_s": BUSY_WAIT_S})
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Sleep between retries; True if the poller is stopping."""
        if seconds > 0 and not self._stop.is_set():
            self._sleep(seconds)
        return self._stop.is_set()

    # --- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._step()
                except BotApiError as exc:
                    if self.wait(self._after_failure(exc)):
                        break
                    continue
                except Exception:  # noqa: BLE001 - the thread's boundary: polling must outlive e.g. a full disk
                    # An update whose id could not be stored did not run: it comes back with the next poll.
                    self._failures += 1
                    if self._failures == 1:
                        log.exception("telegram_poller_failed")
                    if self.wait(self._backoff()):
                        break
                    continue
                self._recovered()
        finally:
            self._store.close()  # this thread's connection only
            log.info("telegram_poller_stopped")

    def _step(self) -> None:
        if not self._ready:
            me = self._api.get_me()
            self._bot_id = me.get("id") if isinstance(me.get("id"), int) else None
            self._last = self._load_last()
            self._ready = True
            self._on_ready(me)
        if self._last is not None and self._wall.now_ms() - self._last_at_ms > STALE_OFFSET_MS:
            log.info("telegram_offset_dropped", extra={"update_id": self._last, "why": "a week without updates"})
            self._last = None  # what it confirmed stays confirmed: Telegram sends only newer updates
        offset = None if self._last is None else self._last + 1
        updates = self._api.get_updates(offset, self._poll_s)
        for update in sorted(updates, key=lambda u: u["update_id"]):
            with self._busy:
                if self._stop.is_set():
                    return  # not recorded: Telegram delivers it again to the next start
                self._handle(update)
        with self._busy:
            if not self._stop.is_set():
                self._on_idle()

    def _handle(self, update: dict[str, Any]) -> None:
        update_id = update["update_id"]
        if self._last is not None and update_id <= self._last:
            log.info("telegram_update_skipped", extra={"update_id": update_id, "why": "already handled"})
            return
        self._last_at_ms = self._wall.now_ms()
        saved = {"update_id": update_id, "at_ms": self._last_at_ms, "bot_id": self._bot_id}
        self._store.set_state(STATE_KEY, saved, self._last_at_ms)
        self._last = update_id
        try:
            self._on_update(update)
        except Exception:  # noqa: BLE001 - one bad update must not stop the others (it is recorded as handled)
            log.exception("telegram_update_failed", extra={"update_id": update_id})

    def _load_last(self) -> int | None:
        """The stored last update_id of this bot (a stored one older than a week is dropped by the
        first step; one of another bot at once)."""
        saved = self._store.get_state(STATE_KEY)
        if not isinstance(saved, dict) or not isinstance(saved.get("update_id"), int):
            return None
        if saved.get("bot_id") is not None and saved.get("bot_id") != self._bot_id:
            log.info("telegram_offset_dropped", extra={"update_id": saved["update_id"], "why": "another bot's token"})
            return None
        self._last_at_ms = int(saved.get("at_ms") or 0)
        return int(saved["update_id"])

    # --- failures --------------------------------------------------------------------------------

    def _after_failure(self, exc: BotApiError) -> float:
        """Log the failure and return how long to wait before the next try."""
        self._failures += 1
        extra = {"kind": exc.kind, "status": exc.status, "error": exc.message, "failures": self._failures}
        if self._failures == 1:
            log.warning("telegram_poll_failed", extra=extra)
        else:
            log.info("telegram_poll_failed", extra=extra)
        if exc.kind == bot.RATE_LIMITED and exc.retry_after_s is not None:
            return min(exc.retry_after_s, MAX_RETRY_AFTER_S)
        if exc.kind == bot.WEBHOOK and not self._webhook_deleted:
            return self._delete_webhook()
        if exc.kind in (bot.CONFLICT, bot.WEBHOOK):
            self._note_conflict()
        if exc.kind == bot.UNAUTHORIZED:
            self._alert_once("unauthorized", "Telegram commands: the Bot API rejects TELEGRAM_BOT_TOKEN "
                                             f"({exc.message}); check the token with @BotFather")
            return UNAUTHORIZED_WAIT_S
        return self._backoff()

    def _backoff(self) -> float:
        return min(BACKOFF_S * 2 ** min(self._failures - 1, 10), BACKOFF_CAP_S)

    def _delete_webhook(self) -> float:
        log.warning("telegram_webhook_deleted", extra={"why": "getUpdates cannot run while a webhook is set"})
        self._webhook_deleted = True  # once: a webhook that comes back belongs to another program (a conflict)
        try:
            self._api.delete_webhook()
        except BotApiError as exc:
            log.warning("telegram_webhook_delete_failed", extra={"error": exc.message})
            return self._backoff()
        return 0.0

    def _note_conflict(self) -> None:
        """A 409 from another poller. Two pollers take turns (each request ends the other's), so a
        success in between does not end the episode; only CONFLICT_GAP_S without a 409 does."""
        now = self._wall.now_ms()
        if self._conflict_since is None or now - self._conflict_last > CONFLICT_GAP_S * 1000:
            self._conflict_since = now
        self._conflict_last = now
        lasted_s = (now - self._conflict_since) / 1000
        if lasted_s >= CONFLICT_ALERT_S:
            self._alert_once("conflict", f"Telegram commands: another program polls this bot's token (409 Conflict "
                                         f"for {lasted_s:.0f} s); commands may not reach perp-bot. Run one bot per "
                                         "token (stop the other, or give it its own bot from @BotFather)")

    def _alert_once(self, key: str, text: str) -> None:
        if key in self._alerted:
            return
        self._alerted.add(key)
        log.error("telegram_alert", extra={"why": key, "text": text})
        self._alert(text)

    def _recovered(self) -> None:
        if self._failures:
            log.info("telegram_poll_recovered", extra={"failures": self._failures})
        self._failures = 0
        self._alerted.discard("unauthorized")
        quiet = self._conflict_since is not None and self._wall.now_ms() - self._conflict_last > CONFLICT_GAP_S * 1000
        if quiet:
            self._conflict_since = None
            if "conflict" in self._alerted:
                self._alerted.discard("conflict")
                self._alert("Telegram commands: polling works again (no 409 conflict for "
                            f"{CONFLICT_GAP_S:.0f} s)")
