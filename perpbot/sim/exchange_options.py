"""Provides the simulator's account options: `--fund ADDRESS=USD` and `--network`, parsed and checked.

Kept apart from the exchange itself so `SimOptions` can validate them without importing it.
"""

from __future__ import annotations

import math
import re

from perpbot.errors import ConfigError

NETWORKS = ("testnet", "mainnet")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def parse_fund(text: str) -> tuple[str, float]:
    """'0xABC..=10000' -> ('0xabc..', 10000.0).

    Raises:
        ConfigError: not ADDRESS=USD, a malformed address, or an amount that is not > 0.
    """
    address, sep, amount = text.partition("=")
    address = address.strip()
    if not sep or not _ADDRESS.match(address):
        raise ConfigError(f"--fund {text!r} must look like ADDRESS=USD with a 0x address of 40 hex digits",
                          "e.g. --fund 0x1234567890abcdef1234567890abcdef12345678=10000")
    try:
        usd = float(amount)
    except ValueError:
        raise ConfigError(f"--fund {text!r}: {amount!r} is not a number", "e.g. --fund ADDRESS=10000") from None
    if not math.isfinite(usd) or usd <= 0:
        raise ConfigError(f"--fund {text!r}: the amount must be > 0", "e.g. --fund ADDRESS=10000")
    return address.lower(), usd


def parse_agent(text: str) -> tuple[str, str]:
    """'0xACCOUNT=0xAGENT' -> (account, agent), both lower case.

    Raises:
        ConfigError: not two 0x addresses joined by "=".
    """
    account, sep, agent = (part.strip() for part in text.partition("="))
    if not sep or not _ADDRESS.match(account) or not _ADDRESS.match(agent):
        raise ConfigError(f"--agent {text!r} must look like ACCOUNT=AGENT, two 0x addresses of 40 hex digits",
                          "e.g. --agent 0xYourAccount=0xYourApiWallet")
    return account.lower(), agent.lower()


def check_exchange_options(funds: dict[str, float], network: str, agents: dict[str, str] | None = None) -> None:
    """Raise ConfigError for a bad network, funding entry or agent (whose account must be funded)."""
    if network not in NETWORKS:
        raise ConfigError(f"--network must be testnet or mainnet (got {network!r})",
                          "testnet verifies signatures as the SDK signs for any URL but mainnet's")
    for address, usd in funds.items():
        parse_fund(f"{address}={usd!r}")
    for agent, account in (agents or {}).items():
        parse_agent(f"{account}={agent}")
        if account.lower() not in {a.lower() for a in funds}:
            raise ConfigError(f"--agent {account}={agent}: the account is not funded", f"add --fund {account}=USD")
