"""Provides the confirmations of destructive commands: an inline keyboard whose answer expires after 60 s.

`/close BTC` and `/flatten` do nothing at first: they ask, with two buttons whose callback data
carry a random nonce. Only a press by the user who asked, in the same chat, within the time
limit runs the command, once (the nonce is spent). Pending confirmations live in memory only:
after a restart every old button answers "expired". Time is the wall clock (injectable): the
limit is a person's reaction time, not the engine's (possibly simulated) time.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perpbot.clock import Clock
from perpbot.ops.telegram.updates import Sender

CONFIRM_TTL_S = 60.0
YES, NO = "y", "n"

OK, UNKNOWN, EXPIRED, NOT_YOURS, CANCELLED = "ok", "unknown", "expired", "not_yours", "cancelled"
"""What a press came to."""


@dataclass(slots=True)
class Pending:
    """A command waiting for its confirmation."""

    nonce: str
    command: str  # the engine command: close | flatten
    args: dict[str, Any]
    text: str  # as typed: `/close BTC`
    sender: Sender  # who asked: only they can answer
    asked_ms: int
    prompt: str = ""  # the question as sent (raw text), to rewrite it with the outcome
    message_id: int | None = field(default=None)

    def keyboard(self) -> list[list[dict[str, str]]]:
        """Confirm and Cancel buttons (callback data well under Telegram's 64 bytes)."""
        label = "Close " + self.args["symbol"] if self.command == "close" else "Flatten all"
        return [[{"text": f"✅ {label}", "callback_data": f"{YES}:{self.nonce}"},
                 {"text": "Cancel", "callback_data": f"{NO}:{self.nonce}"}]]


class Confirmations:
    """The pending confirmations (thread-safe).

    Args:
        clock: the wall clock (a FakeClock in tests).
        ttl_s: how long an answer is accepted.
        nonce: makes the random part of the callback data.
    """

    def __init__(self, clock: Clock, ttl_s: float = CONFIRM_TTL_S,
                 nonce: Callable[[], str] = lambda: secrets.token_urlsafe(9)) -> None:
        self._clock = clock
        self._ttl_ms = int(ttl_s * 1000)
        self._nonce = nonce
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def ask(self, command: str, args: dict[str, Any], text: str, sender: Sender) -> Pending:
        pending = Pending(self._nonce(), command, dict(args), text, sender, self._clock.now_ms())
        with self._lock:
            self._pending[pending.nonce] = pending
        return pending

    def resolve(self, data: str, chat_id: int, user_id: int | None) -> tuple[str, Pending | None]:
        """What a press with this callback data means; an OK or CANCELLED answer spends the nonce.

        A press by someone else leaves the question open for the one who asked; a late press
        spends it (the answer is EXPIRED whatever the button).
        """
        answer, _, nonce = data.partition(":")
        with self._lock:
            pending = self._pending.get(nonce)
            if pending is None or answer not in (YES, NO) or pending.sender.chat_id != chat_id:
                return UNKNOWN, None
            if pending.sender.user_id != user_id:
                return NOT_YOURS, pending
            del self._pending[nonce]
        if self._clock.now_ms() - pending.asked_ms > self._ttl_ms:
            return EXPIRED, pending
        return (OK if answer == YES else CANCELLED), pending

    def expired(self) -> list[Pending]:
        """Take out the questions nobody answered in time (the caller rewrites their messages)."""
        now = self._clock.now_ms()
        with self._lock:
            gone = [p for p in self._pending.values() if now - p.asked_ms > self._ttl_ms]
            for pending in gone:
                del self._pending[pending.nonce]
        return gone

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
