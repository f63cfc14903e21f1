"""Provides each account's history as the exchange keeps it: funding payments, ledger updates, value over time.

A ledger listener: every "funding" event becomes a `userFunding` row, deposits, class transfers
and liquidations become `userNonFundingLedgerUpdates` rows, and each fill, payment or transfer
adds a point (time, account value, pnl) to the `portfolio` curves. Hashes are deterministic
(from the event), so two runs with one seed answer alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from perpbot.sim.assets import fmt_num
from perpbot.sim.ledger import Ledger

MAX_ROWS = 500  # the exchange's time-range answers hold at most 500 rows (page by the last time + 1)


def event_hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


@dataclass
class UserHistory:
    fundings: list[dict[str, Any]] = field(default_factory=list)  # userFunding rows, oldest first
    updates: list[dict[str, Any]] = field(default_factory=list)  # userNonFundingLedgerUpdates rows
    points: list[tuple[int, float, float, float]] = field(default_factory=list)  # (time, value, pnl, fill volume)
    net_deposits: float = 0.0


class History:
    """Per-user history, fed by the ledger's events (register `on_event` as a listener)."""

    def __init__(self, ledger: Ledger, start_ms: int) -> None:
        self.ledger = ledger
        self.users: dict[str, UserHistory] = {}
        for user, account in ledger.accounts.items():
            self.deposit(user, account.balance, start_ms)

    def of(self, user: str) -> UserHistory:
        return self.users.setdefault(user, UserHistory())

    def deposit(self, user: str, usd: float, time_ms: int) -> None:
        h = self.of(user)
        h.net_deposits += usd
        h.updates.append({"time": time_ms, "hash": event_hash("deposit", user, time_ms, usd),
                          "delta": {"type": "deposit", "usdc": fmt_num(usd)}})
        self._point(user, time_ms, 0.0)

    def class_transfer(self, user: str, usd: float, to_perp: bool, time_ms: int) -> None:
        self.of(user).updates.append({"time": time_ms, "hash": event_hash("class", user, time_ms, usd, to_perp),
                                      "delta": {"type": "accountClassTransfer", "usdc": fmt_num(usd), "toPerp": to_perp}})
        self._point(user, time_ms, 0.0)

    def on_event(self, kind: str, user: str, payload: Any) -> None:
        if kind == "funding":
            self.of(user).fundings.append({
                "time": payload["time"], "hash": event_hash("funding", user, payload["time"], payload["coin"]),
                "delta": {"type": "funding", "coin": payload["coin"], "usdc": payload["usdc"], "szi": payload["szi"],
                          "fundingRate": payload["fundingRate"], "nSamples": None}})
            self._point(user, payload["time"], 0.0)
        elif kind == "fill":
            self._point(user, payload["time"], float(payload["px"]) * float(payload["sz"]))
        elif kind == "liquidation":
            delta = {"type": "liquidation", "liquidatedNtlPos": payload["liquidatedNtlPos"],
                     "accountValue": payload["accountValue"], "leverageType": payload["leverageType"],
                     "liquidatedPositions": payload["liquidatedPositions"]}
            self.of(user).updates.append({"time": payload["time"], "hash": event_hash("liq", user, payload["time"]),
                                          "delta": delta})

    def _point(self, user: str, time_ms: int, volume: float) -> None:
        account = self.ledger.accounts.get(user)
        if account is None:
            return
        h = self.of(user)
        value = self.ledger.account_value(user, time_ms) + account.spot_usdc
        h.points.append((time_ms, value, value - h.net_deposits, volume))


def in_range(rows: list[dict[str, Any]], start_ms: int, end_ms: int | None) -> list[dict[str, Any]]:
    """Rows with start <= time <= end, oldest first, at most MAX_ROWS from the start."""
    end = end_ms if end_ms is not None else 2**63
    return [r for r in rows if start_ms <= r["time"] <= end][:MAX_ROWS]
