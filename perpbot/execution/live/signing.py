"""Provides live trading's signing edge: the key, nonces, exchange rounding, client order ids and action builders.

Signing itself is the official SDK's (`hyperliquid.utils.signing`): wires come from
`order_request_to_order_wire` / `order_wires_to_order_action` (key order matters for the
hash) and signatures from `sign_l1_action`. What lives here is what the SDK leaves to its
caller: a private key that never shows up in a repr, log or error; nonces that only ever grow
per signer, across threads and restarts; and prices and sizes rounded to the asset's rules before
`float_to_wire` sees them. Client order ids are derived in execution/cloids.py (paper uses them too).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

import eth_account
from hyperliquid.utils.signing import (
    OrderType,
    order_request_to_order_wire,
    order_wires_to_order_action,
    sign_l1_action,
)
from hyperliquid.utils.types import Cloid

from perpbot.clock import Clock
from perpbot.errors import ConfigError
from perpbot.execution import fills
from perpbot.risk.state import StatePort

_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


# --- the key ----------------------------------------------------------------------------------


class Signer:
    """A private key that signs L1 actions; only its address is ever shown.

    Raises:
        ConfigError: the text is not a 32-byte hex key (the message never contains it).
    """

    def __init__(self, private_key: str) -> None:
        text = private_key.strip()
        if not _KEY.match(text):
            raise ConfigError("HL_PRIVATE_KEY is not a private key: expected 64 hex digits, optionally after 0x",
                              "put the API wallet's private key in .env next to config.yaml (never the seed phrase)")
        try:
            self._wallet = eth_account.Account.from_key(text if text.startswith("0x") else "0x" + text)
        except ValueError:
            # Out of the curve's range (e.g. all zeros); the library's message would echo the key.
            raise ConfigError("HL_PRIVATE_KEY is not a valid secp256k1 private key",
                              "copy the key again from where the API wallet was created") from None
        self.address: str = self._wallet.address.lower()

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Signer holds a private key and is never pickled")

    def sign(self, action: dict[str, Any], nonce: int, is_mainnet: bool, vault: str | None = None,
             expires_after: int | None = None) -> dict[str, Any]:
        """The {r, s, v} signature of an L1 action, exactly as the SDK makes it."""
        return sign_l1_action(self._wallet, action, vault, nonce, expires_after, is_mainnet)


def check_address(text: str | None, name: str = "HL_ACCOUNT_ADDRESS") -> str | None:
    """A 0x address in lower case (None stays None).

    Raises:
        ConfigError: not 0x followed by 40 hex digits.
    """
    if text is None or not text.strip():
        return None
    if not _ADDRESS.match(text.strip()):
        raise ConfigError(f"{name} must be 0x followed by 40 hex digits (got {_looks_like(text.strip())})",
                          "copy the account's address from the Hyperliquid app")
    return text.strip().lower()


def _looks_like(text: str) -> str:
    """What a malformed value is, without any of its characters (it may be a pasted private key)."""
    if _KEY.match(text):
        return f"a value that looks like a private key ({len(text)} characters): remove it from there at once"
    return f"{len(text)} characters"


def resolve_account(signer_address: str, configured: str | None, role: dict[str, Any], network: str) -> str:
    """The account a key trades for, judged from the key's userRole on the exchange.

    The key may be the account's own key, or an API (agent) wallet the account approved.

    Raises:
        ConfigError: the key is an agent of another account, an unapproved key trades for a
            configured account, or the account does not exist on this network.
    """
    kind = role.get("role")
    if kind == "agent":
        owner = str(role.get("data", {}).get("user", "")).lower()
        if configured is not None and owner != configured:
            raise ConfigError(f"HL_PRIVATE_KEY is an API wallet of {owner}, not of HL_ACCOUNT_ADDRESS {configured}",
                              "set HL_ACCOUNT_ADDRESS to the account that approved this API wallet")
        return owner
    if configured is not None and configured != signer_address:
        raise ConfigError(f"HL_PRIVATE_KEY (address {signer_address}) is neither HL_ACCOUNT_ADDRESS {configured} "
                          f"nor an API wallet it approved on {network}",
                          "approve the API wallet in the Hyperliquid app (More > API), or fix HL_ACCOUNT_ADDRESS")
    if kind != "user":
        raise ConfigError(f"account {signer_address} does not exist on {network} (userRole: {kind})",
                          "deposit USDC first, or set HL_ACCOUNT_ADDRESS if this key is an API wallet")
    return signer_address


# --- nonces -----------------------------------------------------------------------------------


class NonceManager:
    """Nonces that strictly increase per signer, across threads, instances and restarts.

    Each nonce is max(now_ms, last + 1) and is persisted (bot_state key `nonce:<signer>`)
    before it is handed out, so an action sent just before a crash is never signed again
    with the same nonce. Managers of one signer in one process share a lock.

    Args:
        state: durable key/value state (the Store).
        clock: time source; live, the same clock the exchange's nonce window is judged by.
        signer: the signing address.
    """

    _locks: ClassVar[dict[str, threading.Lock]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, state: StatePort, clock: Clock, signer: str) -> None:
        self.state, self.clock, self.signer = state, clock, signer.lower()
        self.key = f"nonce:{self.signer}"
        with NonceManager._registry_lock:
            self._lock = NonceManager._locks.setdefault(self.signer, threading.Lock())

    def next(self) -> int:
        with self._lock:
            last = int(self.state.get_state(self.key, 0) or 0)
            nonce = max(self.clock.now_ms(), last + 1)
            self.state.set_state(self.key, nonce, nonce)
            return nonce


# --- rounding -----------------------------------------------------------------------------------


def round_size(sz: float, sz_decimals: int) -> float:
    """Size rounded down to szDecimals (never more than asked for)."""
    return float(Decimal(repr(sz)).quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_FLOOR))


def price_decimals(px: float, sz_decimals: int) -> int:
    """Decimals a perp price may carry: 5 significant figures, at most 6 - szDecimals (execution/fills.py)."""
    return fills.price_decimals(px, sz_decimals)


def round_price(px: float, sz_decimals: int, direction: int = 0) -> float:
    """Price with at most 5 significant figures and 6 - szDecimals decimals (integers always allowed).

    Args:
        direction: 0 rounds to the nearest valid price, +1 up and -1 down (a limit that must not
            pass a slippage cap rounds back toward the mid).

    Raises:
        ValueError: a price that is not > 0.
    """
    if not px > 0 or not math.isfinite(px):
        raise ValueError(f"price must be a positive number (got {px})")
    mode = {0: ROUND_HALF_EVEN, 1: ROUND_CEILING, -1: ROUND_FLOOR}[direction]
    step = Decimal(1).scaleb(-price_decimals(px, sz_decimals))
    return float(Decimal(repr(px)).quantize(step, rounding=mode))


# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One order to send: rounded already (see round_price / round_size)."""

    asset: int
    is_buy: bool
    sz: float
    limit_px: float
    order_type: OrderType
    reduce_only: bool
    cloid: str | None


def order_action(orders: list[OrderIntent], grouping: str = "na") -> dict[str, Any]:
    """An `order` action built by the SDK's own wire helpers."""
    wires = [order_request_to_order_wire({"coin": "", "is_buy": o.is_buy, "sz": o.sz, "limit_px": o.limit_px,
                                          "order_type": o.order_type, "reduce_only": o.reduce_only,
                                          "cloid": Cloid.from_str(o.cloid) if o.cloid else None}, o.asset)
             for o in orders]
    return order_wires_to_order_action(wires, None, grouping)  # type: ignore[arg-type]


def modify_action(cloid: str, order: OrderIntent) -> dict[str, Any]:
    """A `batchModify` of one order named by its cloid, as the SDK's modify_order builds it (the new
    order keeps the cloid: the exchange cancels the old oid and places the new one under it)."""
    [wire] = order_action([order])["orders"]
    return {"type": "batchModify", "modifies": [{"oid": cloid, "order": wire}]}


def cancel_action(asset: int, oid: int) -> dict[str, Any]:
    return {"type": "cancel", "cancels": [{"a": asset, "o": oid}]}


def cancel_by_cloid_action(asset: int, cloid: str) -> dict[str, Any]:
    return {"type": "cancelByCloid", "cancels": [{"asset": asset, "cloid": cloid}]}


def update_leverage_action(asset: int, leverage: int, is_cross: bool = True) -> dict[str, Any]:
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}
