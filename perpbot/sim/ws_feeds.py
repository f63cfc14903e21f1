"""Provides what the WebSocket sessions need from the exchange side: the stream log, account snapshots, actions.

One object handed to `WsHub`, so the socket code knows nothing of ledgers and matchers: it
replays the market to now (`sync`, which lets a stop fire and stream out while nobody polls),
builds the per-second snapshots (webData2, clearinghouseState, spotState, activeAssetCtx) and
runs an action posted over the socket through the same handler as `POST /exchange`.
"""

from __future__ import annotations

import json
from typing import Any

from perpbot.sim import account_views as views
from perpbot.sim.assets import fmt_num
from perpbot.sim.exchange import ExchangeApi
from perpbot.sim.history import History
from perpbot.sim.info import InfoApi
from perpbot.sim.info_market import spot_ctxs
from perpbot.sim.orders import WireError
from perpbot.sim.ws_user import StreamLog, snapshot, web_data2


class Feeds:
    def __init__(self, exchange: ExchangeApi, info: InfoApi, history: History, log: StreamLog) -> None:
        self.exchange, self.info, self.history, self.log = exchange, info, history, log
        self.ledger = exchange.ledger

    def sync(self, now: int) -> None:
        with self.ledger.lock:
            self.ledger.universe.ensure(now)
            self.exchange.matcher.advance(now)

    def snapshot(self, user: str, stream: str) -> tuple[str, Any] | None:
        with self.ledger.lock:
            return snapshot(user, stream, self.ledger, list(self.history.of(user).fundings))

    def periodic(self, key: tuple[str, ...], now: int) -> tuple[str, Any] | None:
        """The once-a-second message of a snapshot subscription."""
        kind = key[0]
        if kind == "activeAssetCtx":
            coin = key[1]
            return "activeAssetCtx", {"coin": coin, "ctx": self.info.asset_ctx(self.info.universe[coin], now)}
        if kind == "bbo":
            book = self.info.l2_book_obj(key[1], now) or {"levels": [[], []]}
            return "bbo", {"coin": key[1], "time": now, "bbo": [side[0] if side else None for side in book["levels"]]}
        if kind == "activeAssetData":
            return "activeAssetData", self._asset_data(key[1], key[2], now)
        user = key[1]
        with self.ledger.lock:
            state = views.clearinghouse_state(self.ledger, user, now)
            account = self.ledger.accounts.get(user)
            spot = {"balances": [] if account is None else [
                {"coin": "USDC", "token": 0, "hold": "0.0", "total": fmt_num(round(account.spot_usdc, 8)), "entryNtl": "0.0"}]}
            if kind == "clearinghouseState":
                return "clearinghouseState", {"dex": "", "user": user, "clearinghouseState": state}
            if kind == "spotState":
                return "spotState", {"user": user, "spotState": spot}
            orders = views.frontend_open_orders(self.ledger, user)
            agent = next((a for a, (owner, _) in self.ledger.agents.items() if owner == user), None)
        ctxs = [self.info.asset_ctx(m, now) for m in self.info.universe.coins.values()]
        return "webData2", web_data2(user, state, orders, self.info.meta_obj(), ctxs, spot, spot_ctxs(), agent, now)

    def _asset_data(self, coin: str, user: str, now: int) -> dict[str, Any]:
        with self.ledger.lock:
            if user not in self.ledger.accounts:
                return {"user": user, "coin": coin, "leverage": {"type": "cross", "value": 1},
                        "maxTradeSzs": ["0.0", "0.0"], "availableToTrade": ["0.0", "0.0"], "markPx": "0.0"}
            is_cross, lev = self.ledger.leverage(user, coin)
            free = max(0.0, self.ledger.free_margin(user, now))
            mark = self.ledger.mark(coin, now)
            size = round(free * lev / mark, self.ledger.sz_decimals(coin))
        return {"user": user, "coin": coin, "leverage": {"type": "cross" if is_cross else "isolated", "value": lev},
                "maxTradeSzs": [fmt_num(size)] * 2, "availableToTrade": [fmt_num(round(free * lev, 2))] * 2,
                "markPx": fmt_num(mark)}

    def action(self, body: Any) -> tuple[str, Any]:
        """("action", the /exchange answer) or ("error", text) for a body the exchange cannot deserialize."""
        try:
            return "action", self.exchange.handle(body)
        except WireError as exc:
            return "error", exc.text


def compact(obj: Any) -> str:
    """JSON as the exchange sends it on the socket: no spaces."""
    return json.dumps(obj, separators=(",", ":"))
