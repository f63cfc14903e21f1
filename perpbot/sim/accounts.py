"""Provides the simulator's account views: well-formed answers for users with no activity.

The /info handlers ask an `AccountBook` for everything user-specific. `EmptyAccounts` answers
as the exchange does for an address that never traded; the order-matching simulator (issue 9)
plugs in a book with real margin, positions, orders and fills behind the same methods.
"""

from __future__ import annotations

from typing import Any, Protocol

_ZERO_SUMMARY = {"accountValue": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0", "totalMarginUsed": "0.0"}


class AccountBook(Protocol):
    """User-specific /info answers as JSON-ready objects (numbers as strings where the exchange uses them)."""

    def clearinghouse_state(self, user: str, now_ms: int) -> dict[str, Any]: ...

    def open_orders(self, user: str) -> list[dict[str, Any]]: ...

    def frontend_open_orders(self, user: str) -> list[dict[str, Any]]: ...

    def user_fills(self, user: str) -> list[dict[str, Any]]: ...

    def user_fills_by_time(self, user: str, start_ms: int, end_ms: int | None) -> list[dict[str, Any]]: ...

    def order_status(self, user: str, oid: int | str) -> dict[str, Any]: ...

    def user_role(self, user: str) -> dict[str, Any]: ...


class EmptyAccounts:
    """Every user is unknown to the exchange: no margin, positions, orders or fills."""

    def clearinghouse_state(self, user: str, now_ms: int) -> dict[str, Any]:
        return {
            "marginSummary": dict(_ZERO_SUMMARY),
            "crossMarginSummary": dict(_ZERO_SUMMARY),
            "crossMaintenanceMarginUsed": "0.0",
            "withdrawable": "0.0",
            "assetPositions": [],
            "time": now_ms,
        }

    def open_orders(self, user: str) -> list[dict[str, Any]]:
        return []

    def frontend_open_orders(self, user: str) -> list[dict[str, Any]]:
        return []

    def user_fills(self, user: str) -> list[dict[str, Any]]:
        return []

    def user_fills_by_time(self, user: str, start_ms: int, end_ms: int | None) -> list[dict[str, Any]]:
        return []

    def order_status(self, user: str, oid: int | str) -> dict[str, Any]:
        return {"status": "unknownOid"}

    def user_role(self, user: str) -> dict[str, Any]:
        return {"role": "missing"}
