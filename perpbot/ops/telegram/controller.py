"""Provides the Telegram controller: updates in, authorization, freshness, audit, routing, replies out.

Everything runs on the poller's thread: the engine's tick loop never waits on Telegram, and a
command reaches the engine only through its command handler (which takes the engine's lock for
the moment the command needs it, never while a reply is on the wire). Strangers get no answer at
all; a command older than two minutes by the wall clock (a phone that was offline, a backlog
after downtime) is refused with a message instead of run. `telegram_control` builds the
controller from the settings, or a no-op when commands are off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from perpbot.clock import Clock, WallClock
from perpbot.config import Settings
from perpbot.ops.telegram import api as bot
from perpbot.ops.telegram.api import BotApi, BotApiError
from perpbot.ops.telegram.audit import AuditLog
from perpbot.ops.telegram.auth import Authorizer, check_command_chat
from perpbot.ops.telegram.confirm import CANCELLED, EXPIRED, NOT_YOURS, OK, Confirmations, Pending
from perpbot.ops.telegram.poller import POLL_S, Poller
from perpbot.ops.telegram.ports import BotStore, CommandHandler, EnginePorts, EventHook
from perpbot.ops.telegram.router import Router
from perpbot.ops.telegram.text import Block, Chunk, chunks
from perpbot.ops.telegram.updates import Command, Ignored, Press, Sender, parse_update
from perpbot.ops.telegram.views import COMMANDS, duration, utc

log = logging.getLogger(__name__)

STALE_S = 120
"""A command whose message.date is more than this before the wall clock is refused."""
SEND_ATTEMPTS = 3
MAX_SEND_WAIT_S = 30.0
"""A reply that would wait longer than this for a 429 is dropped (logged): it would arrive out of date."""

_ANSWERS = {
    EXPIRED: "Expired: nothing was done.",
    CANCELLED: "Cancelled: nothing was done.",
    NOT_YOURS: "Only the user who asked can answer this.",
}


class Control(Protocol):
    """What the host starts and stops."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class NoControl:
    """Telegram commands are off."""

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def telegram_control(settings: Settings, commands: CommandHandler, snapshot: Callable[[], dict[str, Any]],
                     now_ms: Callable[[], int], store: BotStore, events: EventHook | None = None,
                     **options: Any) -> Control:
    """The controller for these settings: a TelegramController when `alerts.telegram_commands` is on and
    TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are set, else NoControl.

    Args:
        commands: the engine's command handler (perpbot.ipc.commands.handler(engine)).
        snapshot: the engine's state snapshot.
        now_ms: the engine's clock.
        store: the engine's Store.
        events: the engine's event hook, for the poller's own alerts.
        options: passed to TelegramController (tests: wall, poll_s, sleep, nonce).

    Raises:
        ConfigError: TELEGRAM_CHAT_ID is not a numeric id, or is a group without alerts.telegram_allowed_users.
    """
    cfg, secrets = settings.alerts, settings.secrets
    if not cfg.telegram_commands:
        return NoControl()
    token, chat_id = secrets.telegram_bot_token, secrets.telegram_chat_id
    if not token or not chat_id:
        log.warning("telegram commands off: alerts.telegram_commands needs both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID")
        return NoControl()
    check_command_chat(chat_id, cfg.telegram_allowed_users)
    api = BotApi(cfg.telegram_api_url, token, cfg.timeout_s)
    return TelegramController(api, EnginePorts(commands, snapshot, now_ms), store, settings, chat_id, events, **options)


class TelegramController:
    """Obeys commands from the configured chat (see the module docstring).

    Args:
        api: the Bot API client (its own; closed by stop()).
        engine: the hosted engine's ports.
        store: bot_state, trades and the audit table.
        settings: the loaded config.
        chat_id: TELEGRAM_CHAT_ID.
        events: the engine's event hook, for alerts (409 conflict, rejected token).
        wall: the wall clock (freshness, confirmation expiry, audit times).
        poll_s: the long poll's length.
        sleep: waits between retries (tests pass a recorder).
        nonce: the confirmations' nonce maker (tests pass a fixed one).
    """

    def __init__(self, api: BotApi, engine: EnginePorts, store: BotStore, settings: Settings, chat_id: str,
                 events: EventHook | None = None, *, wall: Clock | None = None, poll_s: float = POLL_S,
                 sleep: Callable[[float], None] | None = None, nonce: Callable[[], str] | None = None) -> None:
        self._api = api
        self._events = events
        self._wall = wall or WallClock()
        self._auth = Authorizer(chat_id, settings.alerts.telegram_allowed_users)
        self.confirmations = Confirmations(self._wall, **({"nonce": nonce} if nonce else {}))
        self._audit = AuditLog(store, self._wall)
        self._router = Router(engine, store, settings, self.confirmations)
        self.poller = Poller(api, store, self.handle, self._ready, self._sweep, self._alert, self._wall, poll_s, sleep)
        self.username: str | None = None

    def start(self) -> None:
        log.info("telegram_commands_starting", extra={"chat_id": self._auth.chat_id})
        self.poller.start()

    def stop(self) -> None:
        if self.poller.stop():
            self._api.close()  # else a long poll is still open on it; the daemon thread ends with the process

    # --- updates ---------------------------------------------------------------------------------

    def handle(self, update: dict[str, Any]) -> None:
        """Act on one update (the poller has already recorded its update_id)."""
        parsed = parse_update(update)
        if isinstance(parsed, Command):
            self._on_command(parsed)
        elif isinstance(parsed, Press):
            self._on_press(parsed)
        else:
            assert isinstance(parsed, Ignored)
            log.debug("telegram_update_ignored", extra={"update_id": parsed.update_id, "why": parsed.why})

    def _obeyed(self, sender: Sender, what: str) -> bool:
        why = self._auth.refusal(sender)
        if why is None:
            return True
        if self._auth.note_refused(sender, what, why):
            self._audit.record(sender, what, "unauthorized", why)
        return False

    def _on_command(self, cmd: Command) -> None:
        if not self._obeyed(cmd.sender, cmd.text):
            return
        if cmd.bot and self.username and cmd.bot.lower() != self.username.lower():
            log.debug("telegram_command_for_another_bot", extra={"bot": cmd.bot})
            return
        age_s = self._wall.now_ms() / 1000 - cmd.date_s
        if age_s > STALE_S:
            text = (f"Not done: {cmd.text} was sent at {utc(cmd.date_s * 1000, with_date=True)}, "
                    f"{duration(int(age_s * 1000))} ago; commands older than 2 minutes are refused. "
                    "Send it again if you still want it.")
            self._audit.record(cmd.sender, cmd.text, "refused", f"stale: sent {age_s:.0f} s ago")
            self._send(cmd.sender.chat_id, [Block(text)], reply_to=cmd.message_id)
            return
        record = self._audit.begin(cmd.sender, cmd.text)
        outcome = self._router.route(cmd)
        self._audit.finish(record, outcome.result, outcome.detail)
        if outcome.question is None:
            self._send(cmd.sender.chat_id, outcome.blocks, reply_to=cmd.message_id)
            return
        question = outcome.question
        question.message_id = self._send(cmd.sender.chat_id, outcome.blocks, question.keyboard(), cmd.message_id)

    def _on_press(self, press: Press) -> None:
        if not self._obeyed(press.sender, f"button {press.data[:64]}"):
            return
        answer, pending = self.confirmations.resolve(press.data, press.sender.chat_id, press.sender.user_id)
        if pending is None:
            self._answer(press, "This button is no longer valid: nothing was done.")
            self._audit.record(press.sender, f"button {press.data[:64]}", "refused", "unknown or spent confirmation")
            return
        if answer != OK:
            self._answer(press, _ANSWERS[answer])
            self._audit.record(press.sender, f"{pending.text} ({answer})", "refused" if answer == NOT_YOURS else answer)
            if answer != NOT_YOURS:
                self._edit(pending, _ANSWERS[answer])
            return
        # The command first: Telegram is only told afterwards, so a slow Bot API cannot delay a close.
        record = self._audit.begin(press.sender, f"{pending.text} (confirmed)")
        outcome = self._router.run_confirmed(pending)
        self._audit.finish(record, outcome.result, outcome.detail)
        self._answer(press, "Done." if outcome.result == "ok" else "Failed: see the reply.")
        self._edit(pending, f"Confirmed by {press.sender.name or press.sender.user_id}.")
        self._send(press.sender.chat_id, outcome.blocks, reply_to=pending.message_id)

    def _sweep(self) -> None:
        """After each poll: questions nobody answered in time lose their buttons."""
        for pending in self.confirmations.expired():
            self._audit.record(pending.sender, f"{pending.text} (expired)", EXPIRED)
            self._edit(pending, "Expired after 60 s: nothing was done.")

    def _ready(self, me: dict[str, Any]) -> None:
        self.username = str(me.get("username") or "") or None
        log.info("telegram_commands_ready", extra={"bot": self.username})
        try:
            self._api.set_my_commands([(name, text) for name, text in COMMANDS])
        except BotApiError as exc:  # only the menu in the phone's chat; commands work without it
            log.warning("telegram_set_commands_failed", extra={"error": exc.message})

    def _alert(self, text: str) -> None:
        if self._events is not None:
            self._events("error", {"text": text})

    # --- replies ---------------------------------------------------------------------------------

    def _send(self, chat_id: int, blocks: Sequence[Block], keyboard: list[list[dict[str, str]]] | None = None,
              reply_to: int | None = None) -> int | None:
        """Send the reply (split to Telegram's limit); returns the last message's id (None if it failed)."""
        parts = chunks(blocks)
        message_id = None
        for i, chunk in enumerate(parts):
            last = i == len(parts) - 1

            def send(text: str, html: bool, first: bool = i == 0, kb: Any = keyboard if last else None) -> Any:
                return self._api.send_message(chat_id, text, html, kb, reply_to if first else None)

            message_id = self._deliver("sendMessage", send, chunk)
        return message_id

    def _edit(self, pending: Pending, outcome: str) -> None:
        """Rewrite a question with its outcome and without its buttons."""
        if pending.message_id is None:
            return
        message_id = pending.message_id

        def edit(text: str, html: bool) -> None:
            self._api.edit_message_text(pending.sender.chat_id, message_id, text, html)

        self._deliver("editMessageText", edit, chunks([Block(pending.prompt), Block(outcome)])[0])

    def _answer(self, press: Press, text: str) -> None:
        try:
            self._api.answer_callback_query(press.query_id, text)
        except BotApiError as exc:  # the button's spinner stops on its own after a while
            log.warning("telegram_answer_failed", extra={"error": exc.message})

    def _deliver(self, method: str, call: Callable[[str, bool], Any], chunk: Chunk) -> Any:
        """One message out: HTML first, plain text if the markup is refused; retries 429, 5xx and network failures."""
        html = True
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return call(chunk.html if html else chunk.plain, html)
            except BotApiError as exc:
                wait = self._send_wait(exc, attempt)
                log.warning("telegram_send_failed", extra={"method": method, "kind": exc.kind, "error": exc.message,
                                                           "attempt": attempt, "retry_in_s": wait})
                if exc.bad_markup and html:
                    html, wait = False, 0.0
                if wait is None or self.poller.wait(wait):
                    return None
        return None

    def _send_wait(self, exc: BotApiError, attempt: int) -> float | None:
        """Seconds before the next attempt, or None to give the message up."""
        if attempt >= SEND_ATTEMPTS:
            return None
        if exc.kind == bot.RATE_LIMITED:
            wait = exc.retry_after_s if exc.retry_after_s is not None else float(attempt)
            return wait if wait <= MAX_SEND_WAIT_S else None
        if exc.kind in (bot.NETWORK, bot.SERVER) or exc.bad_markup:
            return float(attempt)
        return None
