"""Provides the WebSocket feed's wire format: Hyperliquid's frames read into what the feed acts on.

Every frame is classified once here (mids, a post answer, a pong, an error, or something malformed
that the feed logs and skips), so data/ws_client.py deals only in prices and answers.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from perpbot.data.records import CandleRow

SUBSCRIBE = json.dumps({"method": "subscribe", "subscription": {"type": "allMids"}})
PING = json.dumps({"method": "ping"})
ACCOUNT_CHANNELS = ("userFills", "orderUpdates")  # the user streams the live trader books from


def account_subscriptions(user: str) -> list[str]:
    """The subscribe frames of the account's user streams (sent again on every connection)."""
    return [json.dumps({"method": "subscribe", "subscription": {"type": kind, "user": user}})
            for kind in ACCOUNT_CHANNELS]


def candle_subscriptions(coins: list[str], interval: str) -> list[str]:
    """The subscribe frames of each coin's `candle` stream at `interval` (sent again on every connection)."""
    return [json.dumps({"method": "subscribe", "subscription": {"type": "candle", "coin": coin, "interval": interval}})
            for coin in coins]

_GREETING = "Websocket connection established."  # plain text the exchange sends on connect


def parse_message(message: str | bytes) -> tuple[str, Any]:
    """Classify one frame: ("allMids", {coin: raw mid}), ("candle", a WsCandle), ("post", (id, data, error or
    None)), ("account", (channel, data)) for a user stream,
    ("pong"|"ack"|"greeting"|"other", None), ("error", data), or ("malformed", the text)."""
    try:
        text = message.decode() if isinstance(message, bytes) else message
        msg = json.loads(text)
    except ValueError:  # UnicodeDecodeError included
        if message == _GREETING:
            return "greeting", None
        return "malformed", message
    if not isinstance(msg, dict):
        return "malformed", text
    channel = msg.get("channel")
    if channel == "allMids":
        data = msg.get("data")
        mids = data.get("mids") if isinstance(data, dict) else None
        return ("allMids", mids) if isinstance(mids, dict) else ("malformed", text)
    if channel == "candle":
        row = parse_candle(msg.get("data"))
        return ("candle", row) if row is not None else ("malformed", text)
    if channel == "post":
        return "post", _post_answer(msg.get("data"))
    if channel in ACCOUNT_CHANNELS:
        return "account", (channel, msg.get("data"))
    if channel == "pong":
        return "pong", None
    if channel == "subscriptionResponse":
        return "ack", None
    if channel == "error":
        return "error", msg.get("data")
    return "other", None


def _post_answer(data: Any) -> tuple[Any, Any, str | None]:
    """(id, info data, error) of a post answer: {"id", "response": {"type": "info", "payload": {"type", "data"}}},
    or {"type": "error", "payload": "why"}."""
    if not isinstance(data, dict):
        return None, None, "a malformed post answer"
    response = data.get("response")
    post_id = data.get("id")
    if not isinstance(response, dict):
        return post_id, None, "a malformed post answer"
    if response.get("type") == "error":
        return post_id, None, f"the exchange refused the post: {str(response.get('payload'))[:200]}"
    payload = response.get("payload")
    if response.get("type") != "info" or not isinstance(payload, dict) or "data" not in payload:
        return post_id, None, "a malformed post answer"
    return post_id, payload["data"], None


def parse_price(raw: Any) -> float | None:
    """A positive finite price from a wire value ("97000.5" or a number), else None."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


class WsCandle(NamedTuple):
    """One `candle` push: the bar's open and close times and its row as the store keeps it (the
    `candleSnapshot` answer's reading, data/records.py parse_candle_page, so both store the same bits)."""

    coin: str
    interval: str
    t: int
    close_t: int
    row: CandleRow


def parse_candle(data: Any) -> WsCandle | None:
    """A `candle` push's data ({"t", "T", "s", "i", "o", "c", "h", "l", "v", "n"}), or None if malformed."""
    if not isinstance(data, dict):
        return None
    try:
        coin, interval = data["s"], data["i"]
        t, close_t = int(data["t"]), int(data["T"])
        row = (coin, interval, t, float(data["o"]), float(data["h"]), float(data["l"]), float(data["c"]),
               float(data["v"]), int(data["n"]))
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(coin, str) or not isinstance(interval, str) or close_t < t:
        return None
    return WsCandle(coin, interval, t, close_t, row)
