"""Provides the Telegram Bot API client: one JSON POST per method, answers turned into results or typed errors.

The bot token sits in the request URL (`<base>/bot<token>/<method>`), so no URL, and no exception
text that could hold one, ever reaches an error message, a log line or a repr: everything that
leaves this module is scrubbed of the token. Errors carry a `kind` that tells the poller what
to do next (retry after the server's wait, back off, delete the webhook, give up).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from perpbot.errors import PerpbotError
from perpbot.ops.alert_channels import scrub
from perpbot.ops.alerts import RedactHttpxLog

log = logging.getLogger(__name__)

NETWORK = "network"
"""No answer: refused, reset, DNS, or the read timed out. Back off and retry."""
RATE_LIMITED = "rate_limited"
"""429: wait `retry_after_s`, then retry the same request."""
SERVER = "server"
"""5xx, or an answer that is not the Bot API's JSON (a proxy's page). Back off and retry."""
CONFLICT = "conflict"
"""409 from another process polling with the same token. Back off; alert when it lasts."""
WEBHOOK = "webhook"
"""409 because a webhook is set on the token: getUpdates works only after deleteWebhook."""
UNAUTHORIZED = "unauthorized"
"""401 (or 404 on getMe/getUpdates): the token is wrong or revoked. Back off long; a human must act."""
BAD_REQUEST = "bad_request"
"""Any other 4xx: this request will not get better by repeating it."""

ALLOWED_UPDATES = ["message", "callback_query"]
"""Asked for explicitly: the server otherwise keeps whatever an earlier client set."""


class BotApiError(PerpbotError):
    """A Bot API call that did not succeed; the message never holds the token.

    Args:
        kind: one of the module's kinds (NETWORK, RATE_LIMITED, ...).
        message: what went wrong, safe to log.
        status: the HTTP status, None when no answer came.
        retry_after_s: the server's own wait on a 429.
    """

    def __init__(self, kind: str, message: str, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def not_modified(self) -> bool:
        """editMessageText with the text and keyboard the message already has (harmless)."""
        return self.kind == BAD_REQUEST and "message is not modified" in self.message

    @property
    def bad_markup(self) -> bool:
        """The parse mode rejected the text; resending it as plain text works."""
        return self.kind == BAD_REQUEST and "can't parse entities" in self.message


class BotApi:
    """The calls the controller makes, over one httpx client (use it from one thread).

    Args:
        base_url: alerts.telegram_api_url (https://api.telegram.org, or a loopback fake in tests).
        token: TELEGRAM_BOT_TOKEN.
        timeout_s: per-request timeout; a long poll adds its own wait on top.
    """

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self._token = token
        self._timeout_s = timeout_s
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._log_filter = RedactHttpxLog([token])
        logging.getLogger("httpx").addFilter(self._log_filter)

    def __repr__(self) -> str:
        return "BotApi()"  # the token stays out of reprs and tracebacks

    def close(self) -> None:
        self._client.close()
        logging.getLogger("httpx").removeFilter(self._log_filter)

    def call(self, method: str, params: dict[str, Any], wait_s: float = 0.0) -> Any:
        """POST `params` as JSON to `method`; returns the answer's `result`.

        Args:
            wait_s: how long the server may hold the answer (getUpdates' long poll), added to the timeout.

        Raises:
            BotApiError: any failure, classified by kind.
        """
        try:
            response = self._client.post(self._url + method, json=params, timeout=self._timeout_s + wait_s)
        except httpx.TimeoutException as exc:
            raise BotApiError(NETWORK, f"{method} timed out ({type(exc).__name__})") from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise BotApiError(NETWORK, self._safe(f"{method}: {type(exc).__name__}: {exc}")) from None
        return self._judge(method, response)

    def _judge(self, method: str, response: httpx.Response) -> Any:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            kind = SERVER if status >= 500 or status == 200 else BAD_REQUEST
            raise BotApiError(kind, f"{method}: HTTP {status} without the Bot API's JSON", status)
        if status == 200 and body.get("ok") is True:
            return body.get("result")
        description = self._safe(str(body.get("description") or response.reason_phrase))
        message = f"{method}: {status} {description}"
        if status == 429:
            params = body.get("parameters")
            wait = params.get("retry_after") if isinstance(params, dict) else None
            wait = wait if isinstance(wait, (int, float)) and wait >= 0 else response.headers.get("Retry-After")
            raise BotApiError(RATE_LIMITED, message, status, _seconds(wait))
        if status == 409:
            kind = WEBHOOK if "webhook" in description.lower() else CONFLICT
            raise BotApiError(kind, message, status)
        if status >= 500:
            raise BotApiError(SERVER, message, status)
        if status == 401 or (status == 404 and method in ("getMe", "getUpdates")):
            # 401 is a wrong or revoked token, 404 a malformed one; a 403 is about one chat (blocked, left).
            raise BotApiError(UNAUTHORIZED, message, status)
        raise BotApiError(BAD_REQUEST, message, status)

    def _safe(self, text: str) -> str:
        return scrub(text, [self._url, self._token])

    # --- the methods ---------------------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        me = self.call("getMe", {})
        if not isinstance(me, dict):
            raise BotApiError(SERVER, "getMe: the answer is not a User")
        return me

    def get_updates(self, offset: int | None, wait_s: float) -> list[dict[str, Any]]:
        """Long-poll for updates from `offset` on (None: whatever Telegram still holds).

        Args:
            wait_s: the long poll, in whole seconds (at least 1: 0 would be short polling, a busy loop).
        """
        wait_s = max(1, round(wait_s))
        params: dict[str, Any] = {"timeout": wait_s, "allowed_updates": ALLOWED_UPDATES}
        if offset is not None:
            params["offset"] = offset
        updates = self.call("getUpdates", params, wait_s=wait_s)
        if not isinstance(updates, list):
            raise BotApiError(SERVER, "getUpdates: the answer is not a list of updates")
        return [u for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    def send_message(self, chat_id: int | str, text: str, html: bool, keyboard: list[list[dict[str, str]]] | None = None,
                     reply_to: int | None = None) -> int | None:
        """Send one message; returns its message_id."""
        params: dict[str, Any] = {"chat_id": chat_id, "text": text, "link_preview_options": {"is_disabled": True}}
        if html:
            params["parse_mode"] = "HTML"
        if keyboard is not None:
            params["reply_markup"] = {"inline_keyboard": keyboard}
        if reply_to is not None:
            params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        result = self.call("sendMessage", params)
        return result.get("message_id") if isinstance(result, dict) else None

    def edit_message_text(self, chat_id: int | str, message_id: int, text: str, html: bool) -> None:
        """Replace a message's text and drop its inline keyboard."""
        params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text,
                                  "reply_markup": {"inline_keyboard": []}}
        if html:
            params["parse_mode"] = "HTML"
        try:
            self.call("editMessageText", params)
        except BotApiError as exc:
            if not exc.not_modified:
                raise

    def answer_callback_query(self, query_id: str, text: str = "") -> None:
        """Stop the button's progress bar (Telegram shows one until this is called)."""
        params: dict[str, Any] = {"callback_query_id": query_id}
        if text:
            params["text"] = text[:200]
        self.call("answerCallbackQuery", params)

    def delete_webhook(self) -> None:
        self.call("deleteWebhook", {"drop_pending_updates": False})

    def set_my_commands(self, commands: list[tuple[str, str]]) -> None:
        self.call("setMyCommands", {"commands": [{"command": c, "description": d} for c, d in commands]})


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None
