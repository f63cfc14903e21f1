"""Provides the /exchange extensions the core handler calls: extra actions, builder fees and halted coins.

`ExchangeApi` (perpbot.sim.exchange) stays the place for signatures, nonces, orders and
cancels; it asks this object about every action kind it does not know (`kinds`), lets it
answer refused kinds before any signature work (`early`), the user-signed kinds (`user_signed`)
and wraps its own dispatch with `run`, which checks a builder fee and refuses orders in a
coin a scenario has halted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from perpbot.sim.actions import L1_ACTIONS, USER_SIGNED, ExtraActions, err, kinds, pre_signature_refusal
from perpbot.sim.builder import BuilderFees
from perpbot.sim.matching import Matcher
from perpbot.sim.orders import OrderError, parse_order

Dispatch = Callable[[str, dict[str, Any], str, int], dict[str, Any]]
HaltedFn = Callable[[str, int], bool]  # (coin, time) -> halted?


class ExchangeExtensions:
    def __init__(self, actions: ExtraActions, builder: BuilderFees, matcher: Matcher,
                 halted: HaltedFn = lambda coin, t: False) -> None:
        self.actions, self.builder, self.matcher, self.halted = actions, builder, matcher, halted
        self.kinds = kinds()
        self.user_signed_kinds = set(USER_SIGNED)

    def early(self, kind: Any) -> dict[str, Any] | None:
        return pre_signature_refusal(kind)

    def user_signed(self, kind: str, action: dict[str, Any], signature: dict[str, Any], nonce: int,
                    now: int) -> dict[str, Any]:
        return self.actions.user_signed(kind, action, signature, nonce, now)

    def run(self, kind: str, action: dict[str, Any], user: str, now: int, dispatch: Dispatch) -> dict[str, Any]:
        """Run one signed, admitted action: ours, or the core dispatch with builder and halt checks around it."""
        if kind in L1_ACTIONS:
            return self.actions.dispatch(kind, action, user, now)
        problem = self.builder.check(user, action)
        if problem:
            return err(problem)
        try:
            if kind == "order" and self._any_halted(action, now):
                return self._orders_with_halts(action, user, now)
            return dispatch(kind, action, user, now)
        finally:
            self.builder.current = None

    def _any_halted(self, action: dict[str, Any], now: int) -> bool:
        coins = self.matcher.ledger.coins
        orders = action.get("orders")
        return isinstance(orders, list) and any(
            isinstance(o, dict) and isinstance(o.get("a"), int) and 0 <= o["a"] < len(coins)
            and self.halted(coins[o["a"]], now) for o in orders)

    def _orders_with_halts(self, action: dict[str, Any], user: str, now: int) -> dict[str, Any]:
        coins = self.matcher.ledger.coins
        statuses: list[Any] = []
        for i, wire in enumerate(action["orders"]):
            try:
                spec = parse_order(wire, coins, f"action.orders[{i}]")
            except OrderError as exc:
                statuses.append({"error": exc.text})
                continue
            if self.halted(spec.coin, now):
                # The simulator's wording (unverified): what a halted asset answers is not on record.
                statuses.append({"error": f"Trading is halted for {spec.coin}. asset={spec.asset}"})
            else:
                statuses.append(self.matcher.place(user, spec, now))
        return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
