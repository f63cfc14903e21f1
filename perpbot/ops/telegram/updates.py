"""Provides the parsing of Bot API updates into the few things the controller acts on.

An update is untrusted JSON: anything missing or of the wrong type makes it `Ignored` (its
`update_id` still moves the offset on). A command is the `bot_command` entity at offset 0
(`/close@PerpBot BTC` is `close` addressed to `PerpBot`, with the argument `BTC`); entity
offsets are UTF-16 code units, as the Bot API counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?$")


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a message or pressed a button, and in which chat."""

    chat_id: int
    chat_type: str  # private | group | supergroup | channel
    user_id: int | None  # None when Telegram gave no `from`
    name: str  # @username, else the first name: for the audit and log only
    is_bot: bool = False
    on_behalf_of_chat: bool = False  # `sender_chat` set: an anonymous admin or a channel, not a person

    @property
    def key(self) -> tuple[int, int | None]:
        return self.chat_id, self.user_id


@dataclass(frozen=True, slots=True)
class Command:
    update_id: int
    sender: Sender
    name: str  # lower case, without the slash and the @bot part
    args: tuple[str, ...]
    bot: str | None  # the @BotName the command was addressed to, if any
    date_s: int  # message.date: Unix seconds
    message_id: int

    @property
    def text(self) -> str:
        """The command as the audit records it: `/close BTC`."""
        return " ".join(("/" + self.name, *self.args))


@dataclass(frozen=True, slots=True)
class Press:
    """A button of an inline keyboard pressed (a callback_query)."""

    update_id: int
    query_id: str
    sender: Sender
    data: str
    message_id: int | None


@dataclass(frozen=True, slots=True)
class Ignored:
    update_id: int
    why: str


Update = Command | Press | Ignored


def parse_update(update: dict[str, Any]) -> Update:
    """The update as a Command, a Press, or Ignored (with the reason)."""
    update_id = int(update["update_id"])
    message = update.get("message")
    if isinstance(message, dict):
        return _command(update_id, message)
    query = update.get("callback_query")
    if isinstance(query, dict):
        return _press(update_id, query)
    return Ignored(update_id, "not a message or a button")


def _sender(chat: Any, user: Any, sender_chat: Any) -> Sender | None:
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        return None
    user = user if isinstance(user, dict) and isinstance(user.get("id"), int) else {}
    name = user.get("username") or user.get("first_name") or ""
    return Sender(chat_id=chat["id"], chat_type=str(chat.get("type") or ""), user_id=user.get("id"),
                  name=str(name)[:64], is_bot=user.get("is_bot") is True,
                  on_behalf_of_chat=isinstance(sender_chat, dict))


def _command(update_id: int, message: dict[str, Any]) -> Update:
    sender = _sender(message.get("chat"), message.get("from"), message.get("sender_chat"))
    text = message.get("text")
    if sender is None or not isinstance(text, str) or not isinstance(message.get("date"), int):
        return Ignored(update_id, "not a text message")
    token = _command_token(text, message.get("entities"))
    match = _COMMAND.match(token) if token else None
    if match is None:
        return Ignored(update_id, "not a command")
    rest = text[len(token):].split()
    return Command(update_id, sender, match.group(1).lower(), tuple(rest), match.group(2), message["date"],
                   int(message.get("message_id") or 0))


def _command_token(text: str, entities: Any) -> str | None:
    """The bot_command entity at offset 0, else the first word if it starts with '/'."""
    if isinstance(entities, list):
        for entity in entities:
            if isinstance(entity, dict) and entity.get("type") == "bot_command" and entity.get("offset") == 0:
                length = entity.get("length")
                if isinstance(length, int) and length > 0:
                    return text.encode("utf-16-le")[: 2 * length].decode("utf-16-le", errors="ignore")
    if text.startswith("/"):
        return text.split(maxsplit=1)[0]
    return None


def _press(update_id: int, query: dict[str, Any]) -> Update:
    message = query.get("message")
    chat = message.get("chat") if isinstance(message, dict) else None
    sender = _sender(chat, query.get("from"), None)
    if sender is None or not isinstance(query.get("id"), str) or not isinstance(query.get("data"), str):
        return Ignored(update_id, "a button without its chat or data")
    message_id = message.get("message_id") if isinstance(message, dict) else None
    return Press(update_id, query["id"], sender, query["data"], message_id if isinstance(message_id, int) else None)
