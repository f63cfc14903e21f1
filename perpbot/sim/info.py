"""Provides the simulator's `POST /info` handlers, answering with the exchange's JSON shapes and caps.

Each handler takes the decoded body and returns the response as JSON text. A body the exchange
could not deserialize raises `InfoError` with its status and text (HTTP 422 and the exchange's
"Failed to deserialize the JSON body into the target type: ..." for bad shapes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from perpbot.clock import Clock
from perpbot.sim.accounts import AccountBook, EmptyAccounts
from perpbot.sim.assets import fmt_fixed, fmt_num, round_px_one, tick_size
from perpbot.sim.margin import margin_tables, table_for
from perpbot.sim.market import INTERVALS, Row, SymbolMarket
from perpbot.sim.model import coin_key
from perpbot.sim.universe import Universe
from perpbot.sim.wire import candles_json

CANDLES_PER_RESPONSE = 5000
FUNDING_PER_RESPONSE = 500
BOOK_LEVELS = 20
_DESERIALIZE = "Failed to deserialize the JSON body into the target type: "
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_CLOID = re.compile(r"^0x[0-9a-fA-F]{32}$")


class InfoError(Exception):
    """A request the exchange refuses: answer `status` with `text`."""

    def __init__(self, status: int, text: str, content_type: str = "text/plain") -> None:
        super().__init__(text)
        self.status, self.text, self.content_type = status, text, content_type


def bad_body(detail: str) -> InfoError:
    return InfoError(422, _DESERIALIZE + detail)


def body_field(body: dict[str, Any], name: str, kind: type, optional: bool = False) -> Any:
    """body[name] checked like serde would: missing and wrongly typed fields are 422s."""
    if name not in body or (optional and body[name] is None):
        if optional:
            return None
        raise bad_body(f"missing field `{name}`")
    value = body[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64):
        raise bad_body(f"{name}: invalid value: {json.dumps(value)}, expected u64")
    if kind is str and not isinstance(value, str):
        raise bad_body(f"{name}: invalid type: {json.dumps(value)}, expected a string")
    return value


def body_user(body: dict[str, Any]) -> str:
    user = body_field(body, "user", str)
    if not _ADDRESS.match(user):
        raise bad_body(f"user: invalid address {user!r}, expected 0x followed by 40 hex digits")
    return user.lower()


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def candle_rows_json(coin: str, interval: str, cols: list[np.ndarray]) -> list[str]:
    """Candles as JSON objects with the exchange's key order; cols are t, T, o, h, l, c, v, n."""
    t, close_t, *values, n = cols
    lists: list[list[Any]] = [x.tolist() for x in values]
    if any(bool(np.any((x != 0) & (np.abs(x) < 1e-4))) for x in values):
        lists = [[fmt_num(x) for x in col] for col in lists]  # repr would write "1e-05"
    o, h, lo, c, v = lists
    head = f',"s":"{coin}","i":"{interval}","o":"'
    return [
        f'{{"t":{a},"T":{b}{head}{oo}","c":"{cc}","h":"{hh}","l":"{ll}","v":"{vv}","n":{nn}}}'
        for a, b, oo, hh, ll, cc, vv, nn in zip(t.tolist(), close_t.tolist(), o, h, lo, c, v, n.tolist())
    ]


class InfoApi:
    """Answers /info bodies from the universe at the clock's current time."""

    def __init__(self, universe: Universe, clock: Clock, candle_limit: int, seed: int,
                 accounts: AccountBook | None = None,
                 extra: dict[str, Callable[[dict[str, Any], int], str]] | None = None) -> None:
        self.universe, self.clock, self.candle_limit, self.seed = universe, clock, candle_limit, seed
        self.accounts: AccountBook = accounts or EmptyAccounts()
        self._handlers: dict[str, Callable[[dict[str, Any], int], str]] = {
            "meta": self._meta,
            "spotMeta": lambda body, now: '{"universe":[],"tokens":[]}',
            "metaAndAssetCtxs": self._meta_and_ctxs,
            "allMids": self._all_mids,
            "candleSnapshot": self._candles,
            "fundingHistory": self._funding,
            "l2Book": self._l2_book,
            "clearinghouseState": lambda b, now: dumps(self.accounts.clearinghouse_state(body_user(b), now)),
            "openOrders": lambda b, now: dumps(self.accounts.open_orders(body_user(b))),
            "frontendOpenOrders": lambda b, now: dumps(self.accounts.frontend_open_orders(body_user(b))),
            "userFills": lambda b, now: dumps(self.accounts.user_fills(body_user(b))),
            "userFillsByTime": self._fills_by_time,
            "orderStatus": self._order_status,
            "userRole": lambda b, now: dumps(self.accounts.user_role(body_user(b))),
        }
        self._handlers.update(extra or {})  # perpbot.sim.info_account, info_market

    @property
    def request_types(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def handle(self, body: Any) -> str:
        """The JSON text answering one decoded /info body.

        Raises:
            InfoError: the exchange would refuse the body (422) or fail on it (500 "null").
        """
        if not isinstance(body, dict):
            raise bad_body(f"invalid type: {type(body).__name__}, expected internally tagged enum")
        kind = body_field(body, "type", str)
        handler = self._handlers.get(kind)
        if handler is None:
            raise bad_body(f"type: unknown variant `{kind}`, expected one of {', '.join(f'`{k}`' for k in self._handlers)}")
        now = self.clock.now_ms()
        self.universe.ensure(now)
        return handler(body, now)

    # --- market --------------------------------------------------------------------------

    def meta_obj(self) -> dict[str, Any]:
        levs = {name: m.meta.max_leverage for name, m in self.universe.coins.items()}
        universe = [{"szDecimals": m.meta.sz_decimals, "name": name, "maxLeverage": levs[name],
                     "marginTableId": table_for(name, levs[name])[0]} for name, m in self.universe.coins.items()]
        return {"universe": universe, "marginTables": margin_tables(levs), "collateralToken": 0}

    def _meta(self, body: dict[str, Any], now: int) -> str:
        dex = body_field(body, "dex", str, optional=True)
        if dex:
            raise InfoError(500, "null", "application/json")  # the simulator lists only the main dex
        return dumps(self.meta_obj())

    def asset_ctx(self, m: SymbolMarket, now: int) -> dict[str, Any]:
        """One perp's context as metaAndAssetCtxs and the activeAssetCtx stream show it."""
        sz = m.meta.sz_decimals
        mid = m.mid(now)
        rate, premium = m.current_funding(now)
        prev, ntl, base = m.day_stats(now)
        tick = tick_size(mid, sz)
        # Open interest: a steady few hours of volume, so it looks like a live market.
        oi = round(base / 4 + 1_000.0 * 10.0 ** -sz * (coin_key(m.meta.name) % 997), sz)
        return {
            "funding": fmt_fixed(rate, 10), "openInterest": fmt_num(oi), "prevDayPx": fmt_num(prev),
            "dayNtlVlm": fmt_fixed(ntl, 2), "premium": fmt_fixed(premium, 10), "oraclePx": fmt_num(mid),
            "markPx": fmt_num(mid), "midPx": fmt_num(mid),
            "impactPxs": [fmt_num(round_px_one(mid - tick, sz)), fmt_num(round_px_one(mid + tick, sz))],
            "dayBaseVlm": fmt_num(round(base, sz)),
        }

    def _meta_and_ctxs(self, body: dict[str, Any], now: int) -> str:
        return dumps([self.meta_obj(), [self.asset_ctx(m, now) for m in self.universe.coins.values()]])

    def _all_mids(self, body: dict[str, Any], now: int) -> str:
        return dumps({name: fmt_num(px) for name, px in self.universe.mids(now).items()})

    def _market(self, coin: str) -> SymbolMarket | None:
        return self.universe.coins.get(coin)

    def _candles(self, body: dict[str, Any], now: int) -> str:
        req = body_field(body, "req", dict)
        if not isinstance(req, dict):
            raise bad_body("req: invalid type, expected struct CandleSnapshotReq")
        coin = body_field(req, "coin", str)
        interval = body_field(req, "interval", str)
        if interval not in INTERVALS:
            raise bad_body(f"req.interval: unknown variant `{interval}`, expected one of {', '.join(INTERVALS)}")
        start = body_field(req, "startTime", int)
        end = body_field(req, "endTime", int, optional=True)
        market = self._market(coin)
        if market is None:
            return "[]"
        return self.candles_text(market, interval, start, now if end is None else end, now)

    def candle_range(self, market: SymbolMarket, interval: str, start: int, end: int,
                     now: int) -> tuple[list[np.ndarray], Row | None]:
        """The candles with start <= t <= end the exchange would return now: (closed columns, forming bar).

        Available are the most recent `candle_limit` candles (closed ones plus the one
        forming); of those in range, the first 5000 from `start` are returned.
        """
        closed = market.candles(interval)
        k = int(np.searchsorted(closed.close_t, now, side="left"))  # candles with T < now
        forming = market.forming(interval, now)
        total = k + (forming is not None)
        lowest = max(0, total - self.candle_limit) if self.candle_limit else 0
        a = max(lowest, int(np.searchsorted(closed.t, start, side="left")))
        b = max(a, min(k, int(np.searchsorted(closed.t, end, side="right")), a + CANDLES_PER_RESPONSE))
        cols = [closed.t[a:b], closed.close_t[a:b], closed.o[a:b], closed.h[a:b], closed.l[a:b], closed.c[a:b],
                np.round(closed.v[a:b], 8), closed.n[a:b]]
        keep = forming is not None and start <= forming[0] <= end and k >= lowest and b - a < CANDLES_PER_RESPONSE
        return cols, forming if keep else None

    def candle_rows(self, market: SymbolMarket, interval: str, start: int, end: int, now: int) -> list[str]:
        """candle_range as one JSON text per candle (for the socket, which sends them one by one)."""
        cols, forming = self.candle_range(market, interval, start, end, now)
        rows = candle_rows_json(market.meta.name, interval, cols) if len(cols[0]) else []
        if forming is not None:
            rows += candle_rows_json(market.meta.name, interval, [np.array([x]) for x in forming])
        return rows

    def candles_text(self, market: SymbolMarket, interval: str, start: int, end: int, now: int) -> str:
        """candle_range as the JSON array of a candleSnapshot answer, built vectorised."""
        coin = market.meta.name
        cols, forming = self.candle_range(market, interval, start, end, now)
        fast = candles_json(coin, interval, cols)
        parts = [fast.decode("ascii") if fast is not None else ",".join(candle_rows_json(coin, interval, cols))]
        if forming is not None:
            parts += candle_rows_json(coin, interval, [np.array([x]) for x in forming])
        return "[" + ",".join(p for p in parts if p) + "]"

    def forming_candle(self, coin: str, interval: str, now: int) -> Row | None:
        market = self._market(coin)
        return None if market is None else market.forming(interval, now)

    def _funding(self, body: dict[str, Any], now: int) -> str:
        coin = body_field(body, "coin", str)
        start = body_field(body, "startTime", int)
        end = body_field(body, "endTime", int, optional=True)
        market = self._market(coin)
        if market is None:
            raise InfoError(500, "null", "application/json")  # what the exchange answers for an unknown coin
        s = market.funding_slice(start, min(now, end) if end is not None else now, FUNDING_PER_RESPONSE)
        rows = [
            f'{{"coin":"{coin}","fundingRate":"{fmt_fixed(r, 10)}","premium":"{fmt_fixed(p, 10)}","time":{t}}}'
            for t, r, p in zip(market.funding_t[s].tolist(), market.funding_rate[s].tolist(), market.funding_premium[s].tolist())
        ]
        return "[" + ",".join(rows) + "]"

    def l2_book_obj(self, coin: str, now: int) -> dict[str, Any] | None:
        """Synthetic depth around the mid: sizes grow away from it; redrawn every second."""
        market = self._market(coin)
        if market is None:
            return None
        sz_dec = market.meta.sz_decimals
        mid = market.mid(now)
        tick = tick_size(mid, sz_dec)
        spacing = tick * max(1, round(mid * 2e-5 / tick))
        rng = np.random.default_rng([self.seed, coin_key(coin), now // 1000])
        lot = 10.0 ** -sz_dec
        base = max(lot, 20_000.0 / mid)  # about $20k at the touch
        sides = []
        for sign in (-1, 1):
            k = np.arange(BOOK_LEVELS)
            px = [round_px_one(mid + sign * (tick + i * spacing), sz_dec) for i in k.tolist()]
            sz = np.maximum(lot, np.round(base * (1 + 0.35 * k) * rng.uniform(0.5, 1.5, BOOK_LEVELS), sz_dec))
            n = 1 + k // 2 + rng.integers(0, 3, BOOK_LEVELS)
            sides.append([{"px": fmt_num(p), "sz": fmt_num(float(s)), "n": int(c)} for p, s, c in zip(px, sz.tolist(), n.tolist())])
        return {"coin": coin, "time": now, "levels": sides}

    def _l2_book(self, body: dict[str, Any], now: int) -> str:
        return dumps(self.l2_book_obj(body_field(body, "coin", str), now))

    # --- accounts --------------------------------------------------------------------------

    def _fills_by_time(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        start = body_field(body, "startTime", int)
        end = body_field(body, "endTime", int, optional=True)
        return dumps(self.accounts.user_fills_by_time(user, start, end))

    def _order_status(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        oid = body.get("oid")
        if isinstance(oid, bool) or not (isinstance(oid, int) and oid >= 0 or isinstance(oid, str) and _CLOID.match(oid)):
            raise bad_body(f"oid: invalid value {json.dumps(oid)}, expected an order id or a 0x cloid of 32 hex digits")
        return dumps(self.accounts.order_status(user, oid))
