"""Provides order wire parsing and validation with the exchange's price, size and value rules.

A body whose shape the exchange could not deserialize raises `WireError` (HTTP 422); a
well-formed order the exchange refuses raises `OrderError` with the exchange's text, which
ends in " asset=N" as live order errors do. Rules (Hyperliquid's docs): sizes carry at most
szDecimals decimals; prices at most 5 significant figures and 6 - szDecimals decimals,
integers always allowed; an order must be worth $10 unless it is reduce-only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MIN_ORDER_USD = 10.0
_SIG_FIGS = 5
_PERP_DECIMALS = 6
_CLOID = re.compile(r"^0x[0-9a-fA-F]{32}$")
_TIFS = ("Alo", "Ioc", "Gtc")
DESERIALIZE = "Failed to deserialize the JSON body into the target type: "


class WireError(Exception):
    """The exchange could not deserialize the body (HTTP 422 with this text)."""

    def __init__(self, detail: str) -> None:
        super().__init__(DESERIALIZE + detail)
        self.text = DESERIALIZE + detail


class OrderError(Exception):
    """One order refused; `status` is what orderStatus reports for it afterwards."""

    def __init__(self, text: str, status: str = "rejected") -> None:
        super().__init__(text)
        self.text, self.status = text, status


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """A well-formed order wire, numbers parsed (rules not yet checked)."""

    asset: int
    coin: str
    is_buy: bool
    px: float
    sz: float
    reduce_only: bool
    tif: str | None
    trigger_px: float | None
    is_market: bool
    tpsl: str | None
    cloid: str | None
    px_text: str
    sz_text: str
    trigger_text: str | None

    @property
    def is_trigger(self) -> bool:
        return self.trigger_px is not None


def _typed(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise WireError(f"{where}: missing field `{key}`")
    value = obj[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok or (kind is int and value < 0):
        raise WireError(f"{where}.{key}: invalid type: {value!r}")
    return value


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise WireError(f"{where}: invalid float string {text!r}") from None
    if not value.is_finite():
        raise WireError(f"{where}: invalid float string {text!r}")
    return value


def _order_type(t: Any, where: str) -> tuple[str | None, str | None, bool, str | None]:
    """(tif, trigger text, is_market, tpsl) from the wire's "t"."""
    if not isinstance(t, dict) or len(t) != 1:
        raise WireError(f"{where}.t: expected exactly one of `limit`, `trigger`")
    if "limit" in t:
        tif = _typed(t["limit"] if isinstance(t["limit"], dict) else {}, "tif", str, f"{where}.t.limit")
        if tif not in _TIFS:
            raise WireError(f"{where}.t.limit.tif: unknown variant `{tif}`, expected one of `Alo`, `Ioc`, `Gtc`")
        return tif, None, False, None
    if "trigger" in t and isinstance(t["trigger"], dict):
        trig = t["trigger"]
        is_market = _typed(trig, "isMarket", bool, f"{where}.t.trigger")
        text = _typed(trig, "triggerPx", str, f"{where}.t.trigger")
        tpsl = _typed(trig, "tpsl", str, f"{where}.t.trigger")
        if tpsl not in ("tp", "sl"):
            raise WireError(f"{where}.t.trigger.tpsl: unknown variant `{tpsl}`, expected `tp` or `sl`")
        return None, text, is_market, tpsl
    raise WireError(f"{where}.t: unknown variant, expected `limit` or `trigger`")


def parse_order(wire: Any, coins: list[str], where: str = "orders") -> OrderSpec:
    """An order wire {a, b, p, s, r, t, c?} as an OrderSpec.

    Raises:
        WireError: a missing or mistyped field (the whole action is refused with a 422).
        OrderError: an asset the exchange does not list.
    """
    if not isinstance(wire, dict):
        raise WireError(f"{where}: invalid type, expected struct OrderWire")
    asset = _typed(wire, "a", int, where)
    is_buy = _typed(wire, "b", bool, where)
    px_text = _typed(wire, "p", str, where)
    sz_text = _typed(wire, "s", str, where)
    reduce_only = _typed(wire, "r", bool, where)
    tif, trigger_text, is_market, tpsl = _order_type(wire.get("t"), where)
    cloid = wire.get("c")
    if cloid is not None and (not isinstance(cloid, str) or not _CLOID.match(cloid)):
        raise WireError(f"{where}.c: invalid cloid {cloid!r}, expected 0x and 32 hex digits")
    px, sz = _decimal(px_text, f"{where}.p"), _decimal(sz_text, f"{where}.s")
    trigger = _decimal(trigger_text, f"{where}.t.trigger.triggerPx") if trigger_text is not None else None
    if asset >= len(coins):
        # The simulator's wording (unverified): the exchange's text for an unlisted asset is not on record.
        raise OrderError(f"Invalid asset. asset={asset}")
    return OrderSpec(asset, coins[asset], is_buy, float(px), float(sz), reduce_only, tif,
                     float(trigger) if trigger is not None else None, is_market, tpsl,
                     cloid.lower() if cloid else None, px_text, sz_text, trigger_text)


def _price_problem(text: str, sz_decimals: int) -> str | None:
    """Why a price string breaks the perp price rules, or None if it is valid."""
    value = Decimal(text)
    if value <= 0:
        return "invalid"
    norm = value.normalize()
    if norm == norm.to_integral_value():
        return None  # integer prices are always allowed
    exponent = int(norm.as_tuple().exponent)
    if -exponent > _PERP_DECIMALS - sz_decimals:
        return "invalid"
    if len(norm.as_tuple().digits) > _SIG_FIGS:
        return "tick"
    return None


def check_rules(spec: OrderSpec, sz_decimals: int, zero_size: bool = False) -> None:
    """Raise OrderError if the order breaks a size, price or minimum-value rule (`zero_size`: a
    position TP/SL, whose size "0" means the whole position)."""
    tag = f" asset={spec.asset}"
    size = Decimal(spec.sz_text)
    if zero_size and size == 0:
        return _check_prices(spec, sz_decimals, tag)
    if size <= 0 or -int(size.normalize().as_tuple().exponent) > sz_decimals:
        raise OrderError("Order has invalid size." + tag)
    _check_prices(spec, sz_decimals, tag)
    if not spec.reduce_only and spec.px * spec.sz < MIN_ORDER_USD:
        raise OrderError(f"Order must have minimum value of ${MIN_ORDER_USD:g}." + tag, "minTradeNtlRejected")


def _check_prices(spec: OrderSpec, sz_decimals: int, tag: str) -> None:
    problem = _price_problem(spec.px_text, sz_decimals)
    if problem == "invalid":
        raise OrderError("Order has invalid price." + tag)
    if problem == "tick":
        raise OrderError("Price must be divisible by tick size." + tag, "tickRejected")
    if spec.trigger_text is not None and _price_problem(spec.trigger_text, sz_decimals) is not None:
        raise OrderError("Invalid TP/SL price." + tag, "badTriggerPxRejected")
