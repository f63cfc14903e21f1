"""Provides the alert channels: Discord's execute-webhook and Telegram's sendMessage over httpx.

Each channel posts one message and classifies the service's answer into a `Delivery` (sent,
retry after N seconds, retry with backoff, or give up). Nothing here raises for network or
HTTP failures, and the URL and token never reach a `Delivery.detail` or a repr.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

REDACTED = "[REDACTED]"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by [REDACTED]."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one attempt to post a message came to."""

    ok: bool
    status: int | None  # HTTP status; None when no response came (timeout, refused connection)
    retry: bool  # worth another attempt
    retry_after_s: float | None = None  # the server's own wait (429)
    detail: str = ""  # safe to log: never holds the URL or the token


class Channel(ABC):
    """One destination. Subclasses post a message and judge the service's answer."""

    name = ""
    max_chars = 2000

    @abstractmethod
    def secrets(self) -> list[str]:
        """The values that must never be logged (URL, token)."""

    @abstractmethod
    def post(self, client: httpx.Client, text: str) -> httpx.Response:
        """Send `text` (already cut to max_chars)."""

    @abstractmethod
    def judge(self, response: httpx.Response) -> Delivery:
        """Turn the service's answer into a Delivery."""

    def deliver(self, client: httpx.Client, text: str) -> Delivery:
        """Post once and classify the outcome; never raises for network or HTTP failures."""
        if len(text) > self.max_chars:
            text = text[: self.max_chars - 1] + "…"
        try:
            response = self.post(client, text)
        except httpx.TimeoutException as exc:
            return Delivery(False, None, True, detail=f"timed out ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Delivery(False, None, True, detail=scrub(f"{type(exc).__name__}: {exc}", self.secrets()))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # A malformed URL or a broken response will not get better by retrying.
            return Delivery(False, None, False, detail=scrub(f"{type(exc).__name__}: {exc}", self.secrets()))
        return self.judge(response)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"  # the URL and token stay out of reprs and tracebacks


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}  # e.g. an HTML error page from a proxy
    return body if isinstance(body, dict) else {}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class DiscordChannel(Channel):
    """Discord's "execute webhook": POST {content} to the webhook URL, 204 on success."""

    name = "discord"
    max_chars = 2000

    def __init__(self, webhook_url: str) -> None:
        self._url = webhook_url

    def secrets(self) -> list[str]:
        # The token is the URL's last path segment; hide it on its own as well.
        return [self._url, self._url.rstrip("/").rsplit("/", 1)[-1]]

    def post(self, client: httpx.Client, text: str) -> httpx.Response:
        # allowed_mentions: a symbol or reason text must never ping @everyone.
        return client.post(self._url, json={"content": text, "allowed_mentions": {"parse": []}})

    def judge(self, response: httpx.Response) -> Delivery:
        status = response.status_code
        if status in (200, 204):
            return Delivery(True, status, False)
        body = _json(response)
        detail = scrub(str(body.get("message") or response.reason_phrase), self.secrets())
        if status == 429:
            # The body's retry_after (seconds, fractional) is finer than the header's.
            wait = _number(body.get("retry_after"))
            if wait is None:
                wait = _number(response.headers.get("Retry-After"))
            scope = "global" if body.get("global") else "route"
            return Delivery(False, status, True, wait, f"rate limited ({scope}): {detail}")
        if status >= 500:
            return Delivery(False, status, True, detail=detail)
        code = body.get("code")
        return Delivery(False, status, False, detail=f"{detail} (code {code})" if code is not None else detail)


class TelegramChannel(Channel):
    """Telegram Bot API sendMessage: POST {chat_id, text} to <base>/bot<token>/sendMessage."""

    name = "telegram"
    max_chars = 4096

    def __init__(self, api_url: str, token: str, chat_id: str) -> None:
        self._url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self._token = token
        self._chat_id = chat_id

    def secrets(self) -> list[str]:
        return [self._token]

    def post(self, client: httpx.Client, text: str) -> httpx.Response:
        # Plain text (no parse_mode): symbols and reasons need no Markdown escaping.
        return client.post(self._url, json={"chat_id": self._chat_id, "text": text})

    def judge(self, response: httpx.Response) -> Delivery:
        status = response.status_code
        body = _json(response)
        if status == 200 and body.get("ok") is True:
            return Delivery(True, status, False)
        detail = scrub(str(body.get("description") or response.reason_phrase), self.secrets())
        if status == 429:
            params = body.get("parameters")
            wait = _number(params.get("retry_after")) if isinstance(params, dict) else None
            if wait is None:
                wait = _number(response.headers.get("Retry-After"))
            return Delivery(False, status, True, wait, detail)
        return Delivery(False, status, status >= 500, detail=detail)
