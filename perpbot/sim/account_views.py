"""Provides the account /info answers (clearinghouseState, open orders, fills, orderStatus) from the ledger.

Shapes follow the exchange (numbers as strings, times as epoch-ms ints); an address with no
account gets the same answers as `EmptyAccounts` gives. Callers hold the ledger's lock.
"""

from __future__ import annotations

from typing import Any

from perpbot.sim import margin
from perpbot.sim.accounts import EmptyAccounts
from perpbot.sim.assets import fmt_num
from perpbot.sim.ledger import Ledger, SimOrder

MAX_FILLS_PER_RESPONSE = 2000
_EMPTY = EmptyAccounts()


def _usd(x: float) -> str:
    return fmt_num(round(x, 6))


def _position(ledger: Ledger, user: str, coin: str, now_ms: int) -> dict[str, Any] | None:
    pos = ledger.accounts[user].positions.get(coin)
    if pos is None or pos.szi == 0:
        return None
    is_cross, lev = ledger.leverage(user, coin)
    mark = ledger.mark(coin, now_ms)
    upnl = ledger.unrealized(user, coin, now_ms)
    used = ledger.position_margin(user, coin, now_ms)
    if not is_cross:
        used += upnl  # an isolated position's margin moves with its pnl
    leverage: dict[str, Any] = {"type": "cross" if is_cross else "isolated", "value": lev}
    if not is_cross:
        leverage["rawUsd"] = _usd(-pos.szi * pos.entry_px + ledger.position_margin(user, coin, now_ms))
    return {
        "type": "oneWay",
        "position": {
            "coin": coin, "szi": fmt_num(pos.szi), "entryPx": fmt_num(round(pos.entry_px, 8)), "leverage": leverage,
            "liquidationPx": _opt_px(margin.liquidation_px(ledger, user, coin, now_ms)),
            "marginUsed": _usd(used), "positionValue": _usd(abs(pos.szi) * mark),
            "unrealizedPnl": _usd(upnl), "returnOnEquity": _roe(pos.szi, pos.entry_px, upnl, lev),
            "maxLeverage": ledger.max_leverage(coin),
            "cumFunding": {"allTime": _usd(pos.funding), "sinceOpen": _usd(pos.funding), "sinceChange": _usd(pos.funding)},
        },
    }


def clearinghouse_state(ledger: Ledger, user: str, now_ms: int) -> dict[str, Any]:
    if user not in ledger.accounts:
        return _EMPTY.clearinghouse_state(user, now_ms)
    account = ledger.accounts[user]
    positions = [p for p in (_position(ledger, user, c, now_ms) for c in ledger.coins) if p is not None]
    value = ledger.account_value(user, now_ms)
    used = ledger.margin_used(user, now_ms)
    ntl = sum(abs(p.szi) * ledger.mark(c, now_ms) for c, p in account.positions.items())
    raw = account.balance - sum(p.szi * p.entry_px for p in account.positions.values())
    summary = {"accountValue": _usd(value), "totalNtlPos": _usd(ntl), "totalRawUsd": _usd(raw), "totalMarginUsed": _usd(used)}
    return {
        "marginSummary": summary, "crossMarginSummary": _cross_summary(ledger, user, now_ms),
        "crossMaintenanceMarginUsed": _usd(margin.cross_maintenance(ledger, user, now_ms)),
        "withdrawable": _usd(max(0.0, value - used - ledger.order_margin(user))),
        "assetPositions": positions, "time": now_ms,
    }


def _opt_px(px: float | None) -> str | None:
    return None if px is None else fmt_num(round(px, 8))


def _roe(szi: float, entry_px: float, upnl: float, leverage: int) -> str:
    """Unrealized pnl over the margin the entry needed at this leverage (the exchange's returnOnEquity)."""
    at_entry = abs(szi) * entry_px / leverage
    return fmt_num(round(upnl / at_entry, 8)) if at_entry else "0.0"


def _cross_summary(ledger: Ledger, user: str, now_ms: int) -> dict[str, str]:
    """crossMarginSummary: the cross positions and the balance outside isolated margins."""
    positions = ledger.accounts[user].positions
    coins = margin.cross_coins(ledger, user)
    ntl = sum(abs(positions[c].szi) * ledger.mark(c, now_ms) for c in coins)
    raw = margin.cross_cash(ledger, user) - sum(positions[c].szi * positions[c].entry_px for c in coins)
    used = sum(ledger.position_margin(user, c, now_ms) for c in coins)
    return {"accountValue": _usd(margin.cross_account_value(ledger, user, now_ms)), "totalNtlPos": _usd(ntl),
            "totalRawUsd": _usd(raw), "totalMarginUsed": _usd(used)}


def _basic(order: SimOrder) -> dict[str, Any]:
    out: dict[str, Any] = {"coin": order.coin, "side": "B" if order.is_buy else "A", "limitPx": fmt_num(order.limit_px),
                           "sz": fmt_num(order.sz), "oid": order.oid, "timestamp": order.timestamp,
                           "origSz": fmt_num(order.orig_sz)}
    if order.cloid:
        out["cloid"] = order.cloid
    return out


def frontend_order(order: SimOrder, children: list[SimOrder] | None = None, position_szi: float = 0.0) -> dict[str, Any]:
    """An order as frontendOpenOrders and orderStatus show it; a normalTpsl parent lists its waiting
    `children` as full objects, and a position TP/SL of size 0 shows the position's size (it follows it)."""
    out = _basic(order)
    if order.position_tpsl and order.orig_sz == 0 and order.status == "open":
        out["sz"] = out["origSz"] = fmt_num(abs(position_szi))
    trigger = order.trigger_px
    if trigger is not None:
        condition = f"Price {'below' if order.fires_on_fall else 'above'} {fmt_num(trigger)}"
    else:
        condition = "N/A"
    out.update({
        "triggerCondition": condition, "isTrigger": trigger is not None,
        "triggerPx": fmt_num(trigger) if trigger is not None else "0.0",
        "children": [frontend_order(c) for c in children or [] if c.status == "open"],
        "isPositionTpsl": order.position_tpsl, "reduceOnly": order.reduce_only, "orderType": order.order_type,
        "tif": order.tif, "cloid": order.cloid,
    })
    return out


def open_orders(ledger: Ledger, user: str) -> list[dict[str, Any]]:
    return [_basic(o) for o in reversed(ledger.open_orders(user))]


def frontend_open_orders(ledger: Ledger, user: str) -> list[dict[str, Any]]:
    """Every open order, TP/SL children both at top level and under their parent."""
    return [_frontend(ledger, o) for o in reversed(ledger.open_orders(user))]


def _frontend(ledger: Ledger, order: SimOrder) -> dict[str, Any]:
    pos = ledger.accounts[order.user].positions.get(order.coin)
    return frontend_order(order, ledger.children_of(order), pos.szi if pos is not None else 0.0)


def user_fills(ledger: Ledger, user: str) -> list[dict[str, Any]]:
    """The most recent fills, newest first."""
    account = ledger.accounts.get(user)
    return [] if account is None else list(reversed(account.fills[-MAX_FILLS_PER_RESPONSE:]))


def user_fills_by_time(ledger: Ledger, user: str, start_ms: int, end_ms: int | None) -> list[dict[str, Any]]:
    """Fills with start <= time <= end, oldest first, at most 2000 from the start."""
    account = ledger.accounts.get(user)
    if account is None:
        return []
    end = end_ms if end_ms is not None else 2**62
    return [f for f in account.fills if start_ms <= f["time"] <= end][:MAX_FILLS_PER_RESPONSE]


def order_status(ledger: Ledger, user: str, oid: int | str) -> dict[str, Any]:
    order = ledger.find(user, oid)
    if order is None:
        return {"status": "unknownOid"}
    return {"status": "order", "order": {"order": _frontend(ledger, order), "status": order.status,
                                         "statusTimestamp": order.status_ts}}
