"""Provides client order ids: a pure function of what an order is for, so sending it again (a retry,
a restart) names the same order; live and paper trading both derive theirs here.
"""

from __future__ import annotations

import hashlib
import secrets

CLOID_TAG = "7062"  # "pb": the first two bytes of every cloid perp-bot makes


INSTANCE_HEX = 6  # then 3 bytes naming the bot instance (its database) that sent the order


def derive_cloid(*parts: object, instance: str | None = None) -> str:
    """A client order id ("0x" + 32 hex) that is a pure function of what the order is for.

    It starts with CLOID_TAG so reconciliation can tell the bot's orders from others on the account;
    live orders then carry the sending instance's id (`instance`, 6 hex digits), so two bots on one
    account can tell each other's orders apart. Without `instance` (paper, and live cloids of
    versions before instance ids) the rest is all hash.
    """
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    if instance is None:
        return "0x" + CLOID_TAG + digest[:28]
    if len(instance) != INSTANCE_HEX or not all(c in "0123456789abcdef" for c in instance):
        raise ValueError(f"instance id must be {INSTANCE_HEX} lower-case hex digits (got {instance!r})")
    return "0x" + CLOID_TAG + instance + digest[: 28 - INSTANCE_HEX]


def is_own_cloid(cloid: str | None) -> bool:
    return bool(cloid) and str(cloid).lower().startswith("0x" + CLOID_TAG)


def cloid_instance(cloid: str | None) -> str | None:
    """The instance id a perp-bot cloid carries (None for another app's order or no cloid)."""
    if not is_own_cloid(cloid):
        return None
    return str(cloid).lower()[2 + len(CLOID_TAG): 2 + len(CLOID_TAG) + INSTANCE_HEX]


def new_instance_id() -> str:
    """A fresh random instance id (3 bytes: two bots share one by chance once in 16 million)."""
    return secrets.token_hex(INSTANCE_HEX // 2)
