"""Provides the simulator's user and trade streams: orderUpdates, userFills, userEvents, userFundings, trades, webData2.

`StreamLog` listens to the ledger and keeps, per user, a numbered log of what each stream
sends (built when it happens, so a later status change cannot rewrite an earlier update), and
per coin the public trades (every taker fill, plus a synthetic market trade each simulated
second somebody watches). A WebSocket session keeps a cursor per subscription and sends what
is new; `userFills` and `userFundings` open with an `isSnapshot: true` batch, as the exchange's
do on every (re)subscription. The snapshot subscriptions (webData2, clearinghouseState,
spotState, activeAssetCtx) are rebuilt and sent once a second.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from perpbot.sim.assets import fmt_num
from perpbot.sim.ledger import Ledger, SimOrder
from perpbot.sim.model import coin_key

USER_STREAMS = ("orderUpdates", "userFills", "userEvents", "userFundings", "webData2", "clearinghouseState",
                "spotState")
SNAPSHOT_FILLS = 2000
KEPT = 5_000  # entries kept per log (older ones are only in /info)
_EXCHANGE_CANCELS = ("scheduledCancel", "liquidatedCanceled", "marginCanceled")
_MARKET = "0x" + "5e" * 20  # the counterparty of every simulated trade


def _hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def order_update(order: SimOrder) -> dict[str, Any]:
    body: dict[str, Any] = {"coin": order.coin, "side": "B" if order.is_buy else "A", "limitPx": fmt_num(order.limit_px),
                            "sz": fmt_num(order.sz), "oid": order.oid, "timestamp": order.timestamp,
                            "origSz": fmt_num(order.orig_sz)}
    if order.cloid:
        body["cloid"] = order.cloid
    return {"order": body, "status": order.status, "statusTimestamp": order.status_ts}


class StreamLog:
    """What the user and trade streams send, numbered; thread-safe; `wake` is called after each append."""

    def __init__(self, ledger: Ledger, seed: int) -> None:
        self.ledger, self.seed = ledger, seed
        self.users: dict[str, list[tuple[int, str, Any]]] = {}  # user -> [(seq, kind, payload)]
        self.trades: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # coin -> [(seq, trade)]
        self.seq = 0
        self.lock = threading.Lock()
        self.wake: Callable[[], None] = lambda: None
        self._synthetic_at: dict[str, int] = {}

    def _append_user(self, user: str, kind: str, payload: Any) -> None:
        with self.lock:
            self.seq += 1
            log = self.users.setdefault(user, [])
            log.append((self.seq, kind, payload))
            del log[:-KEPT]

    def _append_trade(self, coin: str, trade: dict[str, Any]) -> None:
        with self.lock:
            self.seq += 1
            log = self.trades.setdefault(coin, [])
            log.append((self.seq, trade))
            del log[:-KEPT]

    def on_event(self, kind: str, user: str, payload: Any) -> None:
        if kind == "order":
            self._append_user(user, "order", order_update(payload))
            if payload.status in _EXCHANGE_CANCELS:
                self._append_user(user, "nonUserCancel", {"coin": payload.coin, "oid": payload.oid})
        elif kind == "fill":
            self._append_user(user, "fill", dict(payload))
            if payload["crossed"]:
                buyer, seller = (user, _MARKET) if payload["side"] == "B" else (_MARKET, user)
                self._append_trade(payload["coin"], {
                    "coin": payload["coin"], "side": payload["side"], "px": payload["px"], "sz": payload["sz"],
                    "hash": payload["hash"], "time": payload["time"], "tid": payload["tid"], "users": [buyer, seller]})
        elif kind in ("funding", "liquidation", "ledger"):
            self._append_user(user, kind, dict(payload))
        self.wake()

    def market_trade(self, coin: str, now_ms: int) -> None:
        """A synthetic trade at the mid, at most one per simulated second per coin."""
        second = now_ms // 1000
        if self._synthetic_at.get(coin) == second:
            return
        self._synthetic_at[coin] = second
        market = self.ledger.universe[coin]
        px = market.mid(now_ms)
        key = coin_key(coin) ^ self.seed
        side = "B" if (second * 2654435761 ^ key) % 2 else "A"
        lot = 10.0 ** -market.meta.sz_decimals
        sz = round(max(lot, 2_500.0 / px * (1 + (second * 40503 ^ key) % 7) / 4), market.meta.sz_decimals)
        tid = 10**14 + int(_hash("trade", coin, second, self.seed)[2:15], 16) % (2**53 - 10**14)
        self._append_trade(coin, {"coin": coin, "side": side, "px": fmt_num(px), "sz": fmt_num(sz),
                                  "hash": _hash("trade", coin, second), "time": now_ms, "tid": tid,
                                  "users": [_MARKET, _MARKET]})

    def user_since(self, user: str, cursor: int) -> list[tuple[int, str, Any]]:
        with self.lock:
            return [e for e in self.users.get(user, []) if e[0] > cursor]

    def trades_since(self, coin: str, cursor: int) -> list[tuple[int, dict[str, Any]]]:
        with self.lock:
            return [e for e in self.trades.get(coin, []) if e[0] > cursor]


def user_messages(user: str, stream: str, entries: list[tuple[int, str, Any]]) -> list[tuple[str, Any]]:
    """(channel, data) messages a user stream sends for new log entries."""
    if stream == "orderUpdates":
        updates = [p for _, k, p in entries if k == "order"]
        return [("orderUpdates", updates)] if updates else []
    if stream == "userFills":
        fills = [p for _, k, p in entries if k == "fill"]
        return [("userFills", {"user": user, "fills": fills})] if fills else []
    if stream == "userFundings":
        fundings = [_funding(p) for _, k, p in entries if k == "funding"]
        return [("userFundings", {"user": user, "fundings": fundings})] if fundings else []
    if stream == "userEvents":
        out: list[tuple[str, Any]] = []
        fills = [p for _, k, p in entries if k == "fill"]
        if fills:
            out.append(("user", {"fills": fills}))
        out += [("user", {"funding": _funding(p)}) for _, k, p in entries if k == "funding"]
        out += [("user", {"liquidation": _liquidation(user, p)}) for _, k, p in entries if k == "liquidation"]
        cancels = [p for _, k, p in entries if k == "nonUserCancel"]
        if cancels:
            out.append(("user", {"nonUserCancel": cancels}))
        return out
    return []


def _funding(p: dict[str, Any]) -> dict[str, Any]:
    return {"time": p["time"], "coin": p["coin"], "usdc": p["usdc"], "szi": p["szi"], "fundingRate": p["fundingRate"],
            "nSamples": None}


def _liquidation(user: str, p: dict[str, Any]) -> dict[str, Any]:
    return {"lid": int(_hash("lid", user, p["time"])[2:13], 16), "liquidator": _MARKET, "liquidated_user": user,
            "liquidated_ntl_pos": p["liquidatedNtlPos"], "liquidated_account_value": p["accountValue"]}


def snapshot(user: str, stream: str, ledger: Ledger, fundings: list[dict[str, Any]]) -> tuple[str, Any] | None:
    """The isSnapshot message a stream opens with, or None for streams without one."""
    if stream == "userFills":
        account = ledger.accounts.get(user)
        fills = list(reversed(account.fills[-SNAPSHOT_FILLS:])) if account else []
        return "userFills", {"isSnapshot": True, "user": user, "fills": fills}
    if stream == "userFundings":
        rows = [{"time": r["time"], **{k: r["delta"][k] for k in ("coin", "usdc", "szi", "fundingRate", "nSamples")}}
                for r in fundings]
        return "userFundings", {"isSnapshot": True, "user": user, "fundings": rows}
    return None


def web_data2(user: str, state: dict[str, Any], open_orders: list[dict[str, Any]], meta: dict[str, Any],
              ctxs: list[dict[str, Any]], spot: dict[str, Any], spot_ctxs: list[dict[str, Any]], agent: str | None,
              now: int) -> dict[str, Any]:
    return {"clearinghouseState": state, "leadingVaults": [], "totalVaultEquity": "0.0", "openOrders": open_orders,
            "agentAddress": agent, "agentValidUntil": None if agent is None else now + 180 * 86_400_000,
            "cumLedger": state["marginSummary"]["accountValue"], "meta": meta, "assetCtxs": ctxs, "serverTime": now,
            "isVault": False, "user": user, "twapStates": [], "spotState": spot, "spotAssetCtxs": spot_ctxs}
