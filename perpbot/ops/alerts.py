"""Provides alerts to a Discord webhook and a Telegram bot that never block or break trading.

`AlertSink.send()` logs the alert (every alert is also a log line, so nothing vanishes when no channel
is configured or a channel fails), then only filters, deduplicates and enqueues (a bounded queue per channel); one
background thread per channel posts over httpx, spaced by `alerts.min_interval_s`, with bounded
retries that honour the server's `retry_after`. A failing channel is logged, never raised, and
neither the webhook URL nor the bot token reaches a log line or an error message.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from perpbot.clock import Clock, WallClock
from perpbot.config import ALERT_EVENTS, AlertsConfig, Settings
from perpbot.ops.alert_channels import Channel, Delivery, DiscordChannel, TelegramChannel, scrub

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
"""Alerts waiting per channel; beyond it new ones are dropped (logged), so send() never blocks."""
MAX_RETRY_WAIT_S = 120.0
"""A 429 asking for a longer wait means the channel is unusable for now: give the alert up."""
BACKOFF_S = 1.0
BACKOFF_CAP_S = 30.0
_WAIT_SLICE_S = 0.2  # waits are sliced so close() can cut a long retry wait short

_TITLES = {
    "trade_open": "TRADE OPEN", "trade_close": "TRADE CLOSE", "stop_loss": "STOP LOSS",
    "daily_loss_cap": "DAILY LOSS CAP", "halt": "HALT", "regime_change": "REGIME CHANGE",
    "stale_feed": "STALE FEED", "reconciliation": "RECONCILIATION", "error": "ERROR", "heartbeat": "HEARTBEAT",
}


_QUIET = {"trade_open", "trade_close", "heartbeat", "regime_change"}  # logged at INFO; the rest at WARNING
_RECORD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def log_alert(event: str, text: str, fields: dict[str, Any]) -> None:
    """The alert as a log line (`alert`, with its event, text and fields)."""
    extra = {(f"alert_{k}" if k in _RECORD_ATTRS else k): v for k, v in fields.items()}
    log.log(logging.INFO if event in _QUIET else logging.WARNING, "alert",
            extra={**extra, "alert_event": event, "text": text})


def format_alert(event: str, text: str, fields: dict[str, Any]) -> str:
    """The message as a phone shows it: a title line, then one `key: value` line per field."""
    lines = [f"perp-bot {_TITLES.get(event, event.upper())}: {text}"]
    for key, value in fields.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Alert:
    event: str
    message: str


_STOP = object()


class _ChannelWorker:
    """The queue and sender thread of one channel."""

    def __init__(self, channel: Channel, cfg: AlertsConfig, clock: Clock, queue_size: int) -> None:
        self.channel = channel
        self._clock = clock
        self._min_interval_ms = int(cfg.min_interval_s * 1000)
        self._max_retries = cfg.max_retries
        self._timeout_s = cfg.timeout_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._abort = threading.Event()
        self._next_ms = 0  # the earliest time the next request may go out (rate limit, retry_after)
        self.stats = {"queued": 0, "sent": 0, "failed": 0, "dropped": 0, "retries": 0}
        self.sent_at_ms: deque[int] = deque(maxlen=100)  # when each delivered alert went out
        self._thread = threading.Thread(target=self._run, name=f"alerts-{channel.name}", daemon=True)
        self._thread.start()

    def offer(self, alert: _Alert) -> bool:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.stats["dropped"] += 1
            log.warning("alert dropped: queue full", extra={"channel": self.channel.name, "alert_event": alert.event})
            return False
        self.stats["queued"] += 1
        return True

    def stop(self, deadline_s: float) -> None:
        """Ask the thread to finish the queue, then end; it gives up waits once `abort()` is called."""
        try:
            self._queue.put(_STOP, timeout=max(deadline_s, 0.0))
        except queue.Full:
            self.abort()
            self._queue.put(_STOP)  # the aborting thread drains quickly, so this gets in

    def abort(self) -> None:
        self._abort.set()

    def pending(self) -> int:
        """Alerts still queued (approximate while the thread runs)."""
        return max(self._queue.qsize() - 1, 0)  # minus the stop marker

    def join(self, timeout_s: float) -> bool:
        self._thread.join(max(timeout_s, 0.0))
        return not self._thread.is_alive()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout_s, follow_redirects=False) as client:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if self._abort.is_set():
                    self.stats["dropped"] += 1
                    continue
                self._deliver(client, item)

    def _deliver(self, client: httpx.Client, alert: _Alert) -> None:
        for attempt in range(self._max_retries + 1):
            if not self._wait_until(self._next_ms):
                break  # close() gave up on the queue
            result = self.channel.deliver(client, alert.message)
            now = self._clock.now_ms()
            self._next_ms = now + self._min_interval_ms
            if result.ok:
                self.stats["sent"] += 1
                self.sent_at_ms.append(now)
                return
            extra = {"channel": self.channel.name, "alert_event": alert.event, "status": result.status,
                     "detail": result.detail, "attempt": attempt + 1}
            wait_s = self._retry_wait(result, attempt)
            if wait_s is None:
                why = "retries exhausted" if result.retry and attempt >= self._max_retries else "not retryable"
                log.warning("alert not delivered", extra={**extra, "reason": why})
                break
            log.info("alert delivery failed, retrying", extra={**extra, "retry_in_s": wait_s})
            self.stats["retries"] += 1
            self._next_ms = max(self._next_ms, now + int(wait_s * 1000))
        self.stats["failed"] += 1

    def _retry_wait(self, result: Delivery, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give the alert up."""
        if not result.retry or attempt >= self._max_retries:
            return None
        if result.retry_after_s is not None:
            return result.retry_after_s if result.retry_after_s <= MAX_RETRY_WAIT_S else None
        return min(BACKOFF_S * 2**attempt, BACKOFF_CAP_S)

    def _wait_until(self, target_ms: int) -> bool:
        """Sleep on the clock until target_ms; False if close() gave up on us meanwhile."""
        while not self._abort.is_set():
            remaining_s = (target_ms - self._clock.now_ms()) / 1000
            if remaining_s <= 0:
                return True
            self._clock.sleep(min(remaining_s, _WAIT_SLICE_S))
        return False


class RedactHttpxLog(logging.Filter):
    """httpx logs every request URL at INFO; both channels carry their secret in the URL."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class AlertSink:
    """Fans alerts out to the configured channels without ever blocking the caller.

    Args:
        channels: where to post (none: every send is a no-op).
        cfg: the alerts config (event switches, spacing, dedupe window, timeout, retries).
        clock: time for dedupe, spacing and retry waits (a FakeClock makes tests instant).
        queue_size: alerts waiting per channel before new ones are dropped.
    """

    def __init__(self, channels: Sequence[Channel], cfg: AlertsConfig, clock: Clock | None = None,
                 queue_size: int = QUEUE_SIZE) -> None:
        self._cfg = cfg
        self._clock = clock or WallClock()
        self._events = set(cfg.events)
        self._dedupe_ms = int(cfg.dedupe_window_s * 1000)
        self._seen: dict[str, int] = {}  # message -> when it was last accepted
        self._lock = threading.Lock()
        self._closed = False
        active = list(channels) if cfg.enabled else []
        self._log_filter = RedactHttpxLog([s for c in active for s in c.secrets()])
        if active:
            logging.getLogger("httpx").addFilter(self._log_filter)
        self._workers = [_ChannelWorker(c, cfg, self._clock, queue_size) for c in active]

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> "AlertSink":
        """Channels from the environment: Discord if DISCORD_WEBHOOK_URL is set, Telegram if both
        TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are."""
        secrets, cfg = settings.secrets, settings.alerts
        channels: list[Channel] = []
        if secrets.discord_webhook_url:
            channels.append(DiscordChannel(secrets.discord_webhook_url))
        if secrets.telegram_bot_token and secrets.telegram_chat_id:
            channels.append(TelegramChannel(cfg.telegram_api_url, secrets.telegram_bot_token, secrets.telegram_chat_id))
        elif secrets.telegram_bot_token or secrets.telegram_chat_id:
            log.warning("telegram alerts off: set both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID")
        return cls(channels, cfg, clock)

    @property
    def channels(self) -> list[str]:
        """Names of the active channels."""
        return [w.channel.name for w in self._workers]

    def send(self, event: str, text: str, **fields: Any) -> bool:
        """Queue an alert for every channel; returns at once.

        Returns:
            True if it was queued on at least one channel; False when the event is switched
            off or unknown, a duplicate within alerts.dedupe_window_s, no channel is set, the
            sink is closed, or every queue is full.
        """
        if event not in ALERT_EVENTS:
            log.error("unknown alert event", extra={"alert_event": event, "text": text})
            return False
        log_alert(event, text, fields)
        if not self._workers or event not in self._events:
            return False
        message = format_alert(event, text, fields)
        now = self._clock.now_ms()
        with self._lock:
            if self._closed or self._is_duplicate(message, now):
                return False
        accepted = [w.offer(_Alert(event, message)) for w in self._workers]
        return any(accepted)

    def _is_duplicate(self, message: str, now: int) -> bool:
        # Forget what fell out of the window first, so the dict stays small over months.
        self._seen = {m: t for m, t in self._seen.items() if now - t < self._dedupe_ms}
        if message in self._seen:
            return True
        self._seen[message] = now
        return False

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per channel: queued, sent, failed, dropped, retries."""
        return {w.channel.name: dict(w.stats) for w in self._workers}

    def sent_at_ms(self, channel: str) -> list[int]:
        """Clock times at which the last (up to 100) alerts went out on a channel."""
        return [t for w in self._workers if w.channel.name == channel for t in w.sent_at_ms]

    def close(self, timeout_s: float = 5.0) -> bool:
        """Deliver what is queued, within `timeout_s` of wall time, then stop the threads.

        Returns:
            True if every channel finished its queue in time; False if some alerts were given
            up (logged).
        """
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        deadline = threading.Event()
        timer = threading.Timer(timeout_s, deadline.set)  # wall time: the clock may be a fake
        timer.daemon = True
        timer.start()
        try:
            for worker in self._workers:
                worker.stop(timeout_s)
            flushed = True
            for worker in self._workers:
                while not worker.join(0.05):
                    if deadline.is_set():
                        # Skip the rest of the queue; a request in flight ends within alerts.timeout_s
                        # and the thread is a daemon, so the process can exit regardless.
                        worker.abort()
                        flushed = False
                        log.warning("alerts given up at shutdown", extra={"channel": worker.channel.name,
                                                                           "undelivered": worker.pending()})
                        break
        finally:
            timer.cancel()
            logging.getLogger("httpx").removeFilter(self._log_filter)
        return flushed

    def __enter__(self) -> "AlertSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
