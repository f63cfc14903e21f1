"""Provides the signed `POST /exchange` transport and the account /info reads live trading needs.

Our own httpx client carries what the SDK's signing module signed. A body is serialized
exactly as the SDK's `requests` call serializes it (`json.dumps` defaults), so the bytes on
the wire are the SDK's. Nothing here retries an action on its own: whether a lost answer means
a lost order is for the caller to find out (by cloid) before it sends anything again. Failures
are told apart by what they mean for that question:
  ActionNotSent        the action certainly did not run (connect error, 429, nonce refused): safe to resend
  ActionOutcomeUnknown it may have been executed (timeout after sending, 5xx, cut connection)
  OrderRejected        the exchange answered with a refusal
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from perpbot.data import records
from perpbot.data.ports import AccountData
from perpbot.data.records import Fill
from perpbot.errors import MalformedResponseError, OrderRejected, TransientExchangeError
from perpbot.execution.live.signing import NonceManager, Signer
from perpbot.models import Side

log = logging.getLogger(__name__)


class ActionNotSent(TransientExchangeError):
    """The action certainly did not reach the exchange; sending it again is safe."""


class ActionOutcomeUnknown(TransientExchangeError):
    """The action may or may not have been executed; look it up before sending anything again."""


def encode_body(action: dict[str, Any], nonce: int, signature: dict[str, Any], vault: str | None = None,
                expires_after: int | None = None) -> bytes:
    """The /exchange body, byte for byte as the SDK sends it (requests' `json=` uses json.dumps defaults)."""
    body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": vault, "expiresAfter": expires_after}
    return json.dumps(body, allow_nan=False).encode()


class ExchangeTransport:
    """Signs and posts L1 actions for one key.

    Args:
        base_url: the exchange (mainnet, testnet or the simulator).
        signer: the key; nonces: its NonceManager.
        is_mainnet: sign for mainnet (source "a") or testnet ("b"); follows exchange.network.
        timeout_s: per-request timeout; a timeout after sending is ActionOutcomeUnknown.
    """

    def __init__(self, base_url: str, signer: Signer, nonces: NonceManager, is_mainnet: bool, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer, self.nonces, self.is_mainnet = signer, nonces, is_mainnet
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout_s),
                                  headers={"Content-Type": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExchangeTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, action: dict[str, Any]) -> dict[str, Any]:
        """Sign `action` with a fresh nonce, post it once, and return the exchange's `response`.

        Raises:
            ActionNotSent, ActionOutcomeUnknown: see the module docstring.
            OrderRejected: {"status": "err"} or a 4xx (the text says why).
        """
        nonce = self.nonces.next()
        payload = encode_body(action, nonce, self.signer.sign(action, nonce, self.is_mainnet))
        kind = str(action.get("type"))
        try:
            response = self._http.post("/exchange", content=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ActionNotSent(f"{kind} action not sent: cannot reach {self.base_url} ({type(exc).__name__})",
                                "check exchange.base_url and the network") from exc
        except httpx.TransportError as exc:
            # Sent (or partly sent) and then the answer was lost: the exchange may have acted on it.
            raise ActionOutcomeUnknown(f"{kind} action to {self.base_url} got no answer ({type(exc).__name__})",
                                       "the bot looks the order up by its client order id before acting again") from exc
        return self._parse(kind, response)

    def _parse(self, kind: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            raise ActionNotSent(f"{kind} action rate-limited (HTTP 429)", "the bot waits and tries again")
        if status >= 500:
            raise ActionOutcomeUnknown(f"{kind} action failed with HTTP {status}", "the exchange may have acted on it")
        if status >= 400:
            raise OrderRejected(f"exchange refused the {kind} action: HTTP {status} {response.text[:200]}",
                                "a bug in how perp-bot builds actions; please report it")
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            # A 200 whose body is garbled: the action ran or not, nobody can tell from this.
            raise ActionOutcomeUnknown(f"{kind} action answered with non-JSON: {response.text[:80]!r}") from exc
        if not isinstance(data, dict) or data.get("status") not in ("ok", "err"):
            raise ActionOutcomeUnknown(f"{kind} action answered with an unexpected body: {response.text[:200]!r}")
        if data["status"] == "err":
            text = str(data.get("response"))
            if text.startswith("Invalid nonce"):
                # Refused before anything ran (e.g. another process used this key): a fresh nonce is safe.
                raise ActionNotSent(f"{kind} action refused: {text}", "is another bot trading with this key?")
            raise OrderRejected(f"exchange refused the {kind} action: {data.get('response')}")
        return data.get("response") or {}


def statuses(response: dict[str, Any]) -> list[Any]:
    """The per-order (or per-cancel) statuses of an ok answer."""
    try:
        out = list(response["data"]["statuses"])
    except (KeyError, TypeError) as exc:
        raise MalformedResponseError(f"answer without statuses: {json.dumps(response)[:200]}") from exc
    if not out:
        raise MalformedResponseError(f"answer with no status: {json.dumps(response)[:200]}")
    return out


# --- account reads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An open order from frontendOpenOrders (what reconciliation needs to judge stops)."""

    symbol: str
    side: Side
    sz: float
    limit_px: float
    oid: int
    cloid: str | None
    is_trigger: bool
    trigger_px: float | None
    reduce_only: bool
    order_type: str
    timestamp: int


    @property
    def is_stop(self) -> bool:
        """A reduce-only stop-loss trigger (a take-profit is not protection)."""
        return self.is_trigger and self.reduce_only and self.order_type.startswith("Stop")


def _parse_orders(data: Any) -> list[ExchangeOrder]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list of orders, got {type(data).__name__}")
    return [ExchangeOrder(str(o["coin"]), Side.LONG if o["side"] == "B" else Side.SHORT, float(o["sz"]),
                          float(o["limitPx"]), int(o["oid"]), o.get("cloid"), bool(o.get("isTrigger")),
                          float(o["triggerPx"]) if o.get("isTrigger") else None, bool(o.get("reduceOnly")),
                          str(o.get("orderType", "")), int(o["timestamp"])) for o in data]


def frontend_open_orders(client: AccountData, user: str) -> list[ExchangeOrder]:
    """The account's open orders (TP/SL children of a resting parent included, once, at top level)."""
    return client.post_info({"type": "frontendOpenOrders", "user": user}, _parse_orders)


FILLS_PER_ANSWER = 2000  # userFillsByTime returns at most this many, oldest first


def user_fills_by_time(client: AccountData, user: str, start_ms: int, end_ms: int | None = None) -> list[Fill]:
    """Fills with start_ms <= time (<= end_ms), oldest first, paged past the 2000 an answer holds."""
    out: list[Fill] = []
    cursor = start_ms
    for _ in range(100):
        body: dict[str, Any] = {"type": "userFillsByTime", "user": user, "startTime": cursor}
        if end_ms is not None:
            body["endTime"] = end_ms
        page = client.post_info(body, records.parse_fills)
        out += page
        if len(page) < FILLS_PER_ANSWER or max(f.time for f in page) <= cursor:
            break
        cursor = max(f.time for f in page)  # that millisecond again: its fills are deduplicated by tid
    return list({f.tid: f for f in out}.values())


def _parse_role(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or "role" not in data:
        raise ValueError(f"not a userRole answer: {json.dumps(data)[:200]}")
    return data


def user_role(client: AccountData, address: str) -> dict[str, Any]:
    """The exchange's userRole answer for `address` (a garbled one is retried like any other)."""
    return client.post_info({"type": "userRole", "user": address}, _parse_role)
