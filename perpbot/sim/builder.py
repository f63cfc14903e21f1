"""Provides builder fees: an order action's `builder` ({b: address, f: tenths of a basis point}) checked and charged.

The user must first approve the builder (`approveBuilderFee`) for at least that fee, or the
whole action is refused. Each fill of such an order then pays `f / 100000` of its notional
on top of the exchange fee, shown as `builderFee` on the fill (the exchange omits the key when
there is no builder fee).
"""

from __future__ import annotations

from typing import Any

from perpbot.sim.assets import fmt_num
from perpbot.sim.extras import Extras
from perpbot.sim.ledger import Ledger, SimOrder
from perpbot.sim.orders import WireError

_TENTHS_BP = 100_000  # f = 10 means 1 basis point


class BuilderFees:
    """Ledger listener and pre-check; set `current` around an order action's dispatch."""

    def __init__(self, ledger: Ledger, extras: Extras) -> None:
        self.ledger, self.extras = ledger, extras
        self.current: tuple[str, int] | None = None  # (builder, f) of the action being dispatched
        self.by_oid: dict[int, tuple[str, int]] = {}

    def check(self, user: str, action: dict[str, Any]) -> str | None:
        """None if the action's builder (if any) is approved, else the error text; remembers it for the fills."""
        self.current = None
        builder = action.get("builder")
        if builder is None or action.get("type") not in ("order", "batchModify", "modify"):
            return None
        if not isinstance(builder, dict) or not isinstance(builder.get("b"), str) or \
                isinstance(builder.get("f"), bool) or not isinstance(builder.get("f"), int):
            raise WireError("action.builder: expected {b: address, f: u64}")
        address, fee = builder["b"].lower(), builder["f"]
        approved = self.extras.of(user).builder_fees.get(address)
        if approved is None or fee > approved:
            return "Builder fee has not been approved."  # the simulator's wording (unverified)
        self.current = (address, fee)
        return None

    def on_event(self, kind: str, user: str, payload: Any) -> None:
        if kind == "order" and isinstance(payload, SimOrder) and self.current and payload.status == "open":
            self.by_oid.setdefault(payload.oid, self.current)
        elif kind == "fill":
            entry = self.by_oid.get(payload["oid"])
            if entry is not None and entry[1] > 0:
                fee = round(float(payload["px"]) * float(payload["sz"]) * entry[1] / _TENTHS_BP, 6)
                self.ledger.accounts[user].balance -= fee
                payload["builderFee"] = fmt_num(fee)
