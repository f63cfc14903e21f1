"""Provides who may command the bot: the configured chat, and in it the allowed users.

Only messages and button presses from TELEGRAM_CHAT_ID count. When `alerts.telegram_allowed_users`
is set, the sender must also be one of those user ids; in a group it must be set (any member
could otherwise send /flatten), which `check_command_chat` enforces at start and `refusal` again
per message. Messages sent on behalf of a chat (anonymous admins, channels) and from bots never
count: their `from` is not a person we can check. Everything else is ignored without a word to
the sender, and logged once per sender so a stranger cannot fill the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from perpbot.errors import ConfigError
from perpbot.ops.telegram.updates import Sender

log = logging.getLogger(__name__)

GROUP_TYPES = ("group", "supergroup", "channel")


def check_command_chat(chat_id: str, allowed_users: Iterable[int]) -> None:
    """Refuse a chat Telegram commands cannot safely obey: not a numeric id, or a group (group and
    channel ids are negative) without an allow-list. The daemon checks at start, `config-check` too.

    Raises:
        ConfigError: TELEGRAM_CHAT_ID is not a number, or is a group and alerts.telegram_allowed_users is empty.
    """
    if not chat_id.strip().lstrip("-").isdigit():
        raise ConfigError("TELEGRAM_CHAT_ID is not a numeric chat id, which Telegram commands need "
                          f"({len(chat_id)} characters)",
                          "use the chat's number (the README shows how to find it), not its @name")
    if chat_id.strip().startswith("-") and not list(allowed_users):
        raise ConfigError(
            "alerts.telegram_commands is on and TELEGRAM_CHAT_ID is a group, but alerts.telegram_allowed_users "
            "is empty: any member could send /flatten",
            "list the Telegram user ids allowed to command the bot in alerts.telegram_allowed_users "
            "(the README says how to find them), or use a private chat with the bot")


class Authorizer:
    """Decides whether a sender is obeyed.

    Args:
        chat_id: TELEGRAM_CHAT_ID (as the environment gives it).
        allowed_users: alerts.telegram_allowed_users (empty: anyone in a private chat).
    """

    def __init__(self, chat_id: str, allowed_users: Iterable[int]) -> None:
        self._chat_id = int(chat_id.strip())
        self._allowed = frozenset(allowed_users)
        self._noted: set[tuple[int, int | None]] = set()
        self._lock = threading.Lock()

    @property
    def chat_id(self) -> int:
        return self._chat_id

    def refusal(self, sender: Sender) -> str | None:
        """None if the sender is obeyed, else why not (for the log, never for the sender)."""
        if sender.chat_id != self._chat_id:
            return "another chat"
        if sender.on_behalf_of_chat or sender.is_bot or sender.user_id is None:
            return "not a person"
        if self._allowed and sender.user_id not in self._allowed:
            return "user not in alerts.telegram_allowed_users"
        if not self._allowed and sender.chat_type in GROUP_TYPES:
            return "a group chat needs alerts.telegram_allowed_users"
        return None

    def note_refused(self, sender: Sender, what: str, why: str) -> bool:
        """Log a refused sender the first time only; True then (the caller audits it once too)."""
        with self._lock:
            if sender.key in self._noted:
                return False
            self._noted.add(sender.key)
        log.warning("telegram_sender_ignored", extra={"chat_id": sender.chat_id, "user_id": sender.user_id,
                                                       "sender_name": sender.name, "what": what, "why": why})
        return True
