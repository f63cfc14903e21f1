"""Provides a loopback fake of the Telegram Bot API for a bot that long-polls for commands.

Beyond FakeTelegram's sendMessage it speaks getMe, getUpdates (long polling: the answer waits
until an update arrives or `timeout` runs out; `offset` confirms and forgets earlier updates;
`allowed_updates` is kept by the server once sent; a newer getUpdates ends an older one with
409 "terminated by other getUpdates request"; a set webhook makes getUpdates answer 409 until
deleteWebhook), sendMessage with HTML parse mode checked as Telegram does (tags, entities,
4,096 characters after parsing, inline keyboards with callback data of at most 64 bytes),
editMessageText ("message is not modified"), answerCallbackQuery (once per query),
setMyCommands and deleteWebhook. Tests play the users with `push_message` and `press`, steer
failures per method with `fail_method` and hang methods with `hang`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from html import unescape
from typing import Any

from fakes.chat_servers import FakeTelegram, Reply

OWNER_ID = 111111111  # the user whose private chat is the configured one by default
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)((?:\s[^<>]*)?)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a", "span", "tg-spoiler",
         "blockquote", "tg-emoji"}


def _error(status: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body, {}


def _ok(result: Any) -> Reply:
    return 200, {"ok": True, "result": result}, {}


def parse_html(text: str) -> str | None:
    """The text Telegram would show for HTML parse mode, or None where it answers "can't parse entities"."""
    stack: list[str] = []
    plain: list[str] = []
    pos = 0
    for match in _TAG.finditer(text):
        plain.append(text[pos:match.start()])
        closing, name = match.group(1), match.group(2).lower()
        if name not in _TAGS:
            return None
        if closing:
            if not stack or stack.pop() != name:
                return None
        else:
            stack.append(name)
        pos = match.end()
    plain.append(text[pos:])
    joined = "".join(plain)
    if stack or "<" in joined or ">" in joined or "&" in _ENTITY.sub("", joined):
        return None
    return unescape(joined)


class FakeBotApi(FakeTelegram):
    """The Bot API a polling bot uses (see the module docstring)."""

    def __init__(self, token: str = "7012345678:AAH-fakeTokenValue_0123456789abcdefXYZ",
                 chat_id: str = str(OWNER_ID), username: str = "PerpTestBot", port: int = 0) -> None:
        super().__init__(token, chat_id, port)
        self.username = username
        self.bot_id = int(token.split(":")[0])
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every well-addressed call, in order
        self.offsets: list[int | None] = []  # the offset of each getUpdates
        self.allowed_updates: list[str] | None = None
        self.messages: dict[tuple[str, int], dict[str, Any]] = {}  # what the bot sent, as edited since
        self.answers: dict[str, str] = {}  # callback query id -> the answer's text
        self.menu: list[dict[str, str]] = []
        self._shown: list[tuple[str, str]] = []  # (chat, text as the phone shows it) per accepted sendMessage
        self.webhook_url = ""
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 815_000_001
        self._confirmed_below = 0  # every update_id below this was confirmed by an offset
        self._queries: set[str] = set()
        self._chats = {chat_id}
        self._generation = 0
        self._ended = 0  # long polls up to this generation were ended by end_polls()
        self._method_faults: dict[str, deque[Reply]] = {}
        self._hung: set[str] = set()
        self._cond = threading.Condition()
        self.now_s: Callable[[], int] = lambda: int(time.time())  # message dates (tests set their wall clock)

    # --- playing the users ---------------------------------------------------------------------

    def push_message(self, text: str, user_id: int = OWNER_ID, chat_id: int | None = None, chat_type: str = "",
                     date: int | None = None, sender_chat: bool = False, username: str = "ann") -> int:
        """A user sends `text`; returns the update_id. Default: the owner in the configured chat."""
        chat = int(self.chat_id) if chat_id is None else chat_id
        kind = chat_type or ("private" if chat > 0 else "supergroup")
        message: dict[str, Any] = {
            "message_id": self._new_message_id(), "date": self.now_s() if date is None else date,
            "from": {"id": user_id, "is_bot": False, "first_name": username.capitalize(), "username": username},
            "chat": {"id": chat, "type": kind, **({"title": "Ops"} if chat < 0 else {"first_name": "Ann"})},
            "text": text,
        }
        if sender_chat:
            message["sender_chat"] = {"id": chat, "type": kind, "title": "Ops"}
            message["from"] = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
        with self._cond:
            self._chats.add(str(chat))
        return self._push({"message": message})

    def press(self, data: str, message_id: int, user_id: int = OWNER_ID, chat_id: int | None = None) -> int:
        """A user presses an inline button of the bot's message; returns the update_id."""
        chat = int(self.chat_id) if chat_id is None else chat_id
        with self._cond:
            sent = self.messages.get((str(chat), message_id))
            query_id = f"43821{self._next_update_id}"
            self._queries.add(query_id)
        message = {"message_id": message_id, "date": 1_767_225_660,
                   "from": {"id": self.bot_id, "is_bot": True, "first_name": "perp-bot", "username": self.username},
                   "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
                   "text": (sent or {}).get("text", "")}
        return self._push({"callback_query": {"id": query_id, "chat_instance": "-7312445501829301234", "data": data,
                                              "from": {"id": user_id, "is_bot": False, "first_name": "User"},
                                              "message": message}})

    def _push(self, content: dict[str, Any]) -> int:
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append({"update_id": update_id, **content})
            self._cond.notify_all()
        return update_id

    def _new_message_id(self) -> int:
        with self._cond:
            self._message_id += 1
            return self._message_id

    # --- steering and reading ------------------------------------------------------------------

    def fail_method(self, method: str, status: int, description: str, count: int = 1, **parameters: Any) -> None:
        """Answer the next `count` calls of `method` with this Bot API error."""
        with self._cond:
            self._method_faults.setdefault(method.lower(), deque()).extend([_error(status, description, **parameters)] * count)

    def hang(self, *methods: str) -> None:
        """Hold every answer of these methods until `release()` (or the server closes)."""
        with self._cond:
            self._hung.update(m.lower() for m in methods)

    def release(self) -> None:
        with self._cond:
            self._hung.clear()
            self._cond.notify_all()

    def end_polls(self) -> None:
        """End the open long polls now with an empty answer (as when their timeout runs out): a
        test's teardown need not wait for them."""
        with self._cond:
            self._generation += 1
            self._ended = self._generation
            self._cond.notify_all()

    def confirmed(self, update_id: int) -> bool:
        """True once a getUpdates asked for an offset above `update_id` (the bot is done with it)."""
        with self._cond:
            return self._confirmed_below > update_id

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """sendMessage bodies the fake accepted (alerts included), optionally for one chat."""
        with self._cond:
            return [b for m, b in self.calls if m == "sendmessage" and (chat_id is None or str(b.get("chat_id")) == str(chat_id))]

    def shown(self, chat_id: int | str) -> list[str]:
        """The texts of the accepted sendMessages to one chat, as the phone shows them (markup parsed)."""
        with self._cond:
            return [text for chat, text in self._shown if chat == str(chat_id)]

    def method_calls(self, method: str) -> list[dict[str, Any]]:
        with self._cond:
            return [b for m, b in self.calls if m == method.lower()]

    # --- the methods ---------------------------------------------------------------------------

    def route(self, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        prefix = f"/bot{self.token}/"
        if not path.startswith("/bot"):
            return _error(404, "Not Found")
        if not path.startswith(prefix):
            return _error(401, "Unauthorized")
        method = path[len(prefix):].lower()  # method names are case-insensitive
        params = body if isinstance(body, dict) else {}
        with self._cond:
            self.calls.append((method, params))
            faults = self._method_faults.get(method)
            if faults:
                return faults.popleft()
            while method in self._hung and not self._closing.is_set():
                self._cond.wait(0.05)
        handler = {"getme": self._get_me, "getupdates": self._get_updates, "sendmessage": self._send_message,
                   "editmessagetext": self._edit_message_text, "answercallbackquery": self._answer_callback_query,
                   "setmycommands": self._set_my_commands, "deletewebhook": self._delete_webhook}.get(method)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return handler(params)

    def _get_me(self, params: dict[str, Any]) -> Reply:
        return _ok({"id": self.bot_id, "is_bot": True, "first_name": "perp-bot", "username": self.username,
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False})

    def _get_updates(self, params: dict[str, Any]) -> Reply:
        offset, timeout, limit = params.get("offset"), params.get("timeout", 0), params.get("limit", 100)
        if offset is not None and not isinstance(offset, int) or not isinstance(timeout, int) or timeout < 0:
            return _error(400, "Bad Request: wrong parameter type")
        with self._cond:
            if self.webhook_url:
                return _error(409, "Conflict: can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
            self.offsets.append(offset)
            if isinstance(params.get("allowed_updates"), list):
                self.allowed_updates = list(params["allowed_updates"])  # the server keeps it for later calls
            if isinstance(offset, int) and offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                self._confirmed_below = max(self._confirmed_below, offset)
            self._generation += 1
            mine = self._generation
            deadline = time.monotonic() + timeout
            while True:
                ready = [u for u in self._updates if self._wanted(u)][:limit]
                if ready:
                    return _ok(ready)
                if mine < self._ended:
                    return _ok([])
                if mine != self._generation:
                    return _error(409, "Conflict: terminated by other getUpdates request; make sure that only one "
                                       "bot instance is running")
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing.is_set():
                    return _ok([])
                self._cond.wait(min(remaining, 0.05))

    def _wanted(self, update: dict[str, Any]) -> bool:
        kinds = self.allowed_updates
        return not kinds or any(k in update for k in kinds)

    def _send_message(self, body: dict[str, Any]) -> Reply:
        chat = str(body.get("chat_id", ""))
        if chat not in self._chats:
            return _error(400, "Bad Request: chat not found")
        shown, problem = self._shown_text(body)
        if problem:
            return problem
        problem = self._check_keyboard(body.get("reply_markup"))
        if problem:
            return problem
        message = {"message_id": self._new_message_id(), "date": self.now_s(),
                   "from": {"id": self.bot_id, "is_bot": True, "first_name": "perp-bot", "username": self.username},
                   "chat": {"id": int(chat), "type": "private" if int(chat) > 0 else "supergroup"}, "text": shown}
        with self._cond:
            self.messages[(chat, message["message_id"])] = {**message, "reply_markup": body.get("reply_markup")}
            self._shown.append((chat, shown))
        self._accept(body)
        return _ok(message)

    def _shown_text(self, body: dict[str, Any]) -> tuple[str, Reply | None]:
        text = body.get("text") or ""
        mode = body.get("parse_mode")
        shown = parse_html(text) if mode == "HTML" else text if not mode else None
        if shown is None:
            return "", _error(400, "Bad Request: can't parse entities: unsupported start tag or unescaped character")
        if not shown.strip():
            return "", _error(400, "Bad Request: message text is empty")
        if len(shown) > self.MAX_TEXT:
            return "", _error(400, "Bad Request: message is too long")
        return shown, None

    def _check_keyboard(self, markup: Any) -> Reply | None:
        if markup is None:
            return None
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list):
            return _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for button in (b for row in rows for b in row):
            data = button.get("callback_data", "")
            if not button.get("text") or not 1 <= len(data.encode()) <= 64:
                return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        return None

    def _edit_message_text(self, body: dict[str, Any]) -> Reply:
        key = (str(body.get("chat_id", "")), body.get("message_id"))
        with self._cond:
            message = self.messages.get(key)
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        shown, problem = self._shown_text(body)
        if problem:
            return problem
        problem = self._check_keyboard(body.get("reply_markup"))
        if problem:
            return problem
        if shown == message["text"] and body.get("reply_markup") == message.get("reply_markup"):
            return _error(400, "Bad Request: message is not modified: specified new message content and reply markup "
                               "are exactly the same as a current content and reply markup of the message")
        with self._cond:
            message.update(text=shown, reply_markup=body.get("reply_markup"))
        return _ok(message)

    def _answer_callback_query(self, body: dict[str, Any]) -> Reply:
        query_id = body.get("callback_query_id")
        with self._cond:
            if query_id not in self._queries:
                return _error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            self._queries.discard(query_id)
            self.answers[query_id] = str(body.get("text") or "")
        return _ok(True)

    def _set_my_commands(self, body: dict[str, Any]) -> Reply:
        commands = body.get("commands")
        if not isinstance(commands, list) or len(commands) > 100 or not all(
                re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))) and 1 <= len(c.get("description", "")) <= 256
                for c in commands):
            return _error(400, "Bad Request: BOT_COMMAND_INVALID")
        with self._cond:
            self.menu = list(commands)
        return _ok(True)

    def _delete_webhook(self, body: dict[str, Any]) -> Reply:
        with self._cond:
            self.webhook_url = ""
        return _ok(True)
